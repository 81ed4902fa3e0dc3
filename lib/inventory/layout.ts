// Who is where: clusters, hosts and groups in document order, and which hosts are cluster
// nodes. Shared by the semantic checks and the normalizer so both read the inventory alike.
import type { SourceDoc } from './source.ts';
import { groupMembers, type ClusterEntry, type RawInventory } from './raw.ts';

export const CLUSTER_GROUPS = ['servers', 'agents'] as const;

export interface Layout {
  clusters: ClusterEntry[];
  /** host names in document order */
  hostNames: string[];
  /** group names in document order */
  groupNames: string[];
  servers: Set<string>;
  agents: Set<string>;
  /** hosts named as another host's `jump:` */
  jumpTargets: Set<string>;
  /** `sites:` in document order (a list or the keys of a mapping); empty without `sites:` */
  sites: string[];
}

export function readLayout(raw: RawInventory, source: SourceDoc): Layout {
  const clusters: ClusterEntry[] = [];
  if (raw.cluster) clusters.push({ name: raw.cluster.name, settings: raw.cluster, path: ['cluster'] });
  if (raw.clusters) {
    for (const name of ordered(source.keysInOrder(['clusters']), raw.clusters)) {
      clusters.push({ name, settings: raw.clusters[name], path: ['clusters', name] });
    }
  }
  const hostNames = ordered(source.keysInOrder(['hosts']), raw.hosts);
  const groupNames = ordered(source.keysInOrder(['groups']), raw.groups);
  const jumpTargets = new Set<string>();
  for (const host of Object.values(raw.hosts)) {
    if (typeof host.jump === 'string') jumpTargets.add(host.jump);
  }
  const sites = Array.isArray(raw.sites) ? [...raw.sites] : raw.sites ? ordered(source.keysInOrder(['sites']), raw.sites) : [];
  return {
    sites,
    clusters,
    hostNames,
    groupNames,
    servers: new Set(groupMembers(raw.groups.servers)),
    agents: new Set(raw.groups.agents ? groupMembers(raw.groups.agents) : []),
    jumpTargets,
  };
}

/** Document order when the source knows it, else the object's own order. */
function ordered(docOrder: string[], obj: Record<string, unknown>): string[] {
  const keys = docOrder.filter((k) => Object.hasOwn(obj, k));
  return keys.length === Object.keys(obj).length ? keys : Object.keys(obj);
}

export function isNode(layout: Layout, host: string): boolean {
  return layout.servers.has(host) || layout.agents.has(host);
}

/** A cluster clusterseed does not build: it has a kubeconfig instead of hosts. */
export function isAdopted(entry: ClusterEntry): boolean {
  return entry.settings.kubeconfig !== undefined;
}

/** The site a host stands at: its `site:`, or the only site there is. */
export function siteOf(raw: RawInventory, layout: Layout, host: string): string | undefined {
  return raw.hosts[host]?.site ?? (layout.sites.length === 1 ? layout.sites[0] : undefined);
}

/** The cluster a host belongs to: its `cluster:`, or the only cluster there is. */
export function clusterOf(raw: RawInventory, layout: Layout, host: string): string | undefined {
  return raw.hosts[host]?.cluster ?? (layout.clusters.length === 1 ? layout.clusters[0].name : undefined);
}
