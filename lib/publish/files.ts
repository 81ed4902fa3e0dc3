// The rendered repository as publish sees it: relative POSIX path → bytes, from the renderer's Map
// or from a directory on disk. Paths are checked here once so no backend has to.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { blobSha, type TreeFile } from './git-objects.ts';

export type FileInput = Map<string, string | Buffer> | string;

export interface DesiredFile extends TreeFile {
  content: Buffer;
}

/** Rejects paths git or a checkout would mangle: absolute, "..", ".git", backslashes, empty parts. */
export function checkRepoPath(p: string): void {
  const bad = (why: string) => new Error(`publish: invalid file path "${p}": ${why}`);
  if (p.length === 0) throw bad('empty');
  if (p.startsWith('/')) throw bad('must be relative to the repository root');
  if (p.includes('\\')) throw bad('use "/" as separator');
  if (p.includes('\0')) throw bad('contains a NUL byte');
  for (const part of p.split('/')) {
    if (part === '') throw bad('empty path segment (leading, trailing or double "/")');
    if (part === '.' || part === '..') throw bad(`"${part}" segments are not allowed`);
    if (part.toLowerCase() === '.git') throw bad('".git" is reserved by git');
  }
}

/** Reads every regular file under dir (skipping .git), as repo-relative POSIX paths. */
export async function readTreeFromDir(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  async function walk(rel: string): Promise<void> {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      if (e.name === '.git') continue;
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(childRel);
      else if (e.isFile()) out.set(childRel, await readFile(path.join(dir, childRel)));
      else throw new Error(`publish: ${path.join(dir, childRel)} is neither a regular file nor a directory (symlinks are not published)`);
    }
  }
  await walk('');
  return out;
}

/** Normalises the input into the files of the commit to make, with their blob shas. */
export async function loadDesiredFiles(input: FileInput): Promise<Map<string, DesiredFile>> {
  const raw = typeof input === 'string' ? await readTreeFromDir(input) : input;
  const out = new Map<string, DesiredFile>();
  for (const [p, value] of raw) {
    checkRepoPath(p);
    const content = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    out.set(p, { mode: '100644', sha: blobSha(content), content });
  }
  if (out.size === 0) throw new Error('publish: nothing to publish (the rendered repository has no files)');
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** True when the bytes survive a round trip through a JS string (so they can be sent as text). */
export function isUtf8Text(content: Buffer): boolean {
  if (content.includes(0)) return false;
  return Buffer.from(content.toString('utf8'), 'utf8').equals(content);
}
