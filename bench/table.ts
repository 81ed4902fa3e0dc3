// The benchmark's one table: a row per measurement, clusterseed and Ansible medians, their ratio,
// the goal and whether it is met. Plain text for the terminal, Markdown for bench/README.md.
import { median, ratio } from './stats.ts';

export interface Samples {
  /** seconds of the successful runs */
  seconds: number[];
  /** runs that failed or timed out (not in `seconds`) */
  failed: number;
}

export const noSamples = (): Samples => ({ seconds: [], failed: 0 });

export interface Goal {
  /** e.g. "≤ 0.1 × Ansible" */
  text: string;
  /** the measured value the goal is about (a ratio or seconds); NaN = not measured */
  value: number;
  max: number;
}

export interface Row {
  label: string;
  clusterseed: string;
  ansible: string;
  ratio: string;
  goal: Goal;
}

export const fmtSeconds = (s: number) => (Number.isFinite(s) ? (s >= 10 ? `${s.toFixed(1)} s` : `${s.toFixed(2)} s`) : '—');
export const fmtRatio = (r: number) => (Number.isFinite(r) ? r.toFixed(3) : '—');

/** "12.3 s (n=3)", with failed runs counted apart. */
export function fmtSamples(s: Samples): string {
  if (s.seconds.length === 0) return s.failed ? `failed (${s.failed})` : '—';
  return `${fmtSeconds(median(s.seconds))} (n=${s.seconds.length}${s.failed ? `, ${s.failed} failed` : ''})`;
}

export function met(goal: Goal): string {
  if (!Number.isFinite(goal.value)) return 'not measured';
  return goal.value <= goal.max ? 'yes' : 'NO';
}

/** A row comparing clusterseed with Ansible; the goal is on clusterseed / Ansible. */
export function comparisonRow(label: string, cs: Samples, an: Samples, maxRatio: number): Row {
  const r = ratio(median(cs.seconds), median(an.seconds));
  return {
    label,
    clusterseed: fmtSamples(cs),
    ansible: fmtSamples(an),
    ratio: fmtRatio(r),
    goal: { text: `≤ ${maxRatio} × Ansible`, value: r, max: maxRatio },
  };
}

const HEADERS = ['', 'clusterseed (median)', 'Ansible (median)', 'ratio', 'goal', 'met?'];

function cells(row: Row): string[] {
  return [row.label, row.clusterseed, row.ansible, row.ratio, row.goal.text, met(row.goal)];
}

export function formatText(rows: Row[]): string {
  const all = [HEADERS, ...rows.map(cells)];
  const widths = HEADERS.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

export function formatMarkdown(rows: Row[]): string {
  const line = (r: string[]) => `| ${r.join(' | ')} |`;
  return [line(HEADERS), line(HEADERS.map(() => '---')), ...rows.map((r) => line(cells(r)))].join('\n');
}
