// Which address a node is known by when hosts stand at several sites. Hosts of one site reach
// each other on their LAN; across sites only the site link (WireGuard, roles/wireguard) connects
// them. A cluster whose nodes span sites therefore runs K3s on the tunnel addresses, and Argo CD on
// the management cluster reaches another site's API server through the tunnel too.
import { isIPv6 } from 'node:net';
import type { ClusterSpec, HostSpec, Inventory } from './model.ts';

/** The address other nodes of its cluster reach a host at on its LAN (K3s' node-ip without a link). */
export function lanAddress(host: HostSpec): string {
  return host.nodeIp ?? host.address;
}

/** True when the hosts of `cluster` stand at more than one site (a host without `site:` is at none). */
export function clusterSpansSites(inv: Inventory, cluster: string): boolean {
  const sites = new Set(inv.hosts.filter((h) => h.cluster === cluster).map((h) => h.site ?? ''));
  return sites.size > 1;
}

/** The node-ip K3s runs a host on: its tunnel address when its cluster spans sites, else its LAN address. */
export function nodeAddress(inv: Inventory, host: HostSpec): string {
  if (host.link && clusterSpansSites(inv, host.cluster)) return host.link.address;
  return lanAddress(host);
}

/** The management cluster's first server: where Argo CD runs. */
function managementServer(inv: Inventory): HostSpec | undefined {
  const mgmt = inv.clusters[0];
  return mgmt ? inv.hosts.find((h) => h.name === mgmt.servers[0]) : undefined;
}

/**
 * The address of `cluster`'s API server as Argo CD on the management cluster reaches it (no port):
 * the first server's tunnel address when it stands at another site than Argo CD, else the
 * cluster's api_endpoint, else the first server's node address. Undefined for an adopted cluster
 * (its URL comes from its kubeconfig) and for a cluster without servers.
 */
export function apiAddressFromManagement(inv: Inventory, cluster: ClusterSpec): string | undefined {
  if (cluster.adopted) return undefined;
  const first = inv.hosts.find((h) => h.name === cluster.servers[0]);
  if (!first) return undefined;
  const argocd = managementServer(inv);
  const otherSite = !!argocd && argocd.name !== first.name && (argocd.site ?? '') !== (first.site ?? '');
  if (otherSite && first.link) return first.link.address;
  return cluster.apiEndpoint ?? nodeAddress(inv, first);
}

/** K3s' API server port (the supervisor and kube-apiserver share it). */
export const K3S_API_PORT = 6443;

/**
 * The URL of a built cluster's API server as Argo CD on the management cluster reaches it: the
 * address of apiAddressFromManagement with K3s' port unless it names one (an api_endpoint
 * "host:port"); an IPv6 address goes in brackets. One rule for the repository's cluster Secret
 * and for the registration that records the access (an access for another URL is stale).
 */
export function remoteApiServerUrl(inv: Inventory, cluster: ClusterSpec): string | undefined {
  const address = apiAddressFromManagement(inv, cluster);
  if (!address) return undefined;
  if (isIPv6(address)) return `https://[${address}]:${K3S_API_PORT}`;
  return /:\d+$/.test(address) ? `https://${address}` : `https://${address}:${K3S_API_PORT}`;
}
