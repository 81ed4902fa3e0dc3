// The K3s service of a node: (re)started only when something it starts from changed, then waited for
// until Ready. The decision is persisted: after a successful (re)start the hashes of everything the
// service was started with are stamped on the host, so a restart that a failed run never got to is
// still done by the next run (an in-memory handler would forget it).
import type { Change, Task } from '../../lib/runner/types.ts';
import { run } from '../../lib/blocks/shell.ts';
import { fileFact, textOf } from '../../lib/blocks/file.ts';
import { unitState } from '../../lib/blocks/unit-state.ts';
import { waitForNode } from './readiness.ts';
import { serviceName, type NodeKind } from '../../lib/k3s/systemd.ts';
import { putFile } from '../../lib/blocks/remote.ts';

export const STAMP_PATH = '/etc/rancher/k3s/.clusterseed-applied';

export interface ServiceSpec {
  kind: NodeKind;
  /** sha256 of everything the service starts from, by name */
  inputs: Record<string, string>;
  version: string;
  etcdVoter: boolean;
  readyTimeoutMs: number;
}

export function stampOf(inputs: Record<string, string>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(inputs).sort(([a], [b]) => a.localeCompare(b))));
}

/** Which inputs differ between the stamp on the host and the wanted one ('' = never started by us). */
export function changedInputs(stamp: string, inputs: Record<string, string>): string[] | null {
  let old: Record<string, string>;
  try {
    old = JSON.parse(stamp);
  } catch {
    return null;
  }
  return Object.keys(inputs)
    .filter((k) => old[k] !== inputs[k])
    .concat(Object.keys(old).filter((k) => !(k in inputs)));
}

export function serviceTask(spec: ServiceSpec): Task {
  const unit = `${serviceName(spec.kind)}.service`;
  const stamp = stampOf(spec.inputs);
  return {
    name: `${unit} running the installed configuration`,
    files: [{ path: STAMP_PATH, content: true }],
    units: [unit],
    plan(state): Change | null {
      const current = textOf(fileFact(state, STAMP_PATH)).trim();
      const units = unitState(state, unit);
      const active = units.active === 'active';
      const enabled = units.unitFile === 'enabled';
      const changed = current === '' ? null : changedInputs(current, spec.inputs);
      const restart = current !== stamp || !active;
      if (!restart && enabled) return null;
      let summary: string;
      if (!restart) summary = `enable ${unit}`;
      else if (current === '' || changed === null) summary = active ? `restart ${unit} (started outside clusterseed)` : `start ${unit}`;
      else if (changed.length) summary = `restart ${unit}: ${changed.join(', ')} changed`;
      else summary = `start ${unit} (was ${units.active || 'not running'})`;
      return {
        summary,
        async apply(c) {
          const steps = ['systemctl daemon-reload', `systemctl enable ${unit} >/dev/null 2>&1 || systemctl enable ${unit}`];
          // --no-block: with TimeoutStartSec=0 a start waits for READY=1 forever; we poll with a deadline
          if (restart) steps.push(`systemctl restart --no-block ${unit}`);
          await run(c, steps.join(' && '), `${restart ? 'restart' : 'enable'} ${unit}`);
          if (!restart) return;
          await waitForNode(c, {
            kind: spec.kind,
            want: { version: spec.version, etcdVoter: spec.etcdVoter },
            timeoutMs: spec.readyTimeoutMs,
          });
          await putFile(c, STAMP_PATH, `${stamp}\n`, { mode: 0o600 });
        },
      };
    },
  };
}
