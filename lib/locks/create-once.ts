// Create-once state files (sealing key, K3s token, deploy key, generated passwords) without races:
// the content is written complete into a temp file of its own and then link()ed to its name, which
// fails if the name exists and never overwrites. Two creators at once: one wins, the loser reads
// the winner's file and uses it. A reader never sees a half-written file.
import { randomBytes } from 'node:crypto';
import { promises as fs, constants as fsConstants, closeSync, fsyncSync, linkSync, openSync, unlinkSync, writeSync } from 'node:fs';

function tempNameFor(file: string): string {
  return `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

/**
 * Write `content` to `file` unless it exists: true when this call created it, false when another
 * creator was first (the file is then theirs, complete). The temp file never stays behind.
 */
export async function createExclusive(file: string, content: string | Buffer, mode = 0o600): Promise<boolean> {
  const tmp = tempNameFor(file);
  const handle = await fs.open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
  try {
    try {
      await handle.chmod(mode); // regardless of the umask
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
}

/** createExclusive for synchronous callers */
export function createExclusiveSync(file: string, content: string | Buffer, mode = 0o600): boolean {
  const tmp = tempNameFor(file);
  const fd = openSync(tmp, 'wx', mode);
  try {
    try {
      writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}

/**
 * Serialise read-modify-write of one state file (e.g. credentials.json gaining a password) across
 * processes: an O_EXCL side file `<file>.lock` while `fn` runs. A lock left by a crashed process
 * (older than `staleMs`) is removed; waiting is bounded by `waitMs`.
 */
export async function withFileMutex<T>(file: string, fn: () => Promise<T>, opts: { waitMs?: number; staleMs?: number } = {}): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + (opts.waitMs ?? 30_000);
  const staleMs = opts.staleMs ?? 60_000;
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    try {
      const h = await fs.open(lock, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
      await h.writeFile(`${process.pid}\n`);
      await h.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = await fs.stat(lock).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > staleMs) {
      await fs.unlink(lock).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline)
      throw new Error(`${lock}: another process has held this lock for too long; remove it if no clusterseed run is active`);
    await new Promise((r) => setTimeout(r, delay));
  }
  try {
    return await fn();
  } finally {
    await fs.unlink(lock).catch(() => undefined);
  }
}
