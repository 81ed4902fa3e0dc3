// The harden role's settings reader and the firewall model of a three-node cluster "home" (servers
// s1, s2, agent a1), for the ruleset tests in test/unit and the nft loads in test/system.
import type { ClusterSpec, HostSpec, Inventory } from '../../lib/inventory/model.ts';
import { deepMerge } from '../../lib/runner/merge.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import { hardenDefaults } from '../../roles/harden/index.ts';
import { clusterView, k3sRules, readExtraPorts, sourcesList, type FirewallModel } from '../../roles/harden/firewall.ts';
import { cluster as clusterOf, host as hostOf } from '../fixtures/gitops/inventories.ts';

/** The harden role's settings of host n1: its defaults merged with `over`. */
export const hardenReader = (over: Record<string, unknown> = {}) =>
  new VarsReader('/inv/inventory.yaml: host n1', deepMerge(hardenDefaults, over), 'vars.harden');

/** Cluster home: servers s1, s2, agent a1, VXLAN. */
export const cluster = (over: Partial<ClusterSpec> = {}): ClusterSpec =>
  clusterOf('home', ['s1', 's2'], ['a1'], {}, { domain: 'home.lan', ...over });

/** A node of cluster home (SSH as admin on port 22), with its K3s node IP if given. */
export const host = (name: string, address: string, groups: string[], nodeIp?: string): HostSpec =>
  hostOf(name, 'home', { address, groups, ...(nodeIp ? { nodeIp } : {}) });

export function inventoryOf(c: ClusterSpec, hosts: HostSpec[]): Inventory {
  return {
    file: '/inv/inventory.yaml',
    dir: '/inv',
    hosts,
    groups: { servers: c.servers, agents: c.agents },
    clusters: [c],
    gitops: { repo: { kind: 'local', path: '/x' }, branch: 'main' },
    vars: {},
  };
}

/** The three nodes, all on 192.168.1.0/24 with no node IP. */
export const HOSTS = [
  host('s1', '192.168.1.10', ['servers']),
  host('s2', '192.168.1.11', ['servers']),
  host('a1', '192.168.1.20', ['agents']),
];

/** SSH on 192.168.1.0/24 (the admin network), K3s between node IPs on 10.10.0.0/24 (s2 has none). */
export const NODE_IP_HOSTS = [
  host('s1', '192.168.1.10', ['servers'], '10.10.0.10'),
  host('s2', '192.168.1.11', ['servers']),
  host('a1', '192.168.1.20', ['agents'], '10.10.0.20'),
];

const same = async (a: string) => [a];

/** The firewall model of host `name` among `hosts`: K3s rules by role, node_networks, api_allowed_from and extra_ports from `over`. */
export async function firewallModelOf(
  hosts: HostSpec[],
  name: string,
  over: Record<string, unknown> = {},
  c = cluster(),
): Promise<FirewallModel> {
  const h = hosts.find((x) => x.name === name)!;
  const r = hardenReader(over);
  const view = await clusterView(h, inventoryOf(c, hosts), same);
  const k3s = k3sRules({
    isServer: h.groups.includes('servers'),
    isAgent: h.groups.includes('agents'),
    view,
    nodeNetworks: sourcesList(r, 'firewall.node_networks'),
    apiFrom: sourcesList(r, 'firewall.api_allowed_from'),
  });
  return {
    host: name,
    sshPort: 22,
    sshFrom: [],
    allowIcmp: true,
    logDropped: false,
    trusted: k3s.trusted,
    rules: [...k3s.rules, ...readExtraPorts(r)],
  };
}
