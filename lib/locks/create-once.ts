// Serialised read-modify-write of one state file across processes. Creating a state file once
// (sealing key, K3s token, deploy key) is lib/state's createPrivate: complete, linked, never
// overwriting.
import { promises as fs, constants as fsConstants } from 'node:fs';

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
