// A command guarded by a state probe: it runs only when the probe says the state is not reached
// (probe exit code != 0), like Ansible's creates/removes but for any condition.
import type { Change, HostContext, InState, Task } from '../runner/types.ts';
import { run } from './shell.ts';

export interface CommandSpec {
  name: string;
  /** sh that exits 0 when the desired state is already there */
  probe: string;
  /** sh that establishes it */
  run: string;
  /** data for the command's stdin (secrets go here, never into the command line) */
  stdin?: () => string | Buffer;
  summary?: string;
  notify?: string[];
  tags?: string[];
  when?: (ctx: HostContext) => boolean;
}

/** A script shortened to one line for a reason. */
function oneLine(script: string): string {
  const line = script.trim().replace(/\s*\n\s*/g, '; ');
  return line.length > 100 ? `${line.slice(0, 97)}...` : line;
}

export function command(spec: CommandSpec): Task {
  return {
    name: spec.name,
    tags: spec.tags,
    notify: spec.notify,
    when: spec.when,
    probe: spec.probe,
    plan(state): Change | InState {
      if (state.code === 0) return { ok: `done already: its check passed (${oneLine(spec.probe)})` };
      return {
        summary: spec.summary ?? spec.name,
        commands: [spec.run],
        apply: (c) => run(c, spec.run, spec.name, spec.stdin?.()).then(() => undefined),
      };
    },
  };
}
