// Paths in the inventory are written for the user's shell: `~` is their home and relative
// paths start where the inventory file is, not where clusterseed happens to be run from.
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export function expandPath(p: string, baseDir: string, home: string = process.env.HOME || homedir()): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return path.join(home, p.slice(2));
  return path.resolve(baseDir, p);
}

/**
 * For a path that cannot exist because something above it is not a directory (ENOTDIR): the
 * nearest existing ancestor, which is then a file; undefined when every existing ancestor is a directory.
 */
export function fileInTheWay(p: string): string | undefined {
  for (let dir = path.dirname(p); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      return statSync(dir).isDirectory() ? undefined : dir;
    } catch {
      // missing: look further up
    }
  }
  return undefined;
}
