// Namespace ResourceQuotas sized from the inventory. The formula (also written into the
// generated README):
//   capacity(node)  = vars.capacity {cpu, memory} of the host, else a default by arch
//                     (x86_64: 4 CPU / 8Gi, aarch64: 4 CPU / 4Gi, armv7l: 4 CPU / 1Gi)
//   usable          = 80% of the sum over the cluster's nodes (20% stays for K3s and kube-system)
//   requests(ns)    = usable * weight(ns) / sum of the weights of all quota'd namespaces
//   limits(ns)      = 2 * requests(ns)   (burst headroom; limits may overcommit, requests never)
//   pods(ns)        = 20 * weight(ns)
//   floor           = requests never go below what the namespace's components need (catalog
//                     quotaFloor, e.g. Prometheus), so a small cluster's quota still fits them
// CPU is rounded down to 100m, memory to 64Mi, with floors of 200m / 256Mi.
import type { HostSpec } from '../inventory/model.ts';

export interface Capacity {
  milliCpu: number;
  memoryMi: number;
}

const ARCH_DEFAULTS: Record<string, Capacity> = {
  x86_64: { milliCpu: 4000, memoryMi: 8192 },
  aarch64: { milliCpu: 4000, memoryMi: 4096 },
  armv7l: { milliCpu: 4000, memoryMi: 1024 },
};

export const USABLE_FRACTION = 0.8;
export const LIMIT_FACTOR = 2;
export const PODS_PER_WEIGHT = 20;

/** "8Gi", "512Mi", "2G", 8 (GiB) -> MiB */
export function parseMemoryMi(v: unknown, where: string): number {
  if (typeof v === 'number' && v > 0) return Math.floor(v * 1024);
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/.exec(v.trim()) : null;
  if (!m) throw new Error(`${where}: invalid memory "${String(v)}" (e.g. 8Gi, 512Mi)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'Gi';
  const factor: Record<string, number> = {
    Ki: 1 / 1024,
    Mi: 1,
    Gi: 1024,
    Ti: 1024 * 1024,
    K: 1000 / 1048576,
    M: 1e6 / 1048576,
    G: 1e9 / 1048576,
    T: 1e12 / 1048576,
  };
  return Math.floor(n * factor[unit]);
}

/** 4, "4", "3500m" -> millicores */
export function parseMilliCpu(v: unknown, where: string): number {
  if (typeof v === 'number' && v > 0) return Math.floor(v * 1000);
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(m)?$/.exec(v.trim()) : null;
  if (!m) throw new Error(`${where}: invalid cpu "${String(v)}" (e.g. 4, 3500m)`);
  return m[2] ? Math.floor(Number(m[1])) : Math.floor(Number(m[1]) * 1000);
}

export function hostCapacity(h: HostSpec): Capacity {
  const def = ARCH_DEFAULTS[h.arch ?? 'x86_64'];
  const cap = (h.vars.capacity ?? {}) as Record<string, unknown>;
  const where = `host ${h.name} vars.capacity`;
  return {
    milliCpu: cap.cpu !== undefined ? parseMilliCpu(cap.cpu, where) : def.milliCpu,
    memoryMi: cap.memory !== undefined ? parseMemoryMi(cap.memory, where) : def.memoryMi,
  };
}

export function clusterCapacity(hosts: HostSpec[]): Capacity {
  return hosts
    .map(hostCapacity)
    .reduce((a, c) => ({ milliCpu: a.milliCpu + c.milliCpu, memoryMi: a.memoryMi + c.memoryMi }), { milliCpu: 0, memoryMi: 0 });
}

export interface QuotaModel {
  requestsCpu: string;
  requestsMemory: string;
  limitsCpu: string;
  limitsMemory: string;
  pods: number;
}

function cpu(m: number): string {
  const r = Math.max(200, Math.floor(m / 100) * 100);
  return r % 1000 === 0 ? String(r / 1000) : `${r}m`;
}

function mem(mi: number): string {
  const r = Math.max(256, Math.floor(mi / 64) * 64);
  return r % 1024 === 0 ? `${r / 1024}Gi` : `${r}Mi`;
}

export function quotaFor(
  capacity: Capacity,
  weight: number,
  totalWeight: number,
  floor: Capacity = { milliCpu: 0, memoryMi: 0 },
): QuotaModel {
  const share = totalWeight > 0 ? weight / totalWeight : 0;
  const reqCpu = Math.max(capacity.milliCpu * USABLE_FRACTION * share, floor.milliCpu);
  const reqMem = Math.max(capacity.memoryMi * USABLE_FRACTION * share, floor.memoryMi);
  return {
    requestsCpu: cpu(reqCpu),
    requestsMemory: mem(reqMem),
    limitsCpu: cpu(reqCpu * LIMIT_FACTOR),
    limitsMemory: mem(reqMem * LIMIT_FACTOR),
    pods: PODS_PER_WEIGHT * weight,
  };
}

// ---- quotas sized from what the charts create (issue 15)
// The weights above split the cluster without knowing what a namespace runs: monitoring got 3 CPU
// of limits where its charts need ~4.9. When the bring-up analysis knows every pod of a namespace
// (chart facts + rendered values + manifests), the quota is sized from that instead:
//   need(ns)     = sum over pod groups of pods x per-pod resources, where pods is the peak of a
//                  rollout: replicas (HPA maximum) + maxSurge, Helm hook pods, DaemonSet pods x
//                  matching nodes; containers without resources count with the LimitRange defaults
//   quota(ns)    = need(ns) x (1 + HEADROOM), CPU rounded up to 100m, memory up to 64Mi;
//                  pods = need + max(2, HEADROOM x need)
// and what all known pods request together (no headroom) must fit the usable capacity
// (USABLE_FRACTION of the nodes): otherwise rendering stops with CapacityError naming the namespaces.
export const HEADROOM = 0.25;

export interface NamespaceNeed {
  requests: Capacity;
  limits: Capacity;
  pods: number;
}

function cpuUp(m: number): string {
  const r = Math.max(100, Math.ceil(m / 100) * 100);
  return r % 1000 === 0 ? String(r / 1000) : `${r}m`;
}

function memUp(mi: number): string {
  const r = Math.max(64, Math.ceil(mi / 64) * 64);
  return r % 1024 === 0 ? `${r / 1024}Gi` : `${r}Mi`;
}

export function quotaFromNeed(need: NamespaceNeed, headroom = HEADROOM): QuotaModel {
  const f = 1 + headroom;
  return {
    requestsCpu: cpuUp(need.requests.milliCpu * f),
    requestsMemory: memUp(need.requests.memoryMi * f),
    limitsCpu: cpuUp(need.limits.milliCpu * f),
    limitsMemory: memUp(need.limits.memoryMi * f),
    pods: need.pods + Math.max(2, Math.ceil(need.pods * headroom)),
  };
}

export class CapacityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CapacityError';
  }
}

/** what the enabled components request together (pods at their peak) must fit the usable capacity */
export function assertCapacityHolds(cluster: string, capacity: Capacity, needs: { namespace: string; need: NamespaceNeed }[]): void {
  const usable = { milliCpu: capacity.milliCpu * USABLE_FRACTION, memoryMi: capacity.memoryMi * USABLE_FRACTION };
  const cpu = Math.ceil(needs.reduce((s, n) => s + n.need.requests.milliCpu, 0));
  const mem = Math.ceil(needs.reduce((s, n) => s + n.need.requests.memoryMi, 0));
  if (cpu <= usable.milliCpu && mem <= usable.memoryMi) return;
  const parts = [...needs]
    .sort((a, b) => b.need.requests.milliCpu - a.need.requests.milliCpu)
    .map((n) => `${n.namespace} ${Math.ceil(n.need.requests.milliCpu)}m / ${Math.ceil(n.need.requests.memoryMi)}Mi`);
  throw new CapacityError(
    `cluster ${cluster}: the enabled components request ${cpu}m CPU / ${mem}Mi at the peak of their rollouts, ` +
      `but ${USABLE_FRACTION * 100}% of the nodes' capacity is ${Math.floor(usable.milliCpu)}m CPU / ${Math.floor(usable.memoryMi)}Mi ` +
      `(set hosts.<name>.vars.capacity if the defaults undercount, add nodes, or disable components): ${parts.join(', ')}`,
  );
}
