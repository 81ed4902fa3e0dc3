// The host side of the GitOps components: which prerequisites (ComponentDef.hostPrereqs) a host
// needs, given where the components its cluster enables may place their pods, and the Debian packages
// that satisfy them. Knowledge without tasks: roles/platform-prereq installs these packages, the
// bring-up analysis (bringup/host-side.ts) counts them as present.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { HostSpec, Inventory } from '../inventory/model.ts';
import { isAgent, isServer } from '../k3s/settings.ts';
import { deepMerge } from '../runner/merge.ts';
import type { HostPrereq } from './catalog.ts';
import { enabledDefs } from './model.ts';
import { nodeModel, placementFor } from './placement.ts';

/** The platform-prereq role's documented defaults (roles/platform-prereq/defaults.yaml): the package lists. */
const platformPrereqDefaults = YAML.parse(
  readFileSync(new URL('../../roles/platform-prereq/defaults.yaml', import.meta.url), 'utf8'),
) as Record<string, unknown>;

/** Prerequisites needed on every node of the cluster, whatever the component's placement. */
const CLUSTER_WIDE: ReadonlySet<HostPrereq> = new Set(['iscsi', 'nfs']);

/**
 * The host prerequisites of `host`: those of the components its cluster enables, where the
 * component's pods may land on this host. Pure: the bring-up analysis asks the same question.
 */
export function prereqsFor(host: HostSpec, inventory: Inventory): { prereq: HostPrereq; component: string }[] {
  const clusterIndex = inventory.clusters.findIndex((c) => c.name === host.cluster);
  if (clusterIndex < 0) return [];
  const cluster = inventory.clusters[clusterIndex];
  const servers = new Set(cluster.servers);
  const nodes = inventory.hosts
    .filter((h) => h.cluster === cluster.name)
    .map((h) => nodeModel(h, servers.has(h.name) ? 'server' : 'agent'));
  const out: { prereq: HostPrereq; component: string }[] = [];
  for (const def of enabledDefs(cluster, clusterIndex === 0)) {
    for (const prereq of def.hostPrereqs ?? []) {
      const where = CLUSTER_WIDE.has(prereq) ? nodes.map((n) => n.name) : placementFor(def.placement, nodes).nodes;
      if (where.includes(host.name)) out.push({ prereq, component: def.name });
    }
  }
  return out.sort((a, b) => (a.prereq < b.prereq ? -1 : a.prereq > b.prereq ? 1 : 0));
}

/**
 * The Debian packages this role installs on `host` (its vars merged as the runner merges them):
 * the bring-up analysis counts them as present for its host-prerequisite check.
 */
export function installedPackages(host: HostSpec, inventory: Inventory): string[] {
  if (!(isServer(host) || isAgent(host))) return [];
  const vars = deepMerge(platformPrereqDefaults, (host.vars['platform-prereq'] as Record<string, unknown>) ?? {});
  const prereqs = new Set(prereqsFor(host, inventory).map((x) => x.prereq));
  const list = (key: string): unknown[] => (Array.isArray(vars[key]) ? (vars[key] as unknown[]) : []);
  return [
    ...(prereqs.has('iscsi') ? list('iscsi_packages') : []),
    ...(prereqs.has('nfs') ? list('nfs_packages') : []),
    ...(prereqs.has('nvidia-toolkit') ? list('nvidia_packages') : []),
  ].map(String);
}
