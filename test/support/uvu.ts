// The project's test API: import `test`/`suite`/`skip` from here, never from 'uvu' (scripts/test.mjs
// refuses a test file that does). It is uvu's, with two things uvu lacks:
// - a time bound on every test and hook, so one hung host or VM test fails (naming itself and its
//   bound) instead of hanging CI. The default depends on the tier folder of the test file
//   (TIER_BOUNDS_S); a test or hook may pass a longer one before its handler:
//   test('…', { timeoutSeconds: 1200 }, async () => …), test.before({ timeoutSeconds: 900 }, …).
// - skip(reason): for a tool the machine lacks. The test counts as skipped, not passed; the reason is
//   printed and scripts/test.mjs lists it (and fails the run under CI=true, where every tool is installed).
// - CLUSTERSEED_TEST_TIME_SCALE multiplies every bound (a slower machine: 2); a test or hook that
//   takes more than half its bound is printed as slow (scripts/test.mjs lists it) while it still passes.
// It also reports what uvu 0.5 would hide: a failing `before` hook (uvu swallows the error and exits 0)
// and a failing `after` hook (uvu aborts every later file); both make the run exit non-zero.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite as uvuSuite } from 'uvu';
import { runSync } from '../../lib/process/index.ts';

export type Tier = 'unit' | 'system' | 'hosts' | 'faults' | 'vm';

/** Default bound of one test or hook, in seconds, by the tier folder its file is in. */
export const TIER_BOUNDS_S: Readonly<Record<Tier, number>> = { unit: 60, system: 60, hosts: 600, faults: 600, vm: 1800 };
/** Test files outside the tier folders (the fixtures of this wrapper's own tests). */
export const OTHER_BOUND_S = 600;

/** Lines scripts/test.mjs reads from the output (keep both sides in step). */
export const SKIP_MARK = '[skip]';
export const HOOK_FAIL_MARK = '[hook failed]';
export const SLOW_MARK = '[slow]';

export interface Bound {
  /** Longer (or, for the wrapper's own tests, shorter) than the tier's default. */
  timeoutSeconds?: number;
}

type Crumbs = { __suite__: string; __test__: string };
export type Callback<T> = (context: T & Crumbs) => unknown;

export interface Hook<T> {
  (hook: Callback<T>): void;
  (bound: Bound, hook: Callback<T>): void;
  each(hook: Callback<T>): void;
  each(bound: Bound, hook: Callback<T>): void;
}

export interface Test<T> {
  (name: string, handler: Callback<T>): void;
  (name: string, bound: Bound, handler: Callback<T>): void;
  before: Hook<T>;
  after: Hook<T>;
  run(): void;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const self = fileURLToPath(import.meta.url);

/** The tier of a test file from its path (relative to the repository or absolute). */
export function tierOf(file: string): Tier | undefined {
  const m = /(?:^|[\\/])test[\\/](unit|system|hosts|faults|vm)[\\/]/.exec(file);
  return m ? (m[1] as Tier) : undefined;
}

/** The default bound, in seconds, of tests in `file`. */
export function defaultBoundS(file: string): number {
  const tier = tierOf(file);
  return tier ? TIER_BOUNDS_S[tier] : OTHER_BOUND_S;
}

/** CLUSTERSEED_TEST_TIME_SCALE multiplies every bound (a slower machine: 2; the wrapper's own tests: less than 1). */
function timeScale(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.CLUSTERSEED_TEST_TIME_SCALE;
  if (raw === undefined || raw === '') return 1;
  const scale = Number(raw);
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`CLUSTERSEED_TEST_TIME_SCALE=${raw}: expected a positive number`);
  return scale;
}
const scale = timeScale();

/** The file that called into this module (the test file registering a test), relative to the repo. */
function callerFile(): string {
  for (const line of (new Error().stack ?? '').split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?\/[^():]+):\d+:\d+\)?\s*$/.exec(line.trim());
    if (!m) continue;
    const file = m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
    if (file !== self && !file.includes(`${path.sep}node_modules${path.sep}`)) return path.relative(root, file);
  }
  return '(unknown file)';
}

class Skip extends Error {
  constructor(readonly reason: string) {
    super(`skipped: ${reason}`);
    this.name = 'Skip';
  }
}

/**
 * Ends the current test as skipped, with the reason printed and counted. In a `before` hook it skips
 * every test of the file (its `after` hooks still run). Only for what this machine lacks (a tool);
 * under CI=true a skip fails the run.
 */
export function skip(reason: string): never {
  throw new Skip(reason);
}

/** The command's `--version` (or `probe`) runs, else the test is skipped naming the tool. */
export function needTool(command: string, probe: string[] = ['--version'], hint = '.ci/run installs it'): void {
  // -1 when it cannot run at all (missing) or ran longer than 30 s
  if (runSync([command, ...probe], 30_000) !== 0) skip(`${command} is not installed (${hint})`);
}

export class TimeoutError extends Error {
  constructor(what: string, seconds: number, file: string) {
    const tier = tierOf(file);
    super(
      `${what} (${file}) timed out: still running after its bound of ${Number(seconds.toFixed(1))} s ` +
        `(${tier ? `tier ${tier}` : 'outside a tier folder'}; pass { timeoutSeconds } for a longer one)`,
    );
    this.name = 'TimeoutError';
  }
}

/** Runs `work`, rejecting with a TimeoutError once `seconds` have passed without it settling. */
export async function bounded<R>(what: string, seconds: number, file: string, work: () => R | Promise<R>): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  // the timer is not unref'd: a handler that never settles and holds nothing else open must still fail
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, seconds, file)), seconds * 1000);
  });
  const started = Date.now();
  try {
    const result = await Promise.race([Promise.resolve().then(work), expired]);
    // a test close to its bound fails on the next slow day: say so while it still passes
    const took = (Date.now() - started) / 1000;
    if (took > seconds / 2)
      say(`${SLOW_MARK} ${what} (${file}): ${Number(took.toFixed(1))} s of its bound of ${Number(seconds.toFixed(1))} s`);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

let hookFailures = 0;
process.on('exit', () => {
  // uvu sets exitCode 0 when a `before` hook failed; this listener runs after its own
  if (hookFailures > 0) process.exitCode = process.exitCode || 1;
});

function say(line: string): void {
  process.stdout.write(`\n  ${line}\n`);
}

function describe(err: unknown): string {
  if (err instanceof TimeoutError) return err.message;
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

type Args<T> = [Callback<T>] | [Bound, Callback<T>];
const split = <T>(args: Args<T>): [Bound | undefined, Callback<T>] => (args.length === 1 ? [undefined, args[0]] : args);

/** A uvu suite whose tests and hooks are bounded in time and may skip (see the top of this file). */
export function suite<T extends object = Record<string, unknown>>(title = '', context?: T): Test<T> {
  const inner = uvuSuite<T>(title, context);
  // What one run() of the suite shares. uvu's default suite serves every file of a run in turn
  // (run() hands the registered tests over and starts afresh), so a skip in one file's `before`
  // must not reach the next file.
  let batch: { skipAll?: string } = {};
  // The test file is the caller of each registration: one suite may serve several files.
  const registration = (bound?: Bound) => {
    const file = callerFile();
    const given = bound?.timeoutSeconds;
    if (given !== undefined && !(Number.isFinite(given) && given > 0))
      throw new Error(`${file}: timeoutSeconds ${given}: expected a positive number of seconds`);
    return {
      file,
      where: title ? `${file} › ${title}` : file,
      seconds: (bound?.timeoutSeconds ?? defaultBoundS(file)) * scale,
      shared: batch,
    };
  };

  const test = ((name: string, ...args: Args<T>) => {
    const [bound, handler] = split(args);
    const { file, where, seconds, shared } = registration(bound);
    inner(name, async (ctx) => {
      let reason = shared.skipAll;
      if (reason === undefined) {
        try {
          await bounded(`test "${name}"`, seconds, file, () => handler(ctx));
          return;
        } catch (err) {
          if (!(err instanceof Skip)) throw err;
          reason = err.reason;
        }
      }
      say(`${SKIP_MARK} ${where} › "${name}": ${reason}`);
    });
  }) as Test<T>;

  const before = ((...args: Args<T>) => {
    const [bound, hook] = split(args);
    const { file, where, seconds, shared } = registration(bound);
    inner.before(async (ctx) => {
      try {
        await bounded('before hook', seconds, file, () => hook(ctx));
      } catch (err) {
        if (err instanceof Skip) {
          shared.skipAll = err.reason;
          return;
        }
        hookFailures++;
        say(`${HOOK_FAIL_MARK} ${where} › before: ${describe(err)}`);
        throw err; // uvu then runs none of the file's tests (and counts them as not passed)
      }
    });
  }) as Hook<T>;
  before.each = (...args: Args<T>) => {
    const [bound, hook] = split(args);
    const { file, seconds, shared } = registration(bound);
    inner.before.each(async (ctx) => {
      if (shared.skipAll === undefined) await bounded(`before.each hook of test "${ctx.__test__}"`, seconds, file, () => hook(ctx));
    });
  };

  const after = ((...args: Args<T>) => {
    const [bound, hook] = split(args);
    const { file, where, seconds } = registration(bound);
    inner.after(async (ctx) => {
      try {
        await bounded('after hook', seconds, file, () => hook(ctx));
      } catch (err) {
        // not rethrown: uvu would abort every later file of the run
        hookFailures++;
        say(`${HOOK_FAIL_MARK} ${where} › after: ${describe(err)}`);
      }
    });
  }) as Hook<T>;
  after.each = (...args: Args<T>) => {
    const [bound, hook] = split(args);
    const { file, seconds, shared } = registration(bound);
    inner.after.each(async (ctx) => {
      if (shared.skipAll === undefined) await bounded(`after.each hook of test "${ctx.__test__}"`, seconds, file, () => hook(ctx));
    });
  };

  test.before = before;
  test.after = after;
  test.run = () => {
    inner.run();
    batch = {};
  };
  return test;
}

/** The default suite: `test` of a test file. */
export const test: Test<Record<string, unknown>> = suite();
