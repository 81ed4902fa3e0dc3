// Adopted clusters (`clusters.<name>.kubeconfig`): built elsewhere (OpenTofu/Terraform, a managed
// LKE/GKE/EKS, k3d), so no hosts, no roles and no K3s settings; clusterseed reaches them through
// their kubeconfig and knows their nodes only from `node_pools`. The first cluster runs Argo CD and
// is always built, so it cannot be adopted.
import * as D from './defaults.ts';
import type { FieldPath } from './errors.ts';
import { kubeconfigModeProblem, readKubeconfigTarget } from './kubeconfig-file.ts';
import { isAdopted, type Layout } from './layout.ts';
import type { AdoptedClusterSpec, NodePoolSpec } from './model.ts';
import { expandPath } from './paths.ts';
import type { ClusterEntry, RawCluster } from './raw.ts';
import type { Reporter } from './semantic.ts';
import { checkLabelKeys, checkTaintList } from './node-labels.ts';

/** Settings only a cluster clusterseed builds with K3s has. */
const K3S_ONLY = ['k3s_version', 'k3s_mirror', 'api_endpoint', 'cluster_cidr', 'service_cidr', 'flannel_backend', 'token_file'] as const;
const ADOPTED_ONLY = ['context', 'server', 'node_pools'] as const;

/** MiB per unit of a Kubernetes memory quantity (binary and decimal suffixes; none = bytes). */
const MEBI = 1024 * 1024;
const UNITS: Record<string, number> = {
  '': 1 / MEBI,
  k: 1e3 / MEBI,
  M: 1e6 / MEBI,
  G: 1e9 / MEBI,
  T: 1e12 / MEBI,
  Ki: 1 / 1024,
  Mi: 1,
  Gi: 1024,
  Ti: 1024 * 1024,
};

/** "32Gi" → 32768, "16G" → 15258 (MiB, rounded down); undefined when not a quantity. */
export function memoryToMi(text: string): number | undefined {
  const match = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(text);
  if (!match) return undefined;
  return Math.floor(Number(match[1]) * UNITS[match[2] ?? '']);
}

/**
 * Checks every cluster's adoption settings; returns the server of each adopted cluster's
 * kubeconfig context (for `adopted.server` when the inventory gives none).
 */
export function checkAdoptedClusters(layout: Layout, report: Reporter, dir: string): Map<string, string> {
  const servers = new Map<string, string>();
  layout.clusters.forEach((cluster, index) => {
    const { settings, path } = cluster;
    if (!isAdopted(cluster)) {
      if (settings.k3s_version === undefined) {
        report.error(
          [...path, 'k3s_version'],
          'is required (a pinned K3s version like v1.31.4+k3s1); a cluster built elsewhere gets kubeconfig: instead',
          {
            at: 'key',
            expected: 'a pinned K3s version like v1.31.4+k3s1',
          },
        );
      }
      for (const key of ADOPTED_ONLY) {
        if (settings[key] !== undefined)
          report.error([...path, key], 'only applies to an adopted cluster (one with kubeconfig:)', { at: 'key' });
      }
      return;
    }
    if (index === 0) {
      const why =
        path[0] === 'cluster' ? 'the only cluster (cluster:) is the management cluster' : 'the first cluster is the management cluster';
      report.error(
        [...path, 'kubeconfig'],
        `${why}: it runs Argo CD and clusterseed builds it; list a built cluster first and the adopted one after it`,
        { at: 'key' },
      );
    }
    for (const key of K3S_ONLY) {
      if (settings[key] !== undefined)
        report.error([...path, key], 'is a K3s setting: an adopted cluster (kubeconfig:) is not built by clusterseed', { at: 'key' });
    }
    const vars = settings.vars as Record<string, unknown> | undefined;
    if (vars && vars.k3s !== undefined)
      report.error([...path, 'vars', 'k3s'], 'is a K3s setting: an adopted cluster (kubeconfig:) is not built by clusterseed', {
        at: 'key',
      });
    checkNodePools(settings, path, report);

    const file = expandPath(settings.kubeconfig!, dir);
    const target = readKubeconfigTarget(file, settings.context);
    if ('problem' in target) {
      report.error([...path, target.at], target.problem);
      return;
    }
    servers.set(cluster.name, target.server);
    const open = kubeconfigModeProblem(file);
    if (open) report.warn([...path, 'kubeconfig'], open);
  });
  return servers;
}

function checkNodePools(settings: RawCluster, path: FieldPath, report: Reporter): void {
  const pools = settings.node_pools;
  if (pools === undefined) {
    report.error(
      [...path, 'kubeconfig'],
      'an adopted cluster needs node_pools: (name, count, arch, cpu, memory of its nodes): placement and quotas know its nodes only from them',
      {
        at: 'key',
        expected: 'node_pools: [...]',
      },
    );
    return;
  }
  const names = new Map<string, number>();
  pools.forEach((pool, i) => {
    const at = [...path, 'node_pools', i];
    const first = names.get(pool.name);
    if (first !== undefined) report.error([...at, 'name'], `repeats pool name "${pool.name}" (node_pools[${first}])`);
    else names.set(pool.name, i);
    const mi = memoryToMi(pool.memory);
    if (mi !== undefined && mi < 1)
      report.error([...at, 'memory'], `${pool.memory} is less than 1Mi; write the node's allocatable memory, e.g. 32Gi`);
    checkLabelKeys(pool.labels, [...at, 'labels'], report, { nodeSelf: false });
    checkTaintList(pool.taints, [...at, 'taints'], report);
  });
}

/** `adopted` of an adopted cluster's ClusterSpec; `server` from the kubeconfig when the inventory gives none. */
export function normalizeAdopted(entry: ClusterEntry, dir: string, kubeconfigServer: string | undefined): AdoptedClusterSpec {
  const s = entry.settings;
  const spec: AdoptedClusterSpec = {
    kubeconfig: expandPath(s.kubeconfig!, dir),
    server: s.server ?? kubeconfigServer,
    nodePools: (s.node_pools ?? []).map((p): NodePoolSpec => ({
      name: p.name,
      count: p.count,
      arch: p.arch,
      cpu: p.cpu,
      memoryMi: memoryToMi(p.memory)!,
      gpus: p.gpus ?? D.DEFAULT_NODE_POOL_GPUS,
      labels: { ...p.labels },
      taints: [...(p.taints ?? [])],
    })),
  };
  if (s.context !== undefined) spec.context = s.context;
  return spec;
}
