import type { Change, InState, Task } from '../runner/types.ts';
import { fileFact } from './file.ts';
import { q, run } from './shell.ts';

export interface DirectorySpec {
  path: string;
  mode?: string;
  owner?: string;
  group?: string;
  state?: 'present' | 'absent';
  name?: string;
  tags?: string[];
}

export function directory(spec: DirectorySpec): Task {
  const mode = (spec.mode ?? '0755').padStart(4, '0');
  const owner = spec.owner ?? 'root';
  const group = spec.group ?? owner;
  return {
    name: spec.name ?? `directory ${spec.path}`,
    tags: spec.tags,
    files: [{ path: spec.path }],
    plan(state): Change | InState {
      const st = fileFact(state, spec.path);
      if (spec.state === 'absent') {
        if (!st.exists) return { ok: `${spec.path} is absent` };
        return {
          summary: `remove ${spec.path}`,
          commands: [`rm -rf -- ${q(spec.path)}`],
          apply: (c) => run(c, `rm -rf -- ${q(spec.path)}`, `rm ${spec.path}`).then(() => undefined),
        };
      }
      if (st.exists && st.type !== 'directory') throw new Error(`${spec.path} exists and is a ${st.type}, not a directory`);
      if (st.exists && st.mode === mode && st.owner === owner && st.group === group)
        return { ok: `${spec.path} is a directory, mode ${mode} ${owner}:${group}` };
      const script = `mkdir -p ${q(spec.path)} && chown ${q(`${owner}:${group}`)} ${q(spec.path)} && chmod ${mode} ${q(spec.path)}`;
      const summary = st.exists
        ? `${spec.path}: ${st.mode} ${st.owner}:${st.group} -> ${mode} ${owner}:${group}`
        : `create ${spec.path} (${mode} ${owner}:${group})`;
      return {
        summary,
        commands: [script],
        apply: (c) => run(c, script, `directory ${spec.path}`).then(() => undefined),
      };
    },
  };
}
