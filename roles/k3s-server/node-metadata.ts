// Node labels and taints from the inventory, kept in step through the API (asked through a server).
// K3s passes `node-label`/`node-taint` to the kubelet, which applies them only when the node first
// registers, and the kubelet may not set labels in the kubernetes.io/k8s.io namespaces other than its
// own (NodeRestriction; e.g. node-role.kubernetes.io/worker). Both would make the inventory silently
// wrong about workload placement, so this task sets what differs with kubectl. Which keys clusterseed
// owns is recorded in two annotations, so a label or taint removed from the inventory is removed
// from the node while labels set by others are left alone.
import type { HostSpec } from '../../lib/inventory/model.ts';
import { parseTaint } from '../../lib/inventory/syntax.ts';
import type { HostContext, PlanResult, Task } from '../../lib/runner/types.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { apiObserver, nodeQuery, nodeStatus, parseNode, type NodeStatus } from './readiness.ts';

export const MANAGED_LABELS = 'clusterseed.io/managed-labels';
export const MANAGED_TAINTS = 'clusterseed.io/managed-taints';

export interface MetadataPlan {
  /** "key=value" to set, "key-" to remove */
  labels: string[];
  /** "key=value:Effect" / "key:Effect" to set, "key:Effect-" to remove */
  taints: string[];
  /** new values of the two annotations, when they differ */
  annotations: string[];
}

const taintText = (t: { key: string; value?: string; effect: string }) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
const taintId = (t: { key: string; effect: string }) => `${t.key}:${t.effect}`;
const splitList = (v: string | undefined) => (v ? v.split(',').filter(Boolean) : []);

export function planNodeMetadata(status: NodeStatus, host: HostSpec): MetadataPlan {
  const labels: string[] = [];
  for (const [k, v] of Object.entries(host.labels).sort(([a], [b]) => a.localeCompare(b))) {
    if (status.labels[k] !== v) labels.push(`${k}=${v}`);
  }
  for (const k of splitList(status.annotations[MANAGED_LABELS])) {
    if (!(k in host.labels) && k in status.labels) labels.push(`${k}-`);
  }

  const wanted = host.taints.map((t) => {
    const parsed = parseTaint(t);
    if (typeof parsed === 'string') throw new Error(`hosts.${host.name}.taints: ${parsed}`);
    return parsed;
  });
  const taints: string[] = [];
  for (const t of wanted) {
    const present = status.taints.some((c) => c.key === t.key && c.effect === t.effect && (c.value ?? '') === t.value);
    if (!present) taints.push(taintText(t));
  }
  const wantedIds = new Set(wanted.map(taintId));
  for (const id of splitList(status.annotations[MANAGED_TAINTS])) {
    if (!wantedIds.has(id) && status.taints.some((c) => taintId(c) === id)) taints.push(`${id}-`);
  }

  const annotations: string[] = [];
  const labelKeys = Object.keys(host.labels).sort().join(',');
  const taintIds = [...wantedIds].sort().join(',');
  if ((status.annotations[MANAGED_LABELS] ?? '') !== labelKeys || !(MANAGED_LABELS in status.annotations))
    annotations.push(`${MANAGED_LABELS}=${labelKeys}`);
  if ((status.annotations[MANAGED_TAINTS] ?? '') !== taintIds || !(MANAGED_TAINTS in status.annotations))
    annotations.push(`${MANAGED_TAINTS}=${taintIds}`);
  return { labels, taints, annotations };
}

export function metadataCommands(name: string, plan: MetadataPlan): string[] {
  const cmds: string[] = [];
  const node = q(name);
  if (plan.labels.length) cmds.push(`k3s kubectl label node ${node} --overwrite ${plan.labels.map(q).join(' ')}`);
  const add = plan.taints.filter((t) => !t.endsWith('-'));
  const remove = plan.taints.filter((t) => t.endsWith('-'));
  if (remove.length) cmds.push(`k3s kubectl taint node ${node} ${remove.map(q).join(' ')}`);
  if (add.length) cmds.push(`k3s kubectl taint node ${node} --overwrite ${add.map(q).join(' ')}`);
  if (plan.annotations.length) cmds.push(`k3s kubectl annotate node ${node} --overwrite ${plan.annotations.map(q).join(' ')}`);
  return cmds;
}

/**
 * On the server the API is asked through (the first server, usually), the node query rides in
 * the role's probe batch: a no-op run of that server then costs its role one round trip, not two.
 * Other nodes are looked up through that server's connection when their plan runs.
 */
export function nodeMetadataTask(ctx: HostContext): Task {
  const selfObserved = apiObserver(ctx) === ctx;
  return {
    name: 'node labels and taints as in the inventory',
    probe: selfObserved ? `${nodeQuery(ctx.host.name)} --request-timeout=30s` : undefined,
    async plan(state, ctx: HostContext): Promise<PlanResult> {
      const observer = apiObserver(ctx);
      if (!observer) return { skip: 'no server of this cluster is part of the run to ask the API through' };
      // the probe batch keeps no stderr: when the probed query failed, ask again for kubectl's message
      const probed = selfObserved && observer === ctx && state.code === 0 ? parseNode(0, state.stdout, '') : undefined;
      const status = probed?.found ? probed : await nodeStatus(observer, ctx.host.name);
      if (!status.found) {
        if (ctx.options.check) return { summary: 'set labels and taints once the node has joined', apply: async () => undefined };
        throw new Error(`node ${ctx.host.name} is not registered with the cluster (${status.problem ?? 'not found'})`);
      }
      const plan = planNodeMetadata(status, ctx.host);
      if (plan.labels.length + plan.taints.length + plan.annotations.length === 0) return null;
      const parts = [
        plan.labels.length ? `labels ${plan.labels.join(' ')}` : '',
        plan.taints.length ? `taints ${plan.taints.join(' ')}` : '',
        plan.labels.length + plan.taints.length === 0 ? 'record the labels and taints clusterseed manages' : '',
      ].filter(Boolean);
      return {
        summary: `node ${ctx.host.name}: ${parts.join('; ')}`,
        apply: () =>
          run(observer, metadataCommands(ctx.host.name, plan).join(' && '), `kubectl label/taint node ${ctx.host.name}`).then(
            () => undefined,
          ),
      };
    },
  };
}
