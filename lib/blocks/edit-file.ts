// A line or a marked block inside a file that clusterseed does not own as a whole.
// The probe fetches the file (these are small config files); the edit is computed locally and
// the result written back atomically with the file's own mode and owner.
import type { Change, FileFact, HostContext, InState, Task } from '../runner/types.ts';
import { fileFact, textOf } from './file.ts';

export interface EditSpec {
  path: string;
  name: string;
  /** create the file when missing (with mode/owner below) */
  create?: boolean;
  /**
   * A missing file (and no `create`): `in-state` = nothing to edit; a function = fail with its
   * message (also in check mode). Default: fail with "<path> does not exist" (check mode: the
   * change is shown, an earlier task may create the file).
   */
  ifMissing?: 'in-state' | ((ctx: HostContext) => string);
  mode?: string;
  owner?: string;
  group?: string;
  notify?: string[];
  tags?: string[];
  when?: (ctx: HostContext) => boolean;
}

/**
 * Writes the edited text back atomically (the transport's upload: temp file + rename) with the
 * file's own mode and owner, as every edit of a file clusterseed does not own as a whole does.
 */
export function writeEdited(ctx: HostContext, path: string, next: string, st: Pick<FileFact, 'mode' | 'owner' | 'group'>): Promise<void> {
  return ctx.conn.upload(path, next, { mode: parseInt(st.mode, 8), owner: st.owner, group: st.group, become: true });
}

function editTask(
  spec: EditSpec,
  edit: (current: string) => string,
  describe: string | ((current: string, next: string) => string),
  inState: string,
): Task {
  return {
    name: spec.name,
    tags: spec.tags,
    notify: spec.notify,
    ...(spec.when && { when: spec.when }),
    files: [{ path: spec.path, content: true }],
    plan(state, ctx: HostContext): Change | InState {
      const st = fileFact(state, spec.path);
      if (!st.exists && !spec.create) {
        if (spec.ifMissing === 'in-state') return { ok: `${spec.path} does not exist: nothing to edit` };
        if (spec.ifMissing) throw new Error(spec.ifMissing(ctx));
        // in check mode an earlier task may be what would create it
        if (!ctx.options.check) throw new Error(`${spec.path} does not exist`);
        return {
          summary: `${spec.path}: ${typeof describe === 'string' ? describe : 'edit'} (the file does not exist yet)`,
          apply: async () => undefined,
        };
      }
      const current = textOf(st);
      const next = edit(current);
      if (st.exists && next === current) return { ok: `${spec.path}: ${inState}` };
      const mode = st.exists ? st.mode : (spec.mode ?? '0644');
      const owner = st.exists ? st.owner : (spec.owner ?? 'root');
      const group = st.exists ? st.group : (spec.group ?? owner);
      return {
        summary: `${spec.path}: ${typeof describe === 'string' ? describe : describe(current, next)}`,
        diff: [{ path: spec.path, before: current, after: next }],
        commands: [`upload ${spec.path} (${Buffer.byteLength(next)} bytes, mode ${mode} ${owner}:${group}; atomic rename)`],
        apply: (c) => writeEdited(c, spec.path, next, { mode, owner, group }),
      };
    },
  };
}

export interface EditFileSpec extends EditSpec {
  /** the whole edit: current text → wanted text (returns `current` when nothing is to change) */
  edit: (current: string) => string;
  /** what the change does, after "<path>: " in its summary */
  describe: (current: string, next: string) => string;
}

/** Any edit computed from the current text (a line, a word on the kernel command line, commented-out entries). */
export function editFile(spec: EditFileSpec): Task {
  return editTask(spec, spec.edit, spec.describe, 'already as wanted');
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
