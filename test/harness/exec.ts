// Process lifecycle helpers for the harness (running commands is lib/process): tell a live process from
// a reused pid, kill it if alive, wait for a condition with a bound.
import fs from 'node:fs';

/** Start time of a process (field 22 of /proc/PID/stat), to tell a live process from a reused pid. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces: count fields after its closing parenthesis
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export interface ProcessRef {
  pid: number;
  start: string;
}

export function processRef(pid: number): ProcessRef | undefined {
  const start = processStartTime(pid);
  return start === undefined ? undefined : { pid, start };
}

/** True while the process runs (a zombie counts as gone: only its parent's wait() is missing). */
export function isAlive(ref: ProcessRef): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${ref.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] !== 'Z' && fields[19] === ref.start;
  } catch {
    return false;
  }
}

export function killIfAlive(ref: ProcessRef, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!isAlive(ref)) return;
  try {
    process.kill(ref.pid, signal);
  } catch {
    // already gone
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves true when `promise` settles within `ms`, false otherwise; never holds the event loop longer. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a value other than undefined, or throws `what` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => T | undefined | Promise<T | undefined>,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
