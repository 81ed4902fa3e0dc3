// Joining needs a working cluster. Nodes mark themselves started and converged in the run's shared
// state; a node that would join through servers that failed earlier in the same run fails at once
// instead of waiting out its ready timeout.
import type { HostContext, Task } from '../../lib/runner/types.ts';
import { settingsFor } from '../../lib/k3s/settings.ts';
import type { NodeKind } from '../../lib/k3s/systemd.ts';

const startedKey = (host: string) => `k3s.started:${host}`;
const doneKey = (host: string) => `k3s.converged:${host}`;

/** Marks the node as converged in this run (the last task: reached only when all before succeeded). */
export function convergedTask(): Task {
  return {
    name: 'node converged',
    plan(_state, ctx): null {
      ctx.shared.set(doneKey(ctx.host.name), true);
      return null;
    },
  };
}

/** A server of this run that will not be there to join: unreachable, or its role failed. */
function failedInRun(ctx: HostContext, server: string): boolean {
  const peer = ctx.peers.get(server);
  if (!peer) return false; // not part of the run (--limit): assumed running
  if (!peer.facts.arch) return true; // never got past connecting and facts
  return !!ctx.shared.get(startedKey(server)) && !ctx.shared.get(doneKey(server));
}

/**
 * Joining needs a working cluster: when the servers it joins through took part in this run and
 * failed, fail now instead of waiting out the ready timeout.
 */
export function joinTargetTask(kind: NodeKind): Task {
  return {
    name: 'the cluster to join is up',
    plan(_state, ctx): null {
      ctx.shared.set(startedKey(ctx.host.name), true);
      const cluster = settingsFor(ctx).cluster;
      const first = cluster.servers[0];
      if (kind === 'server') {
        if (ctx.host.name === first) return null;
        if (ctx.peers.has(first) && ctx.peers.get(first)!.facts.arch && !ctx.shared.get(startedKey(first))) {
          // serial roles go through hosts in the order of `hosts:` in the inventory
          throw new Error(
            `${first} initialises the cluster (first in groups.servers) but comes after ${ctx.host.name} under hosts: in the inventory; list ${first} first`,
          );
        }
        if (!failedInRun(ctx, first)) return null;
        throw new Error(`the first server ${first} failed in this run; ${ctx.host.name} does not try to join it`);
      }
      const inRun = cluster.servers.filter((s) => ctx.peers.has(s));
      if (inRun.length === 0 || inRun.some((s) => !failedInRun(ctx, s))) return null;
      throw new Error(
        `every server of cluster "${cluster.name}" in this run failed (${inRun.join(', ')}); ${ctx.host.name} does not try to join`,
      );
    },
  };
}
