// Node pools and the nodeSelector/affinity/tolerations that put a component's pods on them,
// derived from the inventory: K3s servers run control and stateful services, arm64 agents run
// stateless services and model serving, gpu nodes run the device plugin.
import type { HostSpec } from '../inventory/model.ts';
import type { Placement } from './catalog.ts';

/** Kubernetes' name for an inventory arch (kubernetes.io/arch) */
export function kubeArch(arch: HostSpec['arch']): string | undefined {
  if (arch === 'x86_64') return 'amd64';
  if (arch === 'aarch64') return 'arm64';
  if (arch === 'armv7l') return 'arm';
  return undefined;
}

export interface NodeModel {
  name: string;
  role: 'server' | 'agent';
  arch?: string;
  groups: string[];
  /** inventory labels plus the ones K3s and the kubelet set (arch, hostname, control-plane) */
  labels: Record<string, string>;
  /** the labels the inventory itself sets (K3s roles apply them to the node) */
  inventoryLabels: Record<string, string>;
  taints: string[];
  gpu: boolean;
  /** allocatable CPU/memory when known: the node pools of an adopted cluster say it */
  capacity?: { milliCpu: number; memoryMi: number };
  /** the node pool it belongs to (adopted clusters) */
  pool?: string;
}

export interface Toleration {
  key: string;
  operator: 'Equal' | 'Exists';
  value?: string;
  effect: string;
}

export interface PlacementModel {
  kind: Placement;
  /** hosts the pods may land on */
  nodes: string[];
  nodeSelector: Record<string, string>;
  /** required node affinity on hostnames, only when no label set singles the pool out */
  hostnames: string[];
  tolerations: Toleration[];
  /** the pool is arm64 only: images must be multi-arch */
  arm64Only: boolean;
}

export function nodeModel(h: HostSpec, role: 'server' | 'agent'): NodeModel {
  const labels: Record<string, string> = { ...h.labels, 'kubernetes.io/hostname': h.name };
  const arch = kubeArch(h.arch);
  if (arch) labels['kubernetes.io/arch'] = arch;
  // K3s labels every server node with the control-plane role
  if (role === 'server') labels['node-role.kubernetes.io/control-plane'] = 'true';
  const gpu = h.groups.includes('gpu') || Object.keys(h.labels).some((k) => k === 'gpu' || k.endsWith('/gpu'));
  return { name: h.name, role, arch, groups: [...h.groups], labels, inventoryLabels: { ...h.labels }, taints: [...h.taints], gpu };
}

function sortedRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function matches(node: NodeModel, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => node.labels[k] === v);
}

/**
 * A label selector for `pool` inside `all`. The inventory's own labels are preferred (they say
 * what the operator means, e.g. node-role.clusterseed.io/stateful): all those every pool node
 * shares and not every node has. If they do not single the pool out, the labels K3s and the
 * kubelet set (arch, control-plane role) are added. Hostname labels never count: they would pin
 * the pool to today's nodes.
 */
export function discriminatingSelector(pool: NodeModel[], all: NodeModel[]): Record<string, string> | undefined {
  if (pool.length === 0) return undefined;
  if (pool.length === all.length) return {};
  const outside = all.filter((n) => !pool.includes(n));
  const shared = (labels: (n: NodeModel) => Record<string, string>): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels(pool[0]))) {
      if (k === 'kubernetes.io/hostname') continue;
      if (pool.every((n) => labels(n)[k] === v) && !all.every((n) => n.labels[k] === v)) out[k] = v;
    }
    return out;
  };
  const own = shared((n) => n.inventoryLabels);
  if (Object.keys(own).length && !outside.some((n) => matches(n, own))) return sortedRecord(own);
  const everything = { ...own, ...shared((n) => n.labels) };
  if (Object.keys(everything).length && !outside.some((n) => matches(n, everything))) return sortedRecord(everything);
  return undefined;
}

export function parseTaint(taint: string): Toleration {
  const m = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(taint);
  if (!m) throw new Error(`invalid taint "${taint}" (expected key=value:Effect)`);
  return m[2] !== undefined ? { key: m[1], operator: 'Equal', value: m[2], effect: m[3] } : { key: m[1], operator: 'Exists', effect: m[3] };
}

function tolerationsFor(pool: NodeModel[]): Toleration[] {
  const seen = new Map<string, Toleration>();
  for (const n of pool) for (const t of n.taints) seen.set(t, parseTaint(t));
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, t]) => t);
}

/** the nodes a placement kind targets, before selectors are derived */
export function poolFor(kind: Placement, nodes: NodeModel[]): NodeModel[] {
  const servers = nodes.filter((n) => n.role === 'server');
  const agents = nodes.filter((n) => n.role === 'agent');
  switch (kind) {
    case 'control':
      // an adopted cluster's control plane is managed and runs no pods: its general-purpose
      // nodes (no GPU, no taint) take the control services
      if (servers.length === 0) return nodes.filter((n) => !n.gpu && n.taints.length === 0);
      return servers;
    case 'edge': {
      // adopted cluster: GPU and tainted pools are kept for what asks for them
      const general = agents.filter((n) => !n.gpu && n.taints.length === 0);
      if (servers.length === 0 && general.length) return general;
      const arm64 = agents.filter((n) => n.arch === 'arm64');
      if (arm64.length) return arm64;
      return agents.length ? agents : servers;
    }
    case 'gpu':
      return nodes.filter((n) => n.gpu);
    case 'anywhere':
      return nodes;
  }
}

export function placementFor(kind: Placement, nodes: NodeModel[]): PlacementModel {
  const pool = poolFor(kind, nodes);
  const arm64Only = pool.length > 0 && pool.every((n) => n.arch === 'arm64');
  const base = { kind, nodes: pool.map((n) => n.name).sort(), tolerations: kind === 'anywhere' ? [] : tolerationsFor(pool), arm64Only };
  if (kind === 'anywhere' || pool.length === 0) return { ...base, nodeSelector: {}, hostnames: [] };
  const selector = discriminatingSelector(pool, nodes);
  if (selector) {
    // always state the arch of an arm64 pool: images there must be multi-arch
    if (arm64Only) selector['kubernetes.io/arch'] = 'arm64';
    return { ...base, nodeSelector: sortedRecord(selector), hostnames: [] };
  }
  return { ...base, nodeSelector: arm64Only ? { 'kubernetes.io/arch': 'arm64' } : {}, hostnames: base.nodes };
}

/** a Kubernetes affinity object for the placement, or undefined when the selector suffices */
export function affinityFor(p: PlacementModel): Record<string, unknown> | undefined {
  if (p.hostnames.length === 0) return undefined;
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: p.hostnames }] }],
      },
    },
  };
}
