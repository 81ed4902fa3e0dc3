// The restricted API rule of issue 18 (test/unit/harden-firewall.test.ts) loaded by nft with the
// node IPs in its set, in a throwaway network namespace (test/system: needs root, unshare and nftables).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClusterSpec, HostSpec, Inventory } from '../../lib/inventory/model.ts';
import { deepMerge } from '../../lib/runner/merge.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import { hardenDefaults } from '../../roles/harden/index.ts';
import { clusterView, k3sRules, renderRuleset, sourcesList, type FirewallModel } from '../../roles/harden/firewall.ts';

const reader = (over: Record<string, unknown> = {}) =>
  new VarsReader('/inv/inventory.yaml: host n1', deepMerge(hardenDefaults, over), 'vars.harden');

const cluster = (over: Partial<ClusterSpec> = {}): ClusterSpec => ({
  name: 'home',
  k3sVersion: 'v1.31.4+k3s1',
  clusterCidr: '10.42.0.0/16',
  serviceCidr: '10.43.0.0/16',
  flannelBackend: 'vxlan',
  servers: ['s1', 's2'],
  agents: ['a1'],
  domain: 'home.lan',
  components: {},
  vars: {},
  ...over,
});
const host = (name: string, address: string, groups: string[], nodeIp?: string): HostSpec => ({
  name,
  address,
  port: 22,
  user: 'admin',
  become: true,
  cluster: 'home',
  groups,
  labels: {},
  taints: [],
  vars: {},
  ...(nodeIp ? { nodeIp } : {}),
});
function inventoryOf(c: ClusterSpec, hosts: HostSpec[]): Inventory {
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
// SSH on 192.168.1.0/24 (the admin network), K3s between node IPs on 10.10.0.0/24 (s2 has none)
const HOSTS = [
  host('s1', '192.168.1.10', ['servers'], '10.10.0.10'),
  host('s2', '192.168.1.11', ['servers']),
  host('a1', '192.168.1.20', ['agents'], '10.10.0.20'),
];
const same = async (a: string) => [a];

async function modelFor(name: string, over: Record<string, unknown> = {}, c = cluster()): Promise<FirewallModel> {
  const h = HOSTS.find((x) => x.name === name)!;
  const r = reader(over);
  const view = await clusterView(h, inventoryOf(c, HOSTS), same);
  const k3s = k3sRules({
    isServer: h.groups.includes('servers'),
    isAgent: h.groups.includes('agents'),
    view,
    nodeNetworks: sourcesList(r, 'firewall.node_networks'),
    apiFrom: sourcesList(r, 'firewall.api_allowed_from'),
  });
  return { host: name, sshPort: 22, sshFrom: [], allowIcmp: true, logDropped: false, trusted: k3s.trusted, rules: k3s.rules };
}

test('api_allowed_from: nft loads the restricted API rule with the node IPs in its set (throwaway netns)', async () => {
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) throw new Error('this test needs root and unshare(1)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-fw-'));
  try {
    const file = path.join(dir, 's1.nft');
    writeFileSync(file, renderRuleset(await modelFor('s1', { firewall: { api_allowed_from: ['192.168.7.0/24'] } })));
    // only this process's private network namespace is touched; the set lookup answers by nft itself
    const script = `nft -f ${file} && nft list table inet clusterseed`;
    const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const line = r.stdout.split('\n').find((l) => l.includes('dport 6443'))!;
    assert.match(line, /10\.10\.0\.20/);
    assert.match(line, /192\.168\.7\.0\/24/);
    // an admin network that holds node addresses overlaps them in one set: nft merges, not refuses
    writeFileSync(file, renderRuleset(await modelFor('s1', { firewall: { api_allowed_from: ['192.168.1.0/24'] } })));
    const merged = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
    assert.is(merged.status, 0, merged.stderr);
    assert.match(merged.stdout, /ip saddr \{ [^}]*192\.168\.1\.0\/24[^}]*\} tcp dport 6443 accept/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
