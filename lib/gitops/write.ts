// Writes a rendered tree to a directory so that the directory holds exactly that tree: changed
// and new files are written, files the render no longer produces are removed (and directories
// left empty), unchanged files are not touched. A .git directory in the target is left alone.
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface WriteResult {
  written: string[];
  removed: string[];
  unchanged: number;
}

export interface WriteOptions {
  /** allow replacing a non-empty directory that does not look like a rendered repo */
  force?: boolean;
}

const MARKER = 'bootstrap/root.yaml';

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (!rel && e.name === '.git') continue;
    if (e.isDirectory()) out.push(...(await listFiles(dir, r)));
    else out.push(r);
  }
  return out;
}

function checkRelative(p: string): void {
  if (path.isAbsolute(p) || p.split('/').some((s) => s === '..' || s === '' || s === '.')) {
    throw new Error(`refusing to write outside the repository: ${p}`);
  }
}

async function removeEmptyDirs(dir: string, rel: string): Promise<void> {
  let cur = path.dirname(rel);
  while (cur !== '.' && cur !== '') {
    const abs = path.join(dir, cur);
    try {
      if ((await fs.readdir(abs)).length > 0) return;
      await fs.rmdir(abs);
    } catch {
      return;
    }
    cur = path.dirname(cur);
  }
}

export async function writeRepo(files: Map<string, string>, dir: string, opts: WriteOptions = {}): Promise<WriteResult> {
  for (const p of files.keys()) checkRelative(p);
  const existing = await listFiles(dir);
  if (existing.length > 0 && !existing.includes(MARKER) && !opts.force) {
    throw new Error(`${dir} is not empty and holds no rendered repository (${MARKER} missing); refusing to replace it`);
  }
  const result: WriteResult = { written: [], removed: [], unchanged: 0 };
  for (const rel of existing.sort()) {
    if (files.has(rel)) continue;
    await fs.rm(path.join(dir, rel));
    result.removed.push(rel);
    await removeEmptyDirs(dir, rel);
  }
  for (const [rel, content] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const abs = path.join(dir, rel);
    let old: string | undefined;
    try {
      old = await fs.readFile(abs, 'utf8');
    } catch {
      old = undefined;
    }
    if (old === content) {
      result.unchanged++;
      continue;
    }
    await fs.mkdir(path.dirname(abs), { recursive: true });
    const tmp = `${abs}.${process.pid}.tmp`;
    await fs.writeFile(tmp, content);
    await fs.rename(tmp, abs);
    result.written.push(rel);
  }
  return result;
}
