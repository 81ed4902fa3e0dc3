// Paths in the inventory are written for the user's shell: `~` is their home and relative
// paths start where the inventory file is, not where clusterseed happens to be run from.
import { homedir } from 'node:os';
import path from 'node:path';

export function expandPath(p: string, baseDir: string, home: string = process.env.HOME || homedir()): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return path.join(home, p.slice(2));
  return path.resolve(baseDir, p);
}
