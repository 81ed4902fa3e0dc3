// The host firewall rulesets of hosts on the site link (test/unit/wireguard-firewall.test.ts) loaded
// by nft in a throwaway network namespace (test/system: needs root, unshare and nftables).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClusterSpec, HostSpec, Inventory } from '../../lib/inventory/model.ts';
import { deepMerge } from '../../lib/runner/merge.ts';
import type { HostContext } from '../../lib/runner/types.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import { hardenDefaults } from '../../roles/harden/index.ts';
import { renderRuleset } from '../../roles/harden/firewall.ts';
import { firewallModel } from '../../roles/harden/firewall-tasks.ts';

const cluster = (name: string, servers: string[], agents: string[]): ClusterSpec => ({
  name,
  k3sVersion: 'v1.31.4+k3s1',
  clusterCidr: '10.42.0.0/16',
  serviceCidr: '10.43.0.0/16',
  flannelBackend: 'vxlan',
  servers,
  agents,
  domain: 'home.lan',
  components: {},
  vars: {},
});
const host = (name: string, address: string, clusterName: string, groups: string[], site?: string, link?: HostSpec['link']): HostSpec => ({
  name,
  address,
  port: 22,
  user: 'admin',
  become: true,
  cluster: clusterName,
  groups,
  labels: {},
  taints: [],
  vars: {},
  ...(site ? { site } : {}),
  ...(link ? { link } : {}),
});

// cluster mgmt: c1 (cloud, server) + p1 (home, agent), spanning sites; cluster edge: e1 (home, its
// only server); gw: the hub, no K3s node; lone: no site, not on the link
const HOSTS = [
  host('gw', '203.0.113.1', 'mgmt', [], 'cloud', { address: '10.77.0.1', endpoint: '203.0.113.1:51820' }),
  host('c1', '203.0.113.10', 'mgmt', ['servers'], 'cloud', { address: '10.77.0.2', endpoint: '203.0.113.10' }),
  host('p1', '192.168.1.21', 'mgmt', ['agents'], 'home', { address: '10.77.0.3' }),
  host('e1', '192.168.1.30', 'edge', ['servers'], 'home', { address: '10.77.0.4' }),
  host('lone', '192.168.1.40', 'mgmt', ['agents']),
];
const INVENTORY: Inventory = {
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

async function rulesetOf(name: string, harden: Record<string, unknown> = {}): Promise<string> {
  const h = HOSTS.find((x) => x.name === name)!;
  const ctx = { host: h, inventory: INVENTORY, facts: { sshdPorts: [22] } } as unknown as HostContext;
  const r = new VarsReader(`/inv/inventory.yaml: host ${name}`, deepMerge(hardenDefaults, harden), 'vars.harden');
  return renderRuleset(await firewallModel(ctx, r));
}

test("nft loads the rulesets of the hub, a spoke and another cluster's server (throwaway netns)", async () => {
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) throw new Error('this test needs root and unshare(1)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-wg-fw-'));
  try {
    for (const [name, vars] of [
      ['gw', {}],
      ['p1', {}],
      ['e1', { firewall: { api_allowed_from: ['198.51.100.0/24'] } }],
    ] as const) {
      const file = path.join(dir, `${name}.nft`);
      writeFileSync(file, await rulesetOf(name, vars));
      const r = spawnSync('unshare', ['-n', 'sh', '-c', `nft -f ${file} && nft list table inet clusterseed`], { encoding: 'utf8' });
      assert.is(r.status, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, /udp dport 51820 accept/, name);
      if (name === 'gw') assert.match(r.stdout, /iifname "cs-link" oifname "cs-link" accept/);
      else assert.match(r.stdout, /iifname "cs-link" ip saddr (\{[^}]+\}|[\d.]+) tcp dport 10250 accept/, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
