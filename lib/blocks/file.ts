// File content, mode and owner. The probe reads only metadata and a hash; the current content is
// fetched only to show a diff, and the new content is uploaded atomically.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Handlebars from 'handlebars';
import type { Change, HostContext, Task } from '../runner/types.ts';
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

export const statProbe = (path: string) =>
  `f=${q(path)}; if [ -L "$f" ] || [ -e "$f" ]; then stat -c '%F|%a|%U|%G' -- "$f"; else echo absent; fi`;

export interface StatInfo {
  exists: boolean;
  type: string;
  mode: string;
  owner: string;
  group: string;
}

export function parseStat(line: string): StatInfo {
  const l = line.trim();
  if (l === 'absent' || l === '') return { exists: false, type: '', mode: '', owner: '', group: '' };
  const [type, mode, owner, group] = l.split('|');
  return { exists: true, type, mode: mode.padStart(4, '0'), owner, group };
}

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
    // sha256sum prints "HASH  -": the first word is taken here rather than by one more process (cut)
    probe: `${statProbe(spec.path)}; [ -f ${q(spec.path)} ] && sha256sum < ${q(spec.path)} || true`,
    async plan(state, ctx: HostContext): Promise<Change | null> {
      const [statLine, hashLine = ''] = state.stdout.split('\n');
      const st = parseStat(statLine);
      if (st.exists && st.type !== 'regular file' && st.type !== 'regular empty file') {
        throw new Error(`${spec.path} exists and is a ${st.type}, not a regular file`);
      }
      const contentDiffers = !st.exists || firstWord(hashLine) !== wantHash;
      const metaDiffers = st.exists && (st.mode !== mode || st.owner !== owner || st.group !== group);
      if (!contentDiffers && !metaDiffers) return null;
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
      return {
        summary: `${spec.path}: ${parts.join(', ')}`,
        diff: contentDiffers ? [{ path: spec.path, before, after: spec.content.toString(), secret: spec.secret }] : undefined,
        async apply(c) {
          if (contentDiffers) {
            await c.conn.upload(spec.path, spec.content, { mode: parseInt(mode, 8), owner, group, become: true });
          } else {
            await run(c, `chown ${q(`${owner}:${group}`)} ${q(spec.path)} && chmod ${mode} ${q(spec.path)}`, `chmod/chown ${spec.path}`);
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
    probe: statProbe(path),
    plan(state) {
      const st = parseStat(state.stdout.split('\n')[0]);
      if (!st.exists) return null;
      return {
        summary: `remove ${path}`,
        apply: (c) => run(c, `rm -rf -- ${q(path)}`, `remove ${path}`).then(() => undefined),
      };
    },
  };
}
