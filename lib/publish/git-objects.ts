// Git's object hashing, done locally: a blob is SHA-1 over "blob <len>\0<bytes>", a tree over its
// sorted "<mode> <name>\0<20-byte sha>" entries. Knowing the tree SHA before talking to any server
// is what lets a publish decide "unchanged" with one read, and verify what the server built.
// Writing objects into a repository is git's own job (writeObjects: cat-file, fast-import, mktree).
import { createHash } from 'node:crypto';
import { git } from './git-cli.ts';

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

/** The type git names in a tree entry of this mode (mktree checks it against the object). */
function entryType(mode: string): string {
  if (mode === '40000') return 'tree';
  if (mode === '160000') return 'commit';
  return 'blob';
}

/** One tree object as `git mktree -z` reads it: "<mode> <type> <sha>\t<name>" records, NUL-terminated. */
function mktreeRecords(body: Buffer): Buffer {
  const records: Buffer[] = [];
  for (let at = 0; at < body.length;) {
    const nul = body.indexOf(0, at);
    const head = body.subarray(at, nul).toString('utf8');
    const space = head.indexOf(' ');
    const mode = head.slice(0, space);
    const sha = body.subarray(nul + 1, nul + 21).toString('hex');
    records.push(
      Buffer.from(`${mode.padStart(6, '0')} ${entryType(mode)} ${sha}\t`, 'utf8'),
      body.subarray(at + space + 1, nul),
      Buffer.from([0]),
    );
    at = nul + 21;
  }
  return Buffer.concat(records);
}

/**
 * Writes the blobs and the tree objects of `files` into a git directory (bare repo or .git) with
 * git itself, in a fixed number of processes whatever the number of files: `git cat-file
 * --batch-check` finds the blobs the repository lacks, `git fast-import` (git's batch object writer)
 * stores them, `git mktree --batch` writes every tree, children before parents. Returns the root
 * tree's sha, checked against the one computed here (the sha a plan decided "unchanged" with).
 * `blobs` must hold the content of every blob of `files` the repository does not have yet.
 */
export async function writeObjects(gitDir: string, files: Map<string, TreeFile>, blobs: Iterable<Buffer>): Promise<WrittenObjects> {
  const built = buildTree(files);
  const content = new Map<string, Buffer>();
  for (const body of blobs) content.set(blobSha(body), body);
  const wanted = [...new Set([...files.values()].filter((f) => f.mode !== '160000').map((f) => f.sha))];
  let blobsWritten = 0;
  if (wanted.length > 0) {
    const check = await git(['cat-file', '--batch-check=%(objectname) %(objecttype)'], { gitDir, input: wanted.join('\n') + '\n' });
    const missing = check.stdout
      .split('\n')
      .filter((line) => line.endsWith(' missing'))
      .map((line) => line.split(' ')[0]);
    if (missing.length > 0) {
      const stream: Buffer[] = [];
      for (const sha of missing) {
        const body = content.get(sha);
        if (!body) throw new Error(`git objects: no content for blob ${sha}, which ${gitDir} does not have`);
        stream.push(Buffer.from(`blob\ndata ${body.length}\n`), body, Buffer.from('\n'));
      }
      await git(['fast-import', '--quiet'], { gitDir, input: Buffer.concat(stream) });
      blobsWritten = missing.length;
    }
  }
  // built.trees is in post-order (every subtree before the tree naming it), the order mktree needs
  const trees = [...built.trees.values()];
  const input = files.size === 0 ? Buffer.alloc(0) : Buffer.concat(trees.flatMap((t) => [mktreeRecords(t.body), Buffer.from([0])]));
  const out = await git(files.size === 0 ? ['mktree', '-z'] : ['mktree', '-z', '--batch'], { gitDir, input });
  const shas = out.stdout.trim().split('\n');
  if (shas.at(-1) !== built.sha) {
    throw new Error(`git objects: git built tree ${shas.at(-1)} where ${built.sha} was computed (${gitDir})`);
  }
  return { tree: built.sha, blobsWritten };
}

export interface WrittenObjects {
  /** sha of the root tree */
  tree: string;
  /** blobs the repository lacked and now holds */
  blobsWritten: number;
}
