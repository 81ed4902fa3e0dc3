// File content, mode and owner. The probe reads only metadata and a hash (gathered with the other
// files of the batch, lib/facts/files.ts); the current content is fetched only to show a
// diff, and the new content is uploaded atomically.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Handlebars from 'handlebars';
import type { Change, FileFact, HostContext, InState, ProbeResult, Task } from '../runner/types.ts';
import { q, run } from './shell.ts';

export interface FileSpec {
  path: string;
  content: string | Buffer;
  /** octal string, e.g. '0644' */
  mode?: string;
  owner?: string;
  group?: string;
  /** mask content in diffs and reports */
  secret?: boolean;
  name?: string;
  tags?: string[];
  notify?: string[];
}

/** The state of a path the task listed in `files`, as the probe batch gathered it. */
export function fileFact(state: ProbeResult, path: string): FileFact {
  const fact = state.files?.get(path);
  if (!fact) throw new Error(`${path}: not among the files this task asked for (a bug in the task)`);
  return fact;
}

export const isRegularFile = (fact: FileFact) => fact.type === 'regular file' || fact.type === 'regular empty file';

/** The content of a file fact as text ('' when absent or not a regular file). */
export const textOf = (fact: FileFact) => fact.content?.toString('utf8') ?? '';

/** The hash in a `sha256sum` output line ("HASH  -" or "HASH  FILE"); '' for none. */
export function firstWord(line: string): string {
  return line.trim().split(/\s+/)[0] ?? '';
}

export function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

// Compiled once per process: every host renders the same role templates, and compiling is most
// of a render's cost (the templates ship with the tool and do not change during a run).
const compiled = new Map<string, HandlebarsTemplateDelegate>();

/** Render a Handlebars template file (no HTML escaping: these are config files). */
export function renderTemplate(file: string, data: unknown): string {
  let fn = compiled.get(file);
  if (!fn) {
    fn = Handlebars.compile(readFileSync(file, 'utf8'), { noEscape: true, strict: true });
    compiled.set(file, fn);
  }
  return fn(data);
}

export function file(spec: FileSpec): Task {
  const mode = (spec.mode ?? '0644').padStart(4, '0');
  const owner = spec.owner ?? 'root';
  const group = spec.group ?? owner;
  const wantHash = sha256(spec.content);
  return {
    name: spec.name ?? `file ${spec.path}`,
    tags: spec.tags,
    notify: spec.notify,
    files: [{ path: spec.path, hash: true }],
    async plan(state, ctx: HostContext): Promise<Change | InState> {
      const st = fileFact(state, spec.path);
      if (st.exists && !isRegularFile(st)) {
        throw new Error(`${spec.path} exists and is a ${st.type}, not a regular file`);
      }
      const contentDiffers = !st.exists || st.sha256 !== wantHash;
      const metaDiffers = st.exists && (st.mode !== mode || st.owner !== owner || st.group !== group);
      if (!contentDiffers && !metaDiffers) return { ok: `${spec.path} already has the wanted content, mode ${mode} ${owner}:${group}` };
      const parts: string[] = [];
      if (!st.exists) parts.push(`create (${mode} ${owner}:${group})`);
      else {
        if (contentDiffers) parts.push('update content');
        if (st.mode !== mode) parts.push(`mode ${st.mode} -> ${mode}`);
        if (st.owner !== owner || st.group !== group) parts.push(`owner ${st.owner}:${st.group} -> ${owner}:${group}`);
      }
      let before = '';
      if (contentDiffers && st.exists && ctx.options.diff && !spec.secret) {
        before = (await ctx.conn.download(spec.path, { become: true })).toString('utf8');
      }
      const chmod = `chown ${q(`${owner}:${group}`)} ${q(spec.path)} && chmod ${mode} ${q(spec.path)}`;
      return {
        summary: `${spec.path}: ${parts.join(', ')}`,
        commands: [
          contentDiffers
            ? `upload ${spec.path} (${Buffer.byteLength(spec.content)} bytes, mode ${mode} ${owner}:${group}; atomic rename)`
            : chmod,
        ],
        diff: contentDiffers
          ? [
              {
                path: spec.path,
                before,
                after: spec.content.toString(),
                secret: spec.secret,
                ...(spec.secret ? { beforeBytes: st.exists ? (st.size ?? 0) : 0, afterBytes: Buffer.byteLength(spec.content) } : {}),
              },
            ]
          : undefined,
        async apply(c) {
          if (contentDiffers) {
            await c.conn.upload(spec.path, spec.content, { mode: parseInt(mode, 8), owner, group, become: true });
          } else {
            await run(c, chmod, `chmod/chown ${spec.path}`);
          }
        },
      };
    },
  };
}

export function absent(path: string, opts: { name?: string; notify?: string[] } = {}): Task {
  return {
    name: opts.name ?? `absent ${path}`,
    notify: opts.notify,
    files: [{ path }],
    plan(state) {
      if (!fileFact(state, path).exists) return { ok: `${path} is absent` };
      return {
        summary: `remove ${path}`,
        commands: [`rm -rf -- ${q(path)}`],
        apply: (c) => run(c, `rm -rf -- ${q(path)}`, `remove ${path}`).then(() => undefined),
      };
    },
  };
}
