// The state of every file the tasks of a probe batch ask about, in a handful of processes for the
// whole batch: one `stat` for all paths, one `sha256sum` for the files owned as a whole, one
// `cat | base64` for the files edited in place. Per file that was a stat, a sha256sum or a base64
// of its own in each task's probe, and processes are most of what a no-op costs on a host.
import { createHash } from 'node:crypto';
import { shSingleQuote as q } from '../ssh/shell.ts';
import type { Fact } from './fact.ts';

/** A file whose state a task reads; every file query of a batch costs the host one `stat` in all. */
export interface FileQuery {
  /** absolute path */
  path: string;
  /** sha256 of the content (through a symlink), for files owned as a whole */
  hash?: boolean;
  /** the content itself (through a symlink), for small files edited in place */
  content?: boolean;
}

/** The state of a queried file; `type` is stat's %F of the path itself (a symlink is not followed). */
export interface FileFact {
  exists: boolean;
  type: string;
  /** four octal digits, e.g. 0644 */
  mode: string;
  owner: string;
  group: string;
  /** stat's %s of the path itself (bytes; a symlink's own length) */
  size?: number;
  /** when asked for and the path is (or links to) a regular file */
  sha256?: string;
  content?: Buffer;
}

const HASH_SECTION = '@@cs-hash';
const CONTENT_SECTION = '@@cs-content';
const DATA_SECTION = '@@cs-data';

export interface FileFactsProbe {
  probe: string;
  parse(stdout: string): Map<string, FileFact>;
}

/** Paths the probe can name unambiguously in stat's and sha256sum's output. */
function checkPath(path: string): void {
  if (!path.startsWith('/') || /[\n\\]/.test(path)) {
    throw new Error(`file query ${JSON.stringify(path)}: an absolute path without newline or backslash is needed`);
  }
}

/** Keep the positional parameters that are (or link to) regular files. */
const REGULAR_ONLY = 'n=$#; for f; do [ -f "$f" ] && set -- "$@" "$f"; done; shift $n';

export function fileFactsProbe(queries: FileQuery[]): FileFactsProbe {
  const merged = new Map<string, FileQuery>();
  for (const query of queries) {
    checkPath(query.path);
    const seen = merged.get(query.path) ?? { path: query.path };
    merged.set(query.path, { path: query.path, hash: seen.hash || query.hash, content: seen.content || query.content });
  }
  const all = [...merged.values()];
  const hashed = all.filter((x) => x.hash && !x.content).map((x) => x.path);
  const read = all.filter((x) => x.content).map((x) => x.path);
  const words = (paths: string[]) => paths.map(q).join(' ');
  const lines = [`set -- ${words(all.map((x) => x.path))}`, `stat -c '%F|%a|%U|%G|%s|%n' -- "$@" 2>/dev/null`];
  if (hashed.length) {
    lines.push(`echo ${HASH_SECTION}`, `set -- ${words(hashed)}`, REGULAR_ONLY, '[ $# -eq 0 ] || sha256sum -- "$@" 2>/dev/null');
  }
  if (read.length) {
    lines.push(
      `echo ${CONTENT_SECTION}`,
      `set -- ${words(read)}`,
      REGULAR_ONLY,
      'if [ $# -gt 0 ]; then',
      // the sizes in the first stat are those of a symlink itself: follow links only when there are some
      `  for f; do [ -L "$f" ] && { stat -L -c '%s|%n' -- "$@"; break; }; done`,
      `  echo ${DATA_SECTION}; cat -- "$@" | base64 -w0`,
      'fi',
    );
  }
  // missing paths make stat and sha256sum fail: that is part of the answer, not a failed probe
  lines.push(':');
  return { probe: lines.join('\n'), parse: (stdout) => parseFileFacts(stdout, all) };
}

/** `a|b|c|d|e|name`: the name is everything after the last field (it may contain `|`). */
function splitFields(line: string, fields: number): string[] | undefined {
  const parts: string[] = [];
  let rest = line;
  for (let i = 0; i < fields; i++) {
    const bar = rest.indexOf('|');
    if (bar < 0) return undefined;
    parts.push(rest.slice(0, bar));
    rest = rest.slice(bar + 1);
  }
  return [...parts, rest];
}

export function parseFileFacts(stdout: string, queries: FileQuery[]): Map<string, FileFact> {
  const facts = new Map<string, FileFact>();
  const sizes = new Map<string, number>();
  /** sizes through symlinks (stat -L), printed only when a file read was a symlink */
  const followed = new Map<string, number>();
  let part: 'stat' | 'hash' | 'content' | 'data' = 'stat';
  let data: Buffer | undefined;
  for (const line of stdout.split('\n')) {
    if (line === HASH_SECTION) part = 'hash';
    else if (line === CONTENT_SECTION) part = 'content';
    else if (line === DATA_SECTION) part = 'data';
    else if (part === 'stat') {
      const f = splitFields(line, 5);
      if (!f) continue;
      const [type, mode, owner, group, size, name] = f;
      facts.set(name, { exists: true, type, mode: mode.padStart(4, '0'), owner, group, size: Number(size) });
      sizes.set(name, Number(size));
    } else if (part === 'hash') {
      const m = /^([0-9a-f]{64}) [ *](.*)$/.exec(line);
      const fact = m && facts.get(m[2]);
      if (fact) fact.sha256 = m[1];
    } else if (part === 'content') {
      const f = splitFields(line, 1);
      if (f) followed.set(f[1], Number(f[0]));
    } else if (data === undefined) {
      data = Buffer.from(line.trim(), 'base64');
    }
  }
  if (data !== undefined) {
    // the files `cat` read, in query order: what stat -L listed, else the regular files
    const read = queries.filter((x) =>
      followed.size ? followed.has(x.path) : x.content && /^regular (empty )?file$/.test(facts.get(x.path)?.type ?? ''),
    );
    const sizeOf = (path: string) => (followed.size ? followed.get(path)! : sizes.get(path)!);
    const total = read.reduce((sum, x) => sum + sizeOf(x.path), 0);
    if (total !== data.length) {
      throw new Error(`files changed while they were read (${read.map((x) => x.path).join(', ')}); run again`);
    }
    let offset = 0;
    for (const x of read) {
      const fact = facts.get(x.path)!;
      const size = sizeOf(x.path);
      fact.content = data.subarray(offset, offset + size);
      fact.sha256 = createHash('sha256').update(fact.content).digest('hex');
      offset += size;
    }
  }
  for (const x of queries) {
    if (!facts.has(x.path)) facts.set(x.path, { exists: false, type: '', mode: '', owner: '', group: '' });
  }
  return facts;
}

/** The files of a batch: one stat (and one sha256sum, one cat) for every path any task asked about. */
export const filesFact: Fact<Map<string, FileFact>, FileQuery> = {
  name: 'files',
  command: (queries) => fileFactsProbe([...queries]).probe,
  parse: (stdout, queries) => fileFactsProbe([...queries]).parse(stdout),
  // the same path asked with other flags is a separate request (fileFactsProbe merges the flags)
  paramKey: (q) => `${q.path}\0${q.hash ? 1 : 0}${q.content ? 1 : 0}`,
};
