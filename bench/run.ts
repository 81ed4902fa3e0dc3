// `npm run bench` (scripts/bench.mjs): clusterseed against Ansible on the same fresh hosts, and how
// clusterseed's cost grows with the number of hosts. See bench/README.md for what is measured and
// how to read the table.
//
// For every host count and round, each tool gets its OWN fresh lab (nspawn hosts from the test
// harness, python3 added for Ansible's sake, untimed), runs a first converge and then a no-op
// rerun, both timed from process start to exit. The tools alternate which goes first from round
// to round, so that drift in the machine's load does not favour one of them.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseFlags, UsageError } from '../cli/args.ts';
import { checkOutputPath } from '../cli/preflight.ts';
import type { RunReport } from '../lib/runner/types.ts';
import { runCollectSync, runSync } from '../lib/process/index.ts';
import { startK3sMirror, type K3sMirror } from '../test/support/k3s-mirror.ts';
import { runAnsible, writeAnsibleProject } from './ansible.ts';
import { ROOT, runClusterseed, type ToolRun } from './clusterseed.ts';
import { prepareBaseline, type Baseline } from './baseline.ts';
import { startBenchLab, type BenchLab } from './lab.ts';
import { hostsCpuSeconds } from './cpu.ts';
import { timeNoopPairs, type NoopPair } from './noop-pairs.ts';
import { captureState, compareStates, type HostState } from './parity.ts';
import { timeRender, type RenderTiming } from './render.ts';
import { median, ratio } from './stats.ts';
import { comparisonRow, fmtRatio, fmtSeconds, formatMarkdown, formatText, noSamples, type Row, type Samples } from './table.ts';

export const USAGE = `Usage: npm run bench -- [options]      (root; Debian packages: ansible, gcc)

  --rounds N            rounds per host count (default 3); each round = a fresh lab per tool
  --rounds-large N      rounds for host counts above 10 (default: --rounds)
  --sizes LIST          host counts (default 3,30)
  --render N            warm render + validate iterations (default 20; 0 = skip)
  --hosts-off           only the render timing, no hosts
  --timeout S           limit per timed run in seconds (default 300 + 40 s per host)
  --markdown FILE       also write the results as Markdown (for bench/README.md)
  --baseline REF|DIR    also time an older clusterseed (a git ref of this repository, or a checkout
                        with node_modules) in the same rounds, on fresh labs of its own
  --without-ansible     with --baseline: time only the two clusterseeds (no Ansible, no python3
                        setup): the cheap before/after check, e.g. at 30 hosts
  --noop-pairs N        with --baseline: after this checkout's no-op rerun, N more no-op reruns of
                        this checkout and the baseline back to back on the same hosts (default 0)
  --keep                keep the work directory (logs, reports) even when all went well
  -h, --help            this text

Goals: no-op ≤ 0.1 × Ansible, first converge ≤ 0.7 × Ansible, ≤ 1 SSH round trip per role per
host on a no-op run, no-op at the largest count ≤ 3 × the smallest, render + validate ≤ 1 s.`;

type Tool = 'clusterseed' | 'baseline' | 'ansible';
/** the tools that run clusterseed's bench/clusterseed-run.ts (this checkout, the baseline) */
type Clusterseed = Exclude<Tool, 'ansible'>;
type Phase = 'converge' | 'noop';
const PHASES: readonly Phase[] = ['converge', 'noop'];

/** One tool's runs in one round: the seconds of its phases that succeeded, the hosts it left. */
export interface ToolRound {
  seconds: Partial<Record<Phase, number>>;
  /** the first two hosts' state after the runs; none when its lab did not start or could not be read */
  states?: Map<string, HostState>;
}

export interface SizeResults {
  samples: Record<Tool, Record<Phase, Samples>>;
  /** where clusterseed's wall time went (bench/clusterseed-run.ts), to tell start-up from work */
  phases: Record<Clusterseed, Record<Phase, { wall: number; startup: number; inventory: number; runSite: number; runSiteCpu?: number }[]>>;
  /** CPU seconds of each successful run: this machine (the tool) and the test hosts together */
  cpu: Record<Tool, Record<Phase, { wall: number; client: number; hosts: number }[]>>;
  /** per role: SSH round trips of each host in each no-op / converge run (this checkout) */
  roundTrips: Record<Phase, Map<string, number[]>>;
  /** per round: this checkout's seconds ÷ the baseline's (both runs succeeded) */
  paired: Record<Phase, number[]>;
  /** --noop-pairs: no-op reruns of both on this checkout's converged hosts, back to back */
  noopPairs: NoopPair[];
  problems: string[];
  parity: string[];
}

export const newSize = (): SizeResults => ({
  samples: {
    clusterseed: { converge: noSamples(), noop: noSamples() },
    baseline: { converge: noSamples(), noop: noSamples() },
    ansible: { converge: noSamples(), noop: noSamples() },
  },
  phases: { clusterseed: { converge: [], noop: [] }, baseline: { converge: [], noop: [] } },
  cpu: { clusterseed: { converge: [], noop: [] }, baseline: { converge: [], noop: [] }, ansible: { converge: [], noop: [] } },
  roundTrips: { converge: new Map(), noop: new Map() },
  paired: { converge: [], noop: [] },
  noopPairs: [],
  problems: [],
  parity: [],
});

interface Options {
  rounds: number;
  roundsLarge: number;
  sizes: number[];
  renderIterations: number;
  hosts: boolean;
  timeoutS?: number;
  markdown?: string;
  keep: boolean;
  baseline?: string;
  /** false with --without-ansible: only this checkout and the baseline are timed */
  ansible: boolean;
  /** --noop-pairs: no-op pairs (this checkout, baseline) on the same hosts per round */
  noopPairs: number;
}

function positiveInt(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min} (got ${value})`);
  return n;
}

function readOptions(argv: string[]): Options | 'help' {
  const { values } = parseFlags(argv, {
    rounds: { type: 'string' },
    'rounds-large': { type: 'string' },
    sizes: { type: 'string' },
    render: { type: 'string' },
    'hosts-off': { type: 'boolean', default: false },
    timeout: { type: 'string' },
    markdown: { type: 'string' },
    keep: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    'without-ansible': { type: 'boolean', default: false },
    'noop-pairs': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) return 'help';
  const rounds = positiveInt('rounds', values.rounds, 3);
  const sizes = (values.sizes ?? '3,30').split(',').map((s) => positiveInt('sizes', s.trim(), 0, 2));
  if (sizes.some((n) => n > 200)) throw new UsageError('--sizes: at most 200 hosts (the lab network is a /24)');
  return {
    rounds,
    roundsLarge: positiveInt('rounds-large', values['rounds-large'], rounds),
    sizes: [...new Set(sizes)].sort((a, b) => a - b),
    renderIterations: positiveInt('render', values.render, 20, 0),
    hosts: !values['hosts-off'],
    timeoutS: values.timeout === undefined ? undefined : positiveInt('timeout', values.timeout, 0),
    markdown: values.markdown ? path.resolve(values.markdown) : undefined,
    keep: values.keep!,
    baseline: values.baseline,
    ansible: !values['without-ansible'],
    noopPairs: positiveInt('noop-pairs', values['noop-pairs'], 0, 0),
  };
}

function preflight(opts: Options): void {
  // the report is written after the whole benchmark: a path that cannot take it stops it now
  if (opts.markdown) checkOutputPath('--markdown', opts.markdown);
  if (opts.baseline && !opts.hosts) throw new UsageError('--baseline times hosts: it cannot go with --hosts-off');
  if (!opts.ansible && !opts.baseline) throw new UsageError('--without-ansible needs --baseline (else there is nothing to compare)');
  if (opts.noopPairs > 0 && !opts.baseline)
    throw new UsageError('--noop-pairs needs --baseline (a pair is this checkout and the baseline)');
  if (!opts.hosts) return;
  if (process.getuid?.() !== 0) throw new UsageError('the benchmark starts test hosts (containers, network namespaces): run it as root');
  const needed: [string, string][] = opts.ansible
    ? [
        ['ansible-playbook', 'ansible'],
        ['gcc', 'gcc'],
      ]
    : [['gcc', 'gcc']];
  for (const [tool, pkg] of needed) {
    if (runSync(['sh', '-c', `command -v ${tool}`]) !== 0) {
      throw new UsageError(`${tool} is missing: apt-get install ${pkg}`);
    }
  }
}

export function machine(): string {
  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `${cpus.length} CPUs (${cpus[0]?.model ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, load average ${load}, Linux ${os.release()}, Node ${process.version}`;
}

function ansibleVersion(): string {
  try {
    return runCollectSync(['ansible-playbook', '--version']).stdout.split('\n')[0]?.trim() || 'unknown';
  } catch {
    // not installed
    return 'unknown';
  }
}

const toolName = (tool: Tool, baseline?: Baseline) => (tool === 'baseline' ? `baseline ${baseline?.label ?? ''}`.trim() : tool);

/**
 * Which tool goes first in a round: the order rotates from round to round, so that drift in the
 * machine's load does not always favour the same tool.
 */
export function roundOrder(tools: readonly Tool[], round: number): Tool[] {
  const k = (round - 1) % tools.length;
  return [...tools.slice(k), ...tools.slice(0, k)];
}

function recordRoundTrips(into: Map<string, number[]>, report: RunReport): void {
  for (const host of report.hosts) {
    for (const [role, n] of Object.entries(host.roundTripsByRole)) {
      if (role === 'connect') continue;
      const list = into.get(role) ?? [];
      list.push(n);
      into.set(role, list);
    }
    const total = into.get('total') ?? [];
    total.push(host.roundTrips);
    into.set('total', total);
  }
}

export async function benchTool(
  tool: Tool,
  size: number,
  round: number,
  ctx: {
    work: string;
    mirror: K3sMirror;
    timeoutMs: number;
    results: SizeResults;
    log: (s: string) => void;
    baseline?: Baseline;
    /** python3 on the hosts (untimed) when Ansible is one of the tools: every lab of the run alike */
    pythonSetup: boolean;
    /** starts the tool's fresh lab (bench/lab.ts); another one only in tests */
    startLab?: typeof startBenchLab;
    /** --noop-pairs, on this checkout's lab */
    noopPairs?: number;
  },
): Promise<ToolRound> {
  const { results, log } = ctx;
  const dir = path.join(ctx.work, `${size}-hosts-round-${round}-${tool}`);
  mkdirSync(dir, { recursive: true });
  let bench: BenchLab;
  try {
    bench = await (ctx.startLab ?? startBenchLab)(size, 'h', (line) => log(`  ${line}`), { pythonSetup: ctx.pythonSetup });
  } catch (err) {
    // a lab that does not come up is a failed run of this tool (counted, named in the report), not
    // the end of a benchmark that may have run for an hour
    const problem = `its lab did not start: ${(err as Error).message}`;
    for (const phase of PHASES) results.samples[tool][phase].failed++;
    results.problems.push(`${tool} ${PHASES.join(' + ')}, ${size} hosts, round ${round}: ${problem}`);
    log(`  ${toolName(tool, ctx.baseline)}: FAILED: ${problem}`);
    return { seconds: {} };
  }
  const setup = ctx.pythonSetup ? `, python3 for Ansible ${bench.setupSeconds.toFixed(1)} s` : '';
  log(`  ${toolName(tool, ctx.baseline)}: fresh lab of ${size} hosts (start ${bench.startSeconds.toFixed(1)} s${setup}, untimed)`);
  try {
    const ansible = tool === 'ansible' ? writeAnsibleProject(bench.lab, dir) : undefined;
    const netns = bench.lab.hosts.map((h) => h.netns);
    const hostsCpu = () => hostsCpuSeconds(netns);
    const runCs = (cs: Clusterseed, label: string) =>
      runClusterseed({
        root: cs === 'baseline' ? ctx.baseline!.root : undefined,
        inventory: bench.inventory,
        forks: size,
        k3sMirror: ctx.mirror.url,
        k3sCache: path.join(dir, 'k3s-cache'),
        workDir: dir,
        label,
        timeoutMs: ctx.timeoutMs,
        hostsCpu,
      });
    const run = async (phase: Phase): Promise<ToolRun> => {
      if (tool === 'ansible') return runAnsible(ansible!, { label: phase, hosts: size, timeoutMs: ctx.timeoutMs, hostsCpu });
      const cs: Clusterseed = tool;
      const r = await runCs(cs, phase);
      if (r.report && cs === 'clusterseed') recordRoundTrips(results.roundTrips[phase], r.report);
      if (r.phases && r.ok)
        results.phases[cs][phase].push({
          wall: r.seconds,
          startup: r.phases.startup,
          inventory: r.phases.inventory,
          runSite: r.phases.runSite,
          runSiteCpu: r.phases.cpu?.runSite,
        });
      return r;
    };
    const seconds: Partial<Record<Phase, number>> = {};
    for (const phase of PHASES) {
      const r = await run(phase);
      let problem = r.problem;
      if (!problem && phase === 'converge' && r.changedHosts !== size)
        problem = `only ${r.changedHosts} of ${size} hosts changed on a first converge (log: ${r.logFile})`;
      if (!problem && phase === 'noop' && r.changedHosts > 0)
        problem = `the rerun changed ${r.changedHosts} host(s): not a no-op (log: ${r.logFile})`;
      const samples = results.samples[tool][phase];
      if (problem) {
        samples.failed++;
        results.problems.push(`${tool} ${phase}, ${size} hosts, round ${round}: ${problem}`);
      } else {
        samples.seconds.push(r.seconds);
        seconds[phase] = r.seconds;
        results.cpu[tool][phase].push({ wall: r.seconds, client: r.clientCpu, hosts: r.hostsCpu ?? NaN });
      }
      log(
        `  ${toolName(tool, ctx.baseline)} ${phase === 'converge' ? 'first converge' : 'no-op rerun'}: ${fmtSeconds(r.seconds)}${problem ? `  FAILED: ${problem}` : ''}`,
      );
      if (phase === 'converge' && r.problem) break; // a host that did not converge has no no-op to time
    }
    if (tool === 'clusterseed' && ctx.baseline && ctx.noopPairs && seconds.noop !== undefined) {
      const problem = (text: string) => results.problems.push(`${size} hosts, round ${round}: ${text}`);
      results.noopPairs.push(...(await timeNoopPairs(ctx.noopPairs, runCs, problem, log)));
    }
    const states = new Map<string, HostState>();
    const adminKey = readFileSync(`${bench.lab.keyPath}.pub`, 'utf8').trim();
    try {
      for (const host of bench.lab.hosts.slice(0, 2)) states.set(host.name, await captureState(bench.lab, host.name, adminKey));
    } catch (err) {
      // the timings stand; the hosts of this round cannot be compared, which the report says
      results.parity.push(`round ${round}: the hosts of ${toolName(tool, ctx.baseline)} could not be read: ${(err as Error).message}`);
      return { seconds };
    }
    return { states, seconds };
  } finally {
    await bench.lab.stop();
  }
}

function roundTripLines(sizes: number[], all: Map<number, SizeResults>, phase: Phase): string[] {
  const roles = [...new Set(sizes.flatMap((s) => [...all.get(s)!.roundTrips[phase].keys()]))];
  roles.sort((a, b) => (a === 'total' ? 1 : b === 'total' ? -1 : 0));
  const head = ['role', ...sizes.map((s) => `${s} hosts`)];
  const rows = roles.map((role) => [
    role,
    ...sizes.map((s) => {
      const v = all.get(s)!.roundTrips[phase].get(role) ?? [];
      if (!v.length) return '—';
      const lo = Math.min(...v);
      const hi = Math.max(...v);
      return lo === hi ? String(lo) : `${lo}–${hi}`;
    }),
  ]);
  const widths = head.map((_, i) => Math.max(...[head, ...rows].map((r) => r[i].length)));
  return [head, ...rows].map(
    (r) =>
      '  ' +
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
  );
}

function maxNoopRoundTrips(all: Map<number, SizeResults>): number {
  let max = NaN;
  for (const r of all.values()) {
    for (const [role, v] of r.roundTrips.noop) {
      if (role === 'total' || !v.length) continue;
      max = Number.isFinite(max) ? Math.max(max, ...v) : Math.max(...v);
    }
  }
  return max;
}

/** How much slower than the baseline this checkout may be before the row says NO: run-to-run noise. */
export const BASELINE_TOLERANCE = 1.1;

function buildRows(opts: Options, all: Map<number, SizeResults>, render?: RenderTiming, baseline?: Baseline): Row[] {
  const rows: Row[] = [];
  for (const size of opts.hosts ? opts.sizes : []) {
    const r = all.get(size)!;
    if (opts.ansible) {
      rows.push(comparisonRow(`first converge, ${size} hosts`, r.samples.clusterseed.converge, r.samples.ansible.converge, 0.7));
      rows.push(comparisonRow(`no-op rerun, ${size} hosts`, r.samples.clusterseed.noop, r.samples.ansible.noop, 0.1));
    }
    if (baseline) {
      for (const [phase, text, max] of [
        ['converge', 'first converge', 0.7],
        ['noop', 'no-op rerun', 0.1],
      ] as const) {
        if (opts.ansible)
          rows.push(
            comparisonRow(`${text}, ${size} hosts, baseline ${baseline.label}`, r.samples.baseline[phase], r.samples.ansible[phase], max),
          );
        rows.push(baselineRow(`${text}, ${size} hosts: ${opts.ansible ? "ratio ÷ baseline's ratio" : "seconds ÷ baseline's"}`, r, phase));
      }
      if (opts.noopPairs > 0)
        rows.push(noopPairsRow(`no-op rerun, ${size} hosts, same hosts back to back: seconds ÷ baseline's`, r.noopPairs));
    }
  }
  if (opts.hosts && opts.sizes.length > 1) {
    const small = all.get(opts.sizes[0])!;
    const large = all.get(opts.sizes[opts.sizes.length - 1])!;
    const growth = (tool: Tool) => ratio(median(large.samples[tool].noop.seconds), median(small.samples[tool].noop.seconds));
    const cs = growth('clusterseed');
    rows.push({
      label: `no-op ${opts.sizes[opts.sizes.length - 1]} hosts ÷ ${opts.sizes[0]} hosts`,
      clusterseed: `× ${fmtRatio(cs)}`,
      ansible: `× ${fmtRatio(growth('ansible'))}`,
      ratio: '',
      goal: { text: '≤ 3 (clusterseed)', value: cs, max: 3 },
    });
  }
  if (opts.hosts) {
    const rt = maxNoopRoundTrips(all);
    rows.push({
      label: 'SSH round trips per role per host, no-op (max)',
      clusterseed: Number.isFinite(rt) ? String(rt) : '—',
      ansible: '',
      ratio: '',
      goal: { text: '≤ 1', value: rt, max: 1 },
    });
  }
  if (render) {
    rows.push({
      label: `render + validate GitOps repo (inventory.yaml, ${render.files} files)`,
      clusterseed: `${fmtSeconds(render.median)} (n=${render.samples.length}, warm)`,
      ansible: '',
      ratio: '',
      goal: { text: '≤ 1 s', value: render.median, max: 1 },
    });
  }
  return rows;
}

/** The goal of every row comparing this checkout with the baseline. */
const againstBaseline = (value: number): Row['goal'] => ({
  text: `≤ ${BASELINE_TOLERANCE} (no worse than the baseline, within noise)`,
  value,
  max: BASELINE_TOLERANCE,
});

/**
 * This checkout's ratio to Ansible ÷ the baseline's, over the same Ansible samples: the medians of
 * the two clusterseeds compared. Above 1 means slower than before.
 */
export function baselineRow(label: string, r: Pick<SizeResults, 'samples'>, phase: Phase): Row {
  const value = ratio(median(r.samples.clusterseed[phase].seconds), median(r.samples.baseline[phase].seconds));
  return {
    label,
    clusterseed: fmtSeconds(median(r.samples.clusterseed[phase].seconds)),
    ansible: '',
    ratio: `× ${fmtRatio(value)}`,
    goal: againstBaseline(value),
  };
}

/** The median of the pairs' ratios (this checkout ÷ baseline), against the same tolerance. */
export function noopPairsRow(label: string, pairs: readonly NoopPair[]): Row {
  const value = median(pairs.map((p) => ratio(p.clusterseed, p.baseline)));
  return {
    label,
    clusterseed: `${fmtSeconds(median(pairs.map((p) => p.clusterseed)))} (${pairs.length} pairs)`,
    ansible: '',
    ratio: `× ${fmtRatio(value)}`,
    goal: againstBaseline(value),
  };
}

function details(opts: Options, all: Map<number, SizeResults>, render?: RenderTiming, baseline?: Baseline): string[] {
  const out: string[] = [];
  if (opts.hosts) {
    out.push(
      '',
      'SSH round trips per host, no-op rerun (clusterseed JSON report; min–max over hosts and rounds):',
      ...roundTripLines(opts.sizes, all, 'noop'),
    );
    out.push('', 'SSH round trips per host, first converge:', ...roundTripLines(opts.sizes, all, 'converge'));
    out.push(
      '',
      "Where clusterseed's wall time goes (medians): node + tsx start-up and module loading, inventory load (YAML + JSON Schema), runSite (SSH and the roles), exit:",
    );
    for (const size of opts.sizes) {
      const r = all.get(size)!;
      for (const [cs, phase] of (baseline ? (['clusterseed', 'baseline'] as const) : (['clusterseed'] as const)).flatMap((c) =>
        (['converge', 'noop'] as const).map((ph) => [c, ph] as const),
      )) {
        const p = r.phases[cs][phase];
        if (!p.length) continue;
        const m = (f: (x: (typeof p)[number]) => number) => median(p.map(f));
        const cpu = p.every((x) => x.runSiteCpu !== undefined) ? m((x) => x.runSiteCpu!) : undefined;
        const who = cs === 'baseline' ? ` (baseline ${baseline!.label})` : '';
        out.push(
          `  ${size} hosts ${phase === 'noop' ? 'no-op   ' : 'converge'}${who}: wall ${fmtSeconds(m((x) => x.wall))} = start-up ${fmtSeconds(m((x) => x.startup))} + inventory ${fmtSeconds(m((x) => x.inventory))} + runSite ${fmtSeconds(m((x) => x.runSite))} + exit ${fmtSeconds(m((x) => x.wall - x.startup - x.inventory - x.runSite))}` +
            (cpu === undefined ? '' : `; the tool's CPU in runSite ${fmtSeconds(cpu)} (${((1000 * cpu) / size).toFixed(0)} ms per host)`),
        );
      }
    }
    out.push(
      '',
      `CPU seconds per run (medians): on this machine (the tool's processes) and on the test hosts, which share this machine's ${os.cpus().length} cores:`,
    );
    for (const size of opts.sizes) {
      const r = all.get(size)!;
      for (const phase of ['converge', 'noop'] as const) {
        const cell = (tool: Tool) => {
          const c = r.cpu[tool][phase];
          if (!c.length) return `${tool} —`;
          const hosts = median(c.map((x) => x.hosts));
          return `${tool} wall ${fmtSeconds(median(c.map((x) => x.wall)))}, tool ${fmtSeconds(median(c.map((x) => x.client)))}, hosts ${fmtSeconds(hosts)} (${((1000 * hosts) / size).toFixed(0)} ms per host)`;
        };
        out.push(
          `  ${size} hosts ${phase === 'noop' ? 'no-op   ' : 'converge'}: ${cell('clusterseed')}; ${baseline ? `${cell('baseline')}` : ''}${baseline && opts.ansible ? '; ' : ''}${opts.ansible ? cell('ansible') : ''}`,
        );
      }
    }
    if (baseline) {
      out.push('', `This checkout's seconds ÷ baseline ${baseline.label}'s, round by round (fresh labs each, same rounds):`);
      for (const size of opts.sizes) {
        const p = all.get(size)!.paired;
        const list = (v: number[]) => (v.length ? v.map((x) => x.toFixed(2)).join(' ') : '—');
        out.push(`  ${size} hosts: converge ${list(p.converge)}; no-op ${list(p.noop)}`);
      }
      if (opts.noopPairs > 0) {
        out.push(
          '',
          `No-op reruns on this checkout's converged hosts, back to back (seconds: this checkout / baseline, alternating who goes first):`,
        );
        for (const size of opts.sizes) {
          const pairs = all.get(size)!.noopPairs;
          out.push(
            `  ${size} hosts: ${pairs.length ? pairs.map((x) => `${x.clusterseed.toFixed(2)}/${x.baseline.toFixed(2)}`).join(' ') : '—'}`,
          );
        }
      }
    }
    out.push(
      '',
      `Same result (managed files, packages, units, sshd -T, firewall table on h1 and h2, compared between the tools${baseline ? ' and with the baseline' : ''}):`,
    );
    for (const size of opts.sizes) {
      const p = all.get(size)!.parity;
      out.push(`  ${size} hosts: ${p.length === 0 ? 'identical in every round' : p.join('; ')}`);
    }
  }
  if (render)
    out.push(
      '',
      `render + validate: first (cold) call ${fmtSeconds(render.firstSeconds)}; warm samples ${render.samples.map((s) => s.toFixed(3)).join(' ')}`,
    );
  const problems = [...all.values()].flatMap((r) => r.problems);
  if (problems.length) out.push('', 'Runs that failed (not in the medians):', ...problems.map((p) => `  ${p}`));
  return out;
}

/** Every host count and round: each tool on a fresh lab of its own, then the hosts compared. */
async function timeHosts(
  opts: Options,
  all: Map<number, SizeResults>,
  ctx: { work: string; log: (s: string) => void; baseline?: Baseline },
): Promise<void> {
  const { work, log, baseline } = ctx;
  if (opts.ansible)
    log(`${ansibleVersion()}; strategy linear, forks = hosts, pipelining, ControlPersist 60s, facts cached (gathering = smart)`);
  else log('without Ansible: this checkout and the baseline only, on hosts without the python3 setup');
  const mirror = await startK3sMirror({ versions: ['v1.31.4+k3s1'] });
  const tools: Tool[] = [
    ...(['clusterseed'] as const),
    ...(baseline ? (['baseline'] as const) : []),
    ...(opts.ansible ? (['ansible'] as const) : []),
  ];
  try {
    for (const size of opts.sizes) {
      const rounds = size > 10 ? opts.roundsLarge : opts.rounds;
      const timeoutMs = (opts.timeoutS ?? 300 + 40 * size) * 1000;
      const results = all.get(size)!;
      for (let round = 1; round <= rounds; round++) {
        log(`${size} hosts, round ${round}/${rounds}`);
        const runs = new Map<Tool, ToolRound>();
        for (const tool of roundOrder(tools, round))
          runs.set(
            tool,
            await benchTool(tool, size, round, {
              work,
              mirror,
              timeoutMs,
              results,
              log,
              baseline,
              pythonSetup: opts.ansible,
              noopPairs: opts.noopPairs,
            }),
          );
        const ours = runs.get('clusterseed')!;
        for (const other of tools.filter((t) => t !== 'clusterseed')) {
          const theirs = runs.get(other)!.states;
          // a side whose hosts could not be read is reported as such by benchTool
          if (!ours.states || !theirs) continue;
          for (const host of ours.states.keys()) {
            const diff = compareStates(ours.states.get(host)!, theirs.get(host) ?? new Map());
            if (diff.length) {
              results.parity.push(`round ${round} ${host} differs from ${toolName(other, baseline)}: ${diff.join(', ')}`);
              log(`  different results on ${host} (${toolName(other, baseline)}): ${diff.join(', ')}`);
            }
          }
        }
        if (baseline) {
          for (const phase of PHASES) {
            const [a, b] = [ours.seconds[phase], runs.get('baseline')!.seconds[phase]];
            if (a !== undefined && b !== undefined) results.paired[phase].push(a / b);
          }
        }
      }
    }
  } finally {
    await mirror.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  let opts: Options | 'help';
  try {
    opts = readOptions(argv);
    if (opts === 'help') {
      console.log(USAGE);
      return 0;
    }
    preflight(opts);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n\n${USAGE}`);
      return 1;
    }
    throw err;
  }
  const log = (s: string) => console.log(s);
  const startedAt = new Date();
  const machineBefore = machine();
  log(`clusterseed benchmark — ${machineBefore}`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'clusterseed-bench-'));
  let baseline: Baseline | undefined;
  if (opts.baseline) {
    try {
      baseline = await prepareBaseline(opts.baseline, ROOT, work);
    } catch (err) {
      rmSync(work, { recursive: true, force: true });
      if (err instanceof UsageError) {
        console.error(err.message);
        return 1;
      }
      throw err;
    }
    log(`baseline: ${baseline.label} (${baseline.root}), timed in the same rounds as this checkout`);
  }
  const all = new Map<number, SizeResults>(opts.sizes.map((s) => [s, newSize()]));

  let render: RenderTiming | undefined;
  try {
    if (opts.renderIterations > 0) {
      log(`render + validate of inventory.yaml, ${opts.renderIterations} warm iterations`);
      render = await timeRender(opts.renderIterations);
    }
    if (opts.hosts) await timeHosts(opts, all, { work, log, baseline });
  } finally {
    // whatever ended the timing, the baseline's worktree does not outlive the run
    await baseline?.remove();
  }

  const rows = buildRows(opts, all, render, baseline);
  const extra = details(opts, all, render, baseline);
  log('');
  log(formatText(rows));
  for (const line of extra) log(line);
  const machineAfter = machine();
  log('');
  log(`machine at the end: ${machineAfter}`);

  if (opts.markdown) {
    const md = [
      `Measured ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC with \`npm run bench -- ${argv.join(' ')}\`.`,
      `Machine: ${machineBefore} (at the start); load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}.`,
      opts.hosts && opts.ansible ? `Ansible: ${ansibleVersion()}.` : '',
      baseline ? `Baseline: ${baseline.label}, timed in the same rounds on labs of its own.` : '',
      '',
      formatMarkdown(rows),
      '',
      '```',
      ...extra.filter((l, i) => i > 0 || l !== ''),
      '```',
      '',
    ].join('\n');
    writeFileSync(opts.markdown, md);
    log(`Markdown written to ${opts.markdown}`);
  }

  const failed = [...all.values()].some((r) => r.problems.length || r.parity.length);
  if (failed || opts.keep) log(`logs and reports: ${work}`);
  else rmSync(work, { recursive: true, force: true });
  return failed ? 2 : 0;
}
