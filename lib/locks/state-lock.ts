// One run at a time per inventory state dir (`<inventory dir>/.clusterseed/`): the control-machine
// lock. The lock file is published complete with link() (atomic, never overwrites), so a reader
// never sees a half-written holder. A lock whose process is gone from this machine is taken over
// with a warning; a live one refuses the second run at once, naming the holder.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPrivate, makePrivateDir, readPrivate } from '../state/private-files.ts';
import { UserError } from '../report/user-error.ts';

export const STATE_LOCK_FILE = 'run.lock';

/** What a lock file says about the run holding it. */
export interface LockHolder {
  pid: number;
  /** the control machine's host name */
  host: string;
  command: string;
  startedAt: string;
  /** the process's start time (clock ticks since boot, /proc/PID/stat): tells a reused pid apart */
  procStart?: string;
  /** random per acquisition: release removes only its own file */
  id: string;
}

export class LockHeldError extends UserError {
  constructor(
    message: string,
    readonly holder?: LockHolder,
  ) {
    super(message);
  }
}

export interface StateLock {
  readonly file: string;
  readonly holder: LockHolder;
  /** idempotent; also done on process exit */
  release(): void;
}

/** Locks this process already holds, by file: a nested acquire (idempotency.mjs runs site twice) shares it. */
const held = new Map<string, { lock: StateLock; count: number }>();

/** Field 22 of /proc/PID/stat (the process's start time), undefined off Linux or for a gone pid. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces and parentheses: count from its closing one
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** true when `pid` is no longer the process that wrote the lock, on this machine */
export function holderGone(holder: LockHolder): boolean {
  if (holder.host !== os.hostname()) return false; // another machine's process: cannot be checked
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  const start = processStartTime(holder.pid);
  return !!holder.procStart && !!start && start !== holder.procStart;
}

export function describeHolder(h: LockHolder, now = Date.now()): string {
  const age = Math.max(0, Math.round((now - Date.parse(h.startedAt)) / 1000));
  return `pid ${h.pid} on ${h.host}, "${h.command}", started ${h.startedAt} (${age} s ago)`;
}

function readHolder(file: string): LockHolder | undefined {
  const text = readPrivate(file);
  if (text === undefined) return undefined;
  try {
    const h = JSON.parse(text) as LockHolder;
    if (typeof h.pid === 'number' && typeof h.host === 'string') return h;
  } catch {
    // not ours or damaged: reported below as unreadable
  }
  throw new LockHeldError(`${file} exists but is not a clusterseed lock file; if no clusterseed run is active, remove it`);
}

/** Write `content` to a fresh file next to `target` and link it there; false when `target` exists. */
function publish(target: string, content: string): boolean {
  return createPrivate(target, content);
}

export interface AcquireOptions {
  /** what the lock file names as the command, e.g. "site.mjs -i inventory.yaml --check" */
  command: string;
  /** told when a stale lock was taken over */
  warn?: (message: string) => void;
}

/**
 * Take the state dir's lock or throw LockHeldError naming the holder. The dir is created 0700
 * if missing (it holds keys and tokens).
 */
export function acquireStateLock(stateDir: string, opts: AcquireOptions): StateLock {
  const file = path.join(path.resolve(stateDir), STATE_LOCK_FILE);
  const mine = held.get(file);
  if (mine) {
    mine.count++;
    return mine.lock;
  }
  makePrivateDir(path.dirname(file));
  const holder: LockHolder = {
    pid: process.pid,
    host: os.hostname(),
    command: opts.command,
    startedAt: new Date().toISOString(),
    procStart: processStartTime(process.pid),
    id: randomBytes(8).toString('hex'),
  };
  const content = JSON.stringify(holder) + '\n';
  for (let attempt = 0; attempt < 3; attempt++) {
    if (publish(file, content)) return remember(file, holder);
    const other = readHolder(file);
    if (!other) continue; // released meanwhile: try again
    if (!holderGone(other)) {
      throw new LockHeldError(
        `another clusterseed run holds ${file}: ${describeHolder(other)}. ` + 'Wait for it to finish (one run at a time per inventory).',
        other,
      );
    }
    takeOver(file, other, content);
    opts.warn?.(`took over a stale lock ${file} left by ${describeHolder(other)}: that process is gone`);
    return remember(file, holder);
  }
  throw new LockHeldError(`${file}: the lock changed hands repeatedly while taking it; try again`);
}

/**
 * Replace a stale lock, guarded by an O_EXCL side file so two runs taking over the same stale lock
 * cannot both win (the second finds the guard, or finds the lock no longer stale).
 */
function takeOver(file: string, stale: LockHolder, content: string): void {
  const guard = `${file}.takeover`;
  let fd: number;
  try {
    fd = openSync(guard, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new LockHeldError(
      `another clusterseed run is taking over the stale lock ${file} right now (${guard} exists; remove it if no run is active)`,
    );
  }
  try {
    writeSync(fd, `${process.pid}\n`);
    const now = readHolder(file);
    if (now && now.id !== stale.id) {
      throw new LockHeldError(`another clusterseed run took over the stale lock ${file} first: ${describeHolder(now)}`, now);
    }
    if (now) unlinkSync(file);
    if (!publish(file, content))
      throw new LockHeldError(`another clusterseed run took the lock ${file} while its stale holder was removed`);
  } finally {
    closeSync(fd);
    unlinkSync(guard);
  }
}

function remember(file: string, holder: LockHolder): StateLock {
  let released = false;
  const onExit = () => {
    const entry = held.get(file);
    if (entry) entry.count = 1;
    lock.release();
  };
  const lock: StateLock = {
    file,
    holder,
    release() {
      const entry = held.get(file);
      if (entry && --entry.count > 0) return;
      if (released) return;
      released = true;
      held.delete(file);
      process.off('exit', onExit);
      try {
        // only our own file: a lock taken over from us (we looked dead) belongs to someone else now
        if (readHolder(file)?.id === holder.id) unlinkSync(file);
      } catch {
        // gone already, or unreadable: nothing of ours to remove
      }
    },
  };
  held.set(file, { lock, count: 1 });
  process.on('exit', onExit);
  return lock;
}

/** The state dir of an inventory file: `.clusterseed` next to it. */
export function stateDirOf(inventoryFile: string): string {
  return path.join(path.dirname(path.resolve(inventoryFile)), '.clusterseed');
}
