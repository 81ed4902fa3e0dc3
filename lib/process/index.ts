// The one helper for local processes: run a command given as an argv array (quoted by zx, never a
// shell string built from input), feed it stdin, bound it in time, collect its output, and, with
// `check`, throw an error that names the command with every secret masked. Built on zx's `$`
// (the project's scripting layer); `start` is the streaming variant for long runs whose output goes
// elsewhere as it comes (bench, debootstrap steps that pass a lock descriptor as fd 3) or that outlive
// this process (the lab's VM supervisors, test containers: output to a log file, `unref`);
// `runCollectSync`/`runOkSync` are the synchronous variants for callers that cannot await (test
// fixtures built at import time, sync helpers), `runSync` the best-effort one for teardown.
// This is the only module that may import node:child_process or zx (eslint.process.js enforces it).
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

/** The program of argv[0] does not exist (the spawn failed, or bash's exec reported it: exit 127). */
export class CommandNotFoundError extends Error {
  readonly command: string;
  constructor(message: string, command: string) {
    super(message);
    this.name = 'CommandNotFoundError';
    this.command = command;
  }
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

/**
 * zx runs `bash -c 'exec CMD'` with a socket as stdin. Debian's bash then sources ~/.bashrc (its
 * rule for shells started by sshd/rshd) when SHLVL says it is a top-level shell: every command
 * would run the user's rc file (pyenv, nvm, conda: slow, and pyenv's rehash lock held a command
 * for 60 s). A SHLVL of 1 tells bash it is not top-level; the command itself sees SHLVL=2.
 */
export function withoutBashrc(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const level = Number(env.SHLVL);
  return Number.isInteger(level) && level >= 1 ? env : { ...env, SHLVL: '1' };
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
    env: withoutBashrc(opts.env ?? process.env),
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
    throw new CommandNotFoundError(`cannot run ${what}: ${argv[0]} not found`, argv[0]);
  }
  return collected(argv, opts, {
    code: exitCode(out.exitCode, out.signal, timedOut),
    signal: out.signal,
    timedOut,
    aborted: opts.signal?.aborted ?? false,
    stdoutBytes: Buffer.concat(store.stdout),
    stderrBytes,
  });
}

/** The result of a finished command (run and runCollectSync alike); with `check`, a failure throws. */
function collected(argv: readonly string[], opts: RunOptions, r: Omit<RunResult, 'stdout' | 'stderr'>): RunResult {
  const result: RunResult = { ...r, stdout: r.stdoutBytes.toString('utf8'), stderr: r.stderrBytes.toString('utf8') };
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

export type SyncRunOptions = Omit<RunOptions, 'signal' | 'detached' | 'extraFds'>;

/**
 * run() for callers that cannot await: the same options, result and errors (check, okCodes, masked
 * secrets; a missing program throws CommandNotFoundError), run directly with spawnSync (no zx: its
 * `$` is asynchronous, and loading it synchronously would cost every CLI start). A timeout kills the
 * command with SIGKILL; the output is collected whole (no size limit).
 */
export function runCollectSync(argv: readonly string[], opts: SyncRunOptions = {}): RunResult {
  if (argv.length === 0) throw new Error('runCollectSync: empty command');
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    input: opts.noStdin ? undefined : (opts.input ?? ''),
    stdio: [opts.noStdin ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: Infinity,
  });
  const what = describeCommand(argv, opts.secrets);
  const err = r.error as NodeJS.ErrnoException | undefined;
  if (err?.code === 'ENOENT') throw new CommandNotFoundError(`cannot run ${what}: ${argv[0]} not found`, argv[0]);
  const timedOut = err?.code === 'ETIMEDOUT';
  if (err && !timedOut) throw new Error(`cannot run ${what}: ${err.message}`);
  return collected(argv, opts, {
    code: exitCode(r.status, r.signal, timedOut),
    signal: r.signal,
    timedOut,
    aborted: false,
    stdoutBytes: r.stdout ?? Buffer.alloc(0),
    stderrBytes: r.stderr ?? Buffer.alloc(0),
  });
}

/** runCollectSync() with check: returns stdout, throws a ProcessError naming the command otherwise. */
export function runOkSync(argv: readonly string[], opts: Omit<SyncRunOptions, 'check'> = {}): string {
  return runCollectSync(argv, { ...opts, check: true }).stdout;
}

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * stdio as node's spawn takes it (default: stdin ignored, stdout/stderr piped to onOutput): e.g.
   * ['ignore', fd, fd] writes straight into an open log file (the caller may close fd once start
   * returns), 'inherit' shares this process's terminal or log, 'pipe' gives child.stdin/stdout streams
   */
  stdio?: StdioOptions;
  /** every chunk of stdout and stderr, as it comes */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  /** own process group (see killGroup) */
  detached?: boolean;
  /** the process group (detached) or the process gets SIGKILL after this long */
  timeoutMs?: number;
  /**
   * this process may exit while the command still runs (child.unref()): for a daemon started
   * detached with its output in a file. `done` still settles if this process lives long enough (a
   * timeoutMs still holds this process until it fires).
   */
  unref?: boolean;
}

export interface Started {
  child: ChildProcess;
  pid: number | undefined;
  /**
   * settles when the process has exited and its output is read (code as run() reports it: 128+n when
   * killed by signal n; `signal` names it); rejects when it cannot start (the spawn error is `cause`)
   */
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
  if (opts.unref) child.unref();
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
      reject(new Error(`cannot run ${argv.join(' ')}: ${err.message}`, { cause: err }));
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
