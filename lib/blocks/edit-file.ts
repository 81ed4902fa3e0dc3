// A line or a marked block inside a file that clusterseed does not own as a whole.
// The probe fetches the file (these are small config files); the edit is computed locally and
// the result written back atomically with the file's own mode and owner.
import type { Change, HostContext, InState, Task } from '../runner/types.ts';
import { fileFact, textOf } from './file.ts';

export interface EditSpec {
  path: string;
  name: string;
  /** create the file when missing (with mode/owner below) */
  create?: boolean;
  mode?: string;
  owner?: string;
  group?: string;
  notify?: string[];
  tags?: string[];
}

function editTask(spec: EditSpec, edit: (current: string) => string, describe: string, inState: string): Task {
  return {
    name: spec.name,
    tags: spec.tags,
    notify: spec.notify,
    files: [{ path: spec.path, content: true }],
    plan(state, ctx: HostContext): Change | InState {
      const st = fileFact(state, spec.path);
      if (!st.exists && !spec.create) {
        // in check mode an earlier task may be what would create it
        if (!ctx.options.check) throw new Error(`${spec.path} does not exist`);
        return { summary: `${spec.path}: ${describe} (the file does not exist yet)`, apply: async () => undefined };
      }
      const current = textOf(st);
      const next = edit(current);
      if (st.exists && next === current) return { ok: `${spec.path}: ${inState}` };
      const mode = st.exists ? st.mode : (spec.mode ?? '0644');
      const owner = st.exists ? st.owner : (spec.owner ?? 'root');
      const group = st.exists ? st.group : (spec.group ?? owner);
      return {
        summary: `${spec.path}: ${describe}`,
        diff: [{ path: spec.path, before: current, after: next }],
        commands: [`upload ${spec.path} (${Buffer.byteLength(next)} bytes, mode ${mode} ${owner}:${group}; atomic rename)`],
        apply: (c) => c.conn.upload(spec.path, next, { mode: parseInt(mode, 8), owner, group, become: true }),
      };
    },
  };
}

export interface LineSpec extends EditSpec {
  line: string;
  /** lines matching this are replaced by `line` (the last match; others removed) */
  regexp?: RegExp;
  state?: 'present' | 'absent';
}

/** Pure edit used by the task (exported for unit tests). */
export function editLine(current: string, spec: Pick<LineSpec, 'line' | 'regexp' | 'state'>): string {
  const lines = current === '' ? [] : current.replace(/\n$/, '').split('\n');
  const matches = (l: string) => (spec.regexp ? spec.regexp.test(l) : l === spec.line);
  if (spec.state === 'absent') {
    const kept = lines.filter((l) => !matches(l));
    return kept.length === lines.length ? current : kept.join('\n') + (kept.length ? '\n' : '');
  }
  const idx = lines.map((l, i) => (matches(l) ? i : -1)).filter((i) => i >= 0);
  if (idx.length === 1 && lines[idx[0]] === spec.line) return current;
  let out: string[];
  if (idx.length === 0) out = [...lines, spec.line];
  else {
    const last = idx[idx.length - 1];
    out = lines.flatMap((l, i) => (i === last ? [spec.line] : idx.includes(i) ? [] : [l]));
  }
  return out.join('\n') + '\n';
}

export function lineInFile(spec: LineSpec): Task {
  return editTask(
    spec,
    (c) => editLine(c, spec),
    spec.state === 'absent' ? `remove line` : `ensure line "${spec.line}"`,
    spec.state === 'absent' ? `no line to remove` : `already has the line "${spec.line}"`,
  );
}

export interface BlockSpec extends EditSpec {
  /** marker id: lines "# BEGIN clusterseed <marker>" / "# END clusterseed <marker>" */
  marker: string;
  block: string;
  state?: 'present' | 'absent';
  comment?: string;
}

export function editBlock(current: string, spec: Pick<BlockSpec, 'marker' | 'block' | 'state' | 'comment'>): string {
  const c = spec.comment ?? '#';
  const begin = `${c} BEGIN clusterseed ${spec.marker}`;
  const end = `${c} END clusterseed ${spec.marker}`;
  const lines = current === '' ? [] : current.replace(/\n$/, '').split('\n');
  const b = lines.indexOf(begin);
  const e = b >= 0 ? lines.indexOf(end, b) : -1;
  const body = spec.block.replace(/\n$/, '').split('\n');
  let out: string[];
  if (spec.state === 'absent') {
    if (b < 0 || e < 0) return current;
    out = [...lines.slice(0, b), ...lines.slice(e + 1)];
  } else if (b >= 0 && e >= 0) {
    out = [...lines.slice(0, b), begin, ...body, end, ...lines.slice(e + 1)];
  } else {
    out = [...lines, begin, ...body, end];
  }
  const text = out.length ? out.join('\n') + '\n' : '';
  return text === current ? current : text;
}

export function blockInFile(spec: BlockSpec): Task {
  return editTask(
    spec,
    (c) => editBlock(c, spec),
    spec.state === 'absent' ? `remove block ${spec.marker}` : `ensure block ${spec.marker}`,
    spec.state === 'absent' ? `no block ${spec.marker}` : `block ${spec.marker} already as wanted`,
  );
}
