// Temp dirs a test file makes as it goes and removes after its last test.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from './uvu.ts';

/** Registers an after hook on `suite` that removes every dir the returned function made (os.tmpdir()/`prefix`XXXXXX). */
export function tempDirs(suite: Test<Record<string, unknown>>, prefix: string): () => Promise<string> {
  const made: string[] = [];
  suite.after(async () => {
    for (const dir of made) await fs.rm(dir, { recursive: true, force: true });
  });
  return async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
}
