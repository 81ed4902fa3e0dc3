// Lint for the scripts clusterseed sends to hosts: Debian's shellcheck (as POSIX sh, or bash when
// the script says so), plus one check shellcheck does not make: under `set -e`, a failure of any
// command but the last of an `a && b` list does not stop the script, so such a chain lets a
// failed step pass silently (issue 20: INSTALL_SCRIPT "installed" an empty file on a full disk).
import { runCollectSync, type RunResult } from '../../lib/process/index.ts';

export interface Finding {
  code: string;
  line: number;
  message: string;
}

/** Per-script exclusions: a script matching `match` may have these codes, for `reason`. */
export interface Exclusion {
  match: RegExp;
  codes: string[];
  reason: string;
}

/** Fails (never passes) when shellcheck is missing: CI installs it (.ci/run). */
export function requireShellcheck(env: NodeJS.ProcessEnv = process.env): string {
  let r: RunResult | undefined;
  try {
    r = runCollectSync(['shellcheck', '--version'], { env });
  } catch {
    // not installed: the message below
  }
  if (!r || r.code !== 0) {
    throw new Error('shellcheck is not installed (apt-get install shellcheck; .ci/run installs it): the remote scripts cannot be checked');
  }
  return /version:\s*(\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
}

export function shellOf(script: string): 'sh' | 'bash' {
  return /^#!\s*\S*\bbash\b/.test(script) ? 'bash' : 'sh';
}

/** shellcheck findings of one script (every severity, style included). */
export function shellcheck(script: string, exclude: string[] = []): Finding[] {
  const args = ['-s', shellOf(script), '-f', 'json1', ...(exclude.length ? ['-e', exclude.join(',')] : []), '-'];
  const r = runCollectSync(['shellcheck', ...args], { input: script, timeoutMs: 60_000 });
  if (r.timedOut) throw new Error('shellcheck ran longer than 60 s');
  const json = JSON.parse(r.stdout || '{"comments":[]}') as { comments: Array<{ code: number; line: number; message: string }> };
  return json.comments.map((c) => ({ code: `SC${c.code}`, line: c.line, message: c.message }));
}

/** The lines of a script without heredoc bodies and with quoted text blanked (enough for `&&`). */
function codeLines(script: string): string[] {
  const out: string[] = [];
  let heredocEnd: string | undefined;
  for (const raw of script.split('\n')) {
    if (heredocEnd !== undefined) {
      if (raw.trim() === heredocEnd) heredocEnd = undefined;
      out.push('');
      continue;
    }
    const here = /<<-?\s*['"]?(\w+)['"]?/.exec(raw);
    if (here) heredocEnd = here[1];
    out.push(
      raw
        .replace(/'[^']*'/g, "''")
        .replace(/"(?:[^"\\]|\\.)*"/g, '""')
        .replace(/(^|\s)#.*$/, '$1'),
    );
  }
  return out;
}

/** set -e in force: `set -e`, `set -eu`, `set -euo pipefail`, `set -o errexit` */
const SET_E = /^\s*set\s+(-[a-z]*e[a-z]*\b|-o\s+errexit)/m;
/** commands whose failure in `a && b` means "no", not "broken": tests and lookups */
const CONDITION =
  /^(!\s*)?(\[\[?|test|command\s+-v|grep\s+-[a-zA-Z]*q|systemctl\s+(is-active|is-enabled|-q)|getent|id|cmp\s+-s|true|false|:)(\s|$)/;

/**
 * `a && b` lists under set -e whose `a` is a real step (not a test): `a` failing stops nothing.
 * Lists in if/while/until conditions and lists followed by `||` are checked, so they pass.
 */
export function uncheckedAndChains(script: string): Finding[] {
  if (!SET_E.test(script)) return [];
  const findings: Finding[] = [];
  codeLines(script).forEach((line, i) => {
    // statements of the line: split at ; & | ( ) { } and the keywords that start a new one
    for (const stmt of line.split(/;|\bthen\b|\bdo\b|\belse\b|(?<![|&])\|(?![|&])|[{}()]|(?<!&)&(?!&)/)) {
      const s = stmt.trim();
      if (!s.includes('&&') || /\|\|/.test(s) || /^(if|elif|while|until)\b/.test(s)) continue;
      const steps = s.split('&&').map((x) => x.trim());
      const unchecked = steps.slice(0, -1).filter((x) => !CONDITION.test(x));
      if (unchecked.length) {
        findings.push({
          code: 'CS001',
          line: i + 1,
          message: `under set -e a failure of \`${unchecked[0]}\` in \`${s}\` does not stop the script: check each step (\`|| exit N\`) or put them on separate lines`,
        });
      }
    }
  });
  return findings;
}

/** Every finding of one script: shellcheck (minus its exclusions) and the set -e chain check. */
export function lintScript(script: string, exclusions: Exclusion[] = []): Finding[] {
  const excluded = exclusions.filter((e) => e.match.test(script)).flatMap((e) => e.codes);
  return [
    ...shellcheck(
      script,
      excluded.filter((c) => c.startsWith('SC')),
    ),
    ...uncheckedAndChains(script).filter((f) => !excluded.includes(f.code)),
  ];
}

/** Readable report: each failing script (first lines) with its findings; '' when all are clean. */
export function lintReport(scripts: Iterable<string>, exclusions: Exclusion[] = []): { checked: number; report: string } {
  const parts: string[] = [];
  let checked = 0;
  for (const script of new Set(scripts)) {
    checked++;
    const findings = lintScript(script, exclusions);
    if (!findings.length) continue;
    const lines = script.split('\n');
    const shown = findings.map((f) => `  ${f.code} line ${f.line}: ${f.message}\n    > ${(lines[f.line - 1] ?? '').trim().slice(0, 200)}`);
    parts.push(`--- script starting: ${lines.slice(0, 2).join(' | ').slice(0, 160)}\n${shown.join('\n')}`);
  }
  return { checked, report: parts.join('\n') };
}
