// The one helper for local processes: run a command given as an argv array (quoted by zx, never a
// shell string built from input), feed it stdin, bound it in time, collect its output, and, with
// `check`, throw an error that names the command with every secret masked. Built on zx's `$`
// (the project's scripting layer); `start` is the streaming variant for long runs whose output goes
// elsewhere as it comes (bench, debootstrap steps that pass a lock descriptor as fd 3).
// Foundation layer: imports only node: modules and zx.
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { ProcessPromise } from 'zx/core';

export interface RunOptions {
  /** what the command reads on stdin (it always gets EOF after it) */
  input?: string | Buffer;
  /** the whole environment of the command (default: this process's) */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** killed with SIGKILL (with everything it started) after this long */
  timeoutMs?: number;
  /** aborting kills the command (SIGTERM) */
  signal?: AbortSignal;
  /** own process group: a timeout kills the group, so helpers it forked go with it */
  detached?: boolean;
  /** throw a ProcessError unless the command exits 0 (or with one of okCodes) */
  check?: boolean;
  okCodes?: readonly number[];
  /** values masked (as ***) in the error message and in the stderr/stdout it carries */
  secrets?: readonly string[];
  /** stdin is /dev/null instead of a pipe (input is then ignored) */
  noStdin?: boolean;
  /** descriptors the command inherits as fd 3, 4, ... (e.g. a held flock) */
  extraFds?: readonly number[];
}

export interface RunResult {
  /** exit code; 128+n when killed by signal n; 124 when the timeout killed it */
  code: number;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
  stderrBytes: Buffer;
}

export class ProcessError extends Error {
  readonly code: number;
  readonly stderr: string;
  readonly result: RunResult;
  constructor(message: string, result: RunResult, stderr: string) {
    super(message);
    this.name = 'ProcessError';
    this.code = result.code;
    this.stderr = stderr;
    this.result = result;
  }
}

/** Replaces every occurrence of a secret (longest first) by ***. */
export function maskValues(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of [...secrets].filter((v) => v.length > 0).sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
  return out;
}

/** The command line as a message shows it (arguments are not quoted; secrets masked). */
export function describeCommand(argv: readonly string[], secrets: readonly string[] = []): string {
  return maskValues(argv.join(' '), secrets);
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 };
const TIMEOUT_CODE = 124;

function exitCode(code: number | null, signal: NodeJS.Signals | null, timedOut: boolean): number {
  if (timedOut) return TIMEOUT_CODE;
  if (code !== null) return code;
  return 128 + (signal ? (SIGNALS[signal] ?? 9) : 0);
}

/** Runs argv to its end and collects its output; never throws for an exit code unless `check`. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  if (argv.length === 0) throw new Error('run: empty command');
  const store = { stdout: [] as Buffer[], stderr: [] as Buffer[], stdall: [] as Buffer[] };
  // loaded on first use: a CLI run that starts no local process does not pay for zx
  const { $ } = await import('zx/core');
  const p: ProcessPromise = $({
    quiet: true,
    verbose: false,
    // explicit, so no ZX_* variable of the environment changes them
    preferLocal: false,
    timeout: undefined,
    nothrow: true,
    // bash replaces itself by the command: its pid is the command's, signals reach it directly
    prefix: 'exec ',
    postfix: '',
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: opts.detached ?? false,
    signal: opts.signal,
    // a Buffer even when empty: zx then ends stdin (an empty string would leave it open)
    input: opts.noStdin ? undefined : Buffer.from(opts.input ?? ''),
    stdio: [opts.noStdin ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(opts.extraFds ?? [])],
    store: store as never,
  })`${argv}`;
  // a command that exits without reading all its input closes the pipe: its exit status says what
  // happened, not the EPIPE of our write
  p.stdin?.on('error', () => undefined);
  const timer = killAfter(opts.timeoutMs, () => {
    if (opts.detached && p.pid) killGroup(p.pid, 'SIGKILL');
    // zx kills the command's whole process tree
    void p.kill('SIGKILL').catch(() => undefined);
  });
  const out = await p.finally(timer.clear);
  const timedOut = timer.fired();
  const what = describeCommand(argv, opts.secrets);
  if (out.cause && !opts.signal?.aborted) throw new Error(`cannot run ${what}: ${out.cause.message}`);
  const stderrBytes = Buffer.concat(store.stderr);
  // bash's exec reports a missing program like this (exit 127): the same error as a failed spawn
  if (out.exitCode === 127 && /^\S*bash: line \d+: exec: .*: not found\n?$/.test(stderrBytes.toString('utf8'))) {
    throw new Error(`cannot run ${what}: ${argv[0]} not found`);
  }
  const stdoutBytes = Buffer.concat(store.stdout);
  const result: RunResult = {
    code: exitCode(out.exitCode, out.signal, timedOut),
    signal: out.signal,
    timedOut,
    aborted: opts.signal?.aborted ?? false,
    stdout: stdoutBytes.toString('utf8'),
    stderr: stderrBytes.toString('utf8'),
    stdoutBytes,
    stderrBytes,
  };
  if (opts.check && result.code !== 0 && !(opts.okCodes ?? []).includes(result.code)) throw failure(argv, result, opts);
  return result;
}

/** run() with check: resolves with stdout, throws a ProcessError naming the command otherwise. */
export async function runOk(argv: readonly string[], opts: Omit<RunOptions, 'check'> = {}): Promise<string> {
  return (await run(argv, { ...opts, check: true })).stdout;
}

function failure(argv: readonly string[], r: RunResult, opts: RunOptions): ProcessError {
  const secrets = opts.secrets ?? [];
  const stderr = maskValues(r.stderr, secrets);
  const why = r.timedOut
    ? `killed after ${opts.timeoutMs} ms`
    : r.aborted
      ? 'aborted'
      : r.signal
        ? `killed by ${r.signal}`
        : `exit ${r.code}`;
  const detail = stderr.trim() || maskValues(r.stdout.trim(), secrets);
  return new ProcessError(`${describeCommand(argv, secrets)} failed (${why})${detail ? `: ${detail}` : ''}`, r, stderr);
}

/** Synchronous best-effort run for teardown paths inside process 'exit' handlers: the exit code, -1 when none. */
export function runSync(argv: readonly string[], timeoutMs = 10_000): number {
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', timeout: timeoutMs });
  return r.status ?? -1;
}

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdio as node's spawn takes it (default: stdin ignored, stdout/stderr piped to onOutput) */
  stdio?: StdioOptions;
  /** every chunk of stdout and stderr, as it comes */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** own process group (see killGroup) */
  detached?: boolean;
  /** the process group (detached) or the process gets SIGKILL after this long */
  timeoutMs?: number;
}

export interface Started {
  child: ChildProcess;
  pid: number | undefined;
  /** settles when the process has exited and its output is read; rejects when it cannot start */
  done: Promise<{ code: number; signal: NodeJS.Signals | null; timedOut: boolean }>;
}

/**
 * Starts a long-running process without collecting its output (plain spawn: zx's `$` keeps all of it,
 * and cannot pass extra descriptors or write straight into a log file).
 */
export function start(argv: readonly string[], opts: StartOptions = {}): Started {
  const child = spawn(argv[0], argv.slice(1), {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  child.stdout?.on('data', (d: Buffer) => opts.onOutput?.(d, 'stdout'));
  child.stderr?.on('data', (d: Buffer) => opts.onOutput?.(d, 'stderr'));
  const timer = killAfter(opts.timeoutMs, () => {
    if (!child.pid) return;
    if (opts.detached) killGroup(child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  });
  const done = new Promise<{ code: number; signal: NodeJS.Signals | null; timedOut: boolean }>((resolve, reject) => {
    child.on('error', (err) => {
      timer.clear();
      reject(new Error(`cannot run ${argv.join(' ')}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      timer.clear();
      resolve({ code: exitCode(code, signal, false), signal, timedOut: timer.fired() });
    });
  });
  return { child, pid: child.pid, done };
}

/** Calls `kill` once `ms` have passed (never when ms is undefined); fired() tells whether it did. */
function killAfter(ms: number | undefined, kill: () => void): { clear: () => void; fired: () => boolean } {
  let fired = false;
  const timer =
    ms === undefined
      ? undefined
      : setTimeout(() => {
          fired = true;
          kill();
        }, ms);
  return { clear: () => clearTimeout(timer), fired: () => fired };
}

/** Sends a signal to a whole process group (a detached child's pid); false when it is gone. */
export function killGroup(pid: number, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
