// systemd units: enabled/disabled, started/stopped; restart and reload are handlers.
import type { Change, Handler, HostContext, InState, Task } from '../runner/types.ts';
import { q, run } from './shell.ts';
import { isActiveState, isEnabledState, unitState } from './unit-state.ts';

export interface ServiceSpec {
  name: string;
  enabled?: boolean;
  state?: 'started' | 'stopped';
  /** run `systemctl daemon-reload` first when the unit file changed on disk */
  daemonReload?: boolean;
  tags?: string[];
  taskName?: string;
}

export function service(spec: ServiceSpec): Task {
  const unit = spec.name;
  return {
    name: spec.taskName ?? `service ${unit}`,
    tags: spec.tags,
    units: [unit],
    plan(state): Change | InState {
      const st = unitState(state, unit);
      const actions: string[] = [];
      if (spec.enabled === true && !isEnabledState(st.unitFile)) actions.push(`enable`);
      if (spec.enabled === false && st.unitFile === 'enabled') actions.push(`disable`);
      const isActive = isActiveState(st.active);
      if (spec.state === 'started' && !isActive) actions.push('start');
      if (spec.state === 'stopped' && isActive) actions.push('stop');
      if (actions.length === 0) {
        const said = [
          ...(spec.enabled !== undefined ? [st.unitFile || 'unknown'] : []),
          ...(spec.state !== undefined ? [st.active || 'unknown'] : []),
        ];
        return { ok: said.length ? `${unit} is ${said.join(' and ')}` : `${unit}: nothing asked of it` };
      }
      const cmds: string[] = [];
      if (spec.daemonReload || st.needsDaemonReload) cmds.push('systemctl daemon-reload');
      for (const a of actions) cmds.push(`systemctl ${a} ${q(unit)}`);
      return {
        summary: `${unit}: ${actions.join(', ')} (was ${st.unitFile || 'unknown'}/${st.active || 'unknown'})`,
        commands: cmds,
        async apply(c: HostContext) {
          await run(c, cmds.join(' && '), `systemctl ${actions.join(',')} ${unit}`);
        },
      };
    },
  };
}

/** A handler that restarts (or reloads) a unit once at the end of the role. */
export function serviceHandler(name: string, unit: string, action: 'restart' | 'reload' | 'daemon-reload-restart'): Handler {
  return {
    name,
    async run(ctx) {
      const cmd =
        action === 'daemon-reload-restart' ? `systemctl daemon-reload && systemctl restart ${q(unit)}` : `systemctl ${action} ${q(unit)}`;
      await run(ctx, cmd, `${action} ${unit}`);
    },
  };
}
