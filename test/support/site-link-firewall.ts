// The inventory of hosts on a site link (WireGuard hub gw) in two clusters, and the host firewall
// ruleset the harden role renders for each: test/unit/wireguard-firewall.test.ts checks the rules,
// test/system/wireguard-firewall-nft.test.ts loads them into nft.
import type { HostSpec, Inventory } from '../../lib/inventory/model.ts';
import { deepMerge } from '../../lib/runner/merge.ts';
import type { HostContext } from '../../lib/runner/types.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import { hardenDefaults } from '../../roles/harden/index.ts';
import { renderRuleset } from '../../roles/harden/firewall.ts';
import { firewallModel } from '../../roles/harden/firewall-tasks.ts';
import { cluster as clusterOf, host as hostOf } from '../fixtures/gitops/inventories.ts';

const cluster = (name: string, servers: string[], agents: string[]) => clusterOf(name, servers, agents, {}, { domain: 'home.lan' });
const host = (name: string, address: string, clusterName: string, groups: string[], site?: string, link?: HostSpec['link']): HostSpec =>
  hostOf(name, clusterName, { address, groups, ...(site ? { site } : {}), ...(link ? { link } : {}) });

// cluster mgmt: c1 (cloud, server) + p1 (home, agent), spanning sites; cluster edge: e1 (home, its
// only server); gw: the hub, no K3s node; lone: no site, not on the link
export const HOSTS = [
  host('gw', '203.0.113.1', 'mgmt', [], 'cloud', { address: '10.77.0.1', endpoint: '203.0.113.1:51820' }),
  host('c1', '203.0.113.10', 'mgmt', ['servers'], 'cloud', { address: '10.77.0.2', endpoint: '203.0.113.10' }),
  host('p1', '192.168.1.21', 'mgmt', ['agents'], 'home', { address: '10.77.0.3' }),
  host('e1', '192.168.1.30', 'edge', ['servers'], 'home', { address: '10.77.0.4' }),
  host('lone', '192.168.1.40', 'mgmt', ['agents']),
];
export const INVENTORY: Inventory = {
  file: '/inv/inventory.yaml',
  dir: '/inv',
  hosts: HOSTS,
  groups: { servers: ['c1', 'e1'], agents: ['p1', 'lone'] },
  clusters: [cluster('mgmt', ['c1'], ['p1', 'lone']), cluster('edge', ['e1'], [])],
  gitops: { repo: { kind: 'remote', url: 'https://git.example/x.git' }, branch: 'main' },
  vars: {},
  sites: ['cloud', 'home'],
  siteLink: { interface: 'cs-link', network: '10.77.0.0/24', port: 51820, topology: 'hub', hub: 'gw', keepalive: 25 },
};

/** The nftables ruleset the harden role renders for host `name` (SSH on 22), with `harden` settings over its defaults. */
export async function rulesetOf(name: string, harden: Record<string, unknown> = {}): Promise<string> {
  const h = HOSTS.find((x) => x.name === name)!;
  const ctx = { host: h, inventory: INVENTORY, facts: { sshdPorts: [22] } } as unknown as HostContext;
  const r = new VarsReader(`/inv/inventory.yaml: host ${name}`, deepMerge(hardenDefaults, harden), 'vars.harden');
  return renderRuleset(await firewallModel(ctx, r));
}
