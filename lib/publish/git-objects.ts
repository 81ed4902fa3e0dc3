// Git's object hashing, done locally: a blob is SHA-1 over "blob <len>\0<bytes>", a tree over its
// sorted "<mode> <name>\0<20-byte sha>" entries. Knowing the tree SHA before talking to any server
// is what lets a publish decide "unchanged" with one read, and verify what the server built.
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync } from 'node:zlib';

/** File modes git knows for tree entries that are not directories. */
export type FileMode = '100644' | '100755' | '120000' | '160000';

export interface TreeFile {
  mode: FileMode;
  /** blob sha (or commit sha for a 160000 submodule entry) */
  sha: string;
}

export type ObjectType = 'blob' | 'tree' | 'commit';

export interface GitObject {
  type: ObjectType;
  body: Buffer;
}

export function objectSha(type: ObjectType, body: Buffer): string {
  return createHash('sha1').update(`${type} ${body.length}\0`).update(body).digest('hex');
}

export function blobSha(content: Buffer | string): string {
  return objectSha('blob', typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
}

interface DirNode {
  files: Map<string, TreeFile>;
  dirs: Map<string, DirNode>;
}

function emptyDir(): DirNode {
  return { files: new Map(), dirs: new Map() };
}

/** Nests flat "a/b/c" paths into directories. Throws when a path is both a file and a directory. */
function nest(files: Map<string, TreeFile>): DirNode {
  const root = emptyDir();
  for (const [filePath, file] of files) {
    const parts = filePath.split('/');
    const name = parts.pop()!;
    let dir = root;
    for (const part of parts) {
      if (dir.files.has(part)) throw new Error(`path conflict: "${filePath}" needs "${part}" to be a directory, but it is a file`);
      let next = dir.dirs.get(part);
      if (!next) dir.dirs.set(part, (next = emptyDir()));
      dir = next;
    }
    if (dir.dirs.has(name)) throw new Error(`path conflict: "${filePath}" is a file and a directory`);
    dir.files.set(name, file);
  }
  return root;
}

/** Git orders tree entries byte-wise by name, a directory as if its name ended in "/". */
function sortKey(name: string, isDir: boolean): Buffer {
  return Buffer.from(isDir ? `${name}/` : name, 'utf8');
}

function encodeDir(dir: DirNode, out: Map<string, GitObject>): string {
  const entries: { key: Buffer; raw: Buffer }[] = [];
  for (const [name, sub] of dir.dirs) {
    const sha = encodeDir(sub, out);
    entries.push({ key: sortKey(name, true), raw: entry('40000', name, sha) });
  }
  for (const [name, file] of dir.files) {
    entries.push({ key: sortKey(name, false), raw: entry(file.mode, name, file.sha) });
  }
  entries.sort((a, b) => Buffer.compare(a.key, b.key));
  const body = Buffer.concat(entries.map((e) => e.raw));
  const sha = objectSha('tree', body);
  out.set(sha, { type: 'tree', body });
  return sha;
}

function entry(mode: string, name: string, sha: string): Buffer {
  return Buffer.concat([Buffer.from(`${mode} ${name}\0`, 'utf8'), Buffer.from(sha, 'hex')]);
}

export interface BuiltTree {
  /** sha of the root tree */
  sha: string;
  /** every tree object, root included, by sha */
  trees: Map<string, GitObject>;
}

/** Builds the tree objects of a flat path → file map (an empty map gives git's empty tree). */
export function buildTree(files: Map<string, TreeFile>): BuiltTree {
  const trees = new Map<string, GitObject>();
  const sha = encodeDir(nest(files), trees);
  return { sha, trees };
}

/** The sha a commit of these files would point at. */
export function treeSha(files: Map<string, TreeFile>): string {
  return buildTree(files).sha;
}

/**
 * Writes objects as loose objects into a git directory (bare repo or .git). Existing objects are
 * left alone: content-addressed, so an existing file already holds these bytes.
 */
export async function writeLooseObjects(gitDir: string, objects: Iterable<GitObject>): Promise<number> {
  let written = 0;
  for (const obj of objects) {
    const sha = objectSha(obj.type, obj.body);
    const dir = path.join(gitDir, 'objects', sha.slice(0, 2));
    const file = path.join(dir, sha.slice(2));
    if (await exists(file)) continue;
    await mkdir(dir, { recursive: true });
    const tmp = `${file}.tmp-${process.pid}-${written}`;
    await writeFile(tmp, deflateSync(Buffer.concat([Buffer.from(`${obj.type} ${obj.body.length}\0`), obj.body])), { mode: 0o444 });
    await rename(tmp, file);
    written++;
  }
  return written;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
