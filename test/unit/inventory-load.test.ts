// Good inventories load into the normalized model with every default and merge rule applied.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory, parseInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const goodDir = path.join(root, 'test/fixtures/inventory/good');
const home = process.env.HOME || homedir();

const good = (name: string) => loadInventory(path.join(goodDir, name));
const host = (inv: Inventory, name: string) => {
  const h = inv.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${name}`);
  return h;
};

test('the shipped inventory.yaml loads: desktop server, two Pi agents', async () => {
  const inv = await loadInventory(path.join(root, 'inventory.yaml'));
  assert.is(inv.file, path.join(root, 'inventory.yaml'));
  assert.is(inv.dir, root);
  assert.equal(
    inv.hosts.map((h) => h.name),
    ['desktop', 'pi-1', 'pi-2'],
  );
  assert.equal(
    inv.clusters.map((c) => [c.name, c.servers, c.agents]),
    [['homelab', ['desktop'], ['pi-1', 'pi-2']]],
  );
  const pi = host(inv, 'pi-1');
  assert.is(pi.raspberryPi, true);
  assert.is(pi.arch, 'aarch64');
  assert.is(pi.labels['clusterseed.io/arch-pool'], 'arm');
  assert.is(host(inv, 'desktop').arch, 'x86_64');
  assert.is(host(inv, 'desktop').labels['node-role.clusterseed.io/stateful'], 'true');
  assert.is(host(inv, 'desktop').labels['clusterseed.io/arch-pool'], 'x86');
  assert.is(inv.clusters[0].k3sVersion, 'v1.31.4+k3s1');
  assert.is(inv.clusters[0].components.minio.enabled, true);
  assert.equal(inv.gitops.repo, { kind: 'local', path: path.join(root, '.clusterseed/gitops.git') });
  assert.is(inv.warnings, undefined);
});

test('single: every default filled in', async () => {
  const inv = await good('single.yaml');
  assert.equal(inv.hosts, [
    {
      name: 'box',
      address: '10.0.0.5',
      port: 22,
      user: 'pi',
      become: true,
      cluster: 'solo',
      groups: ['servers'],
      labels: {},
      taints: [],
      vars: {},
    },
  ]);
  assert.equal(inv.clusters, [
    {
      name: 'solo',
      k3sVersion: 'v1.30.8+k3s1',
      clusterCidr: '10.42.0.0/16',
      serviceCidr: '10.43.0.0/16',
      flannelBackend: 'vxlan',
      tokenFile: path.join(goodDir, '.clusterseed/solo/token'),
      servers: ['box'],
      agents: [],
      domain: 'solo.lan',
      components: {},
      vars: {},
    },
  ]);
  assert.equal(inv.groups, { servers: ['box'], agents: [] });
  assert.equal(inv.gitops, { repo: { kind: 'local', path: path.join(goodDir, '.clusterseed/gitops.git') }, branch: 'main' });
  assert.equal(inv.vars, {});
});

test('ha: three servers in order, defaults inherited, paths resolved from the inventory', async () => {
  const inv = await good('ha.yaml');
  const c = inv.clusters[0];
  assert.equal(c.servers, ['s1', 's2', 's3']);
  assert.equal(c.agents, ['w1', 'w2']);
  assert.is(c.apiEndpoint, '192.168.10.9');
  assert.is(c.k3sMirror, 'https://mirror.example.lan/k3s', 'trailing slash dropped');
  assert.is(c.flannelBackend, 'wireguard-native');
  assert.is(c.tokenFile, path.join(goodDir, 'secrets/prod.token'));
  assert.is(c.domain, 'prod.example.lan');
  assert.equal(c.vars, { k3s: { disable: ['traefik'] } });

  const s1 = host(inv, 's1');
  assert.is(s1.port, 2222);
  assert.is(s1.user, 'ops');
  assert.is(s1.becomePasswordEnv, 'PROD_SUDO');
  assert.is(s1.sshKey, path.join(goodDir, 'keys/ops_ed25519'));
  assert.is(s1.knownHostsFile, path.join(goodDir, 'keys/known_hosts'));
  const s3 = host(inv, 's3');
  assert.is(s3.user, 'root');
  assert.is(s3.become, false);
  assert.is(host(inv, 'w2').address, 'fd00::22');
  assert.is(host(inv, 'w2').port, 22);
  assert.equal(host(inv, 'w1').taints, ['nvidia.com/gpu=present:NoSchedule']);
  assert.equal(host(inv, 'w1').labels, { 'clusterseed.io/arch-pool': 'x86', gpu: 'nvidia' });
  assert.is(inv.warnings, undefined, 'three servers: no quorum warning');
});

test('ha: vars merge inventory < groups (declaration order) < host, deeply', async () => {
  const inv = await good('ha.yaml');
  assert.equal(host(inv, 's1').vars, {
    hardening: { ssh_port: 22, fail2ban: true },
    k3s: { extra_args: ['--server'] },
  });
  assert.equal(host(inv, 'w1').groups, ['agents', 'gpu']);
  assert.equal(host(inv, 'w1').vars, {
    hardening: { ssh_port: 2222, fail2ban: false },
    k3s: { extra_args: ['--a'] },
    nvidia: { driver: '550' },
  });
  assert.equal(inv.vars, { hardening: { ssh_port: 2222, fail2ban: true }, k3s: { extra_args: ['--a'] } });
  assert.equal(inv.groups, { servers: ['s1', 's2', 's3'], agents: ['w1', 'w2'], gpu: ['w1'] });
});

test('ha: GitHub repo and components (shorthand false, enabled by default)', async () => {
  const inv = await good('ha.yaml');
  assert.equal(inv.gitops, {
    repo: { kind: 'github', owner: 'example-org', name: 'prod-gitops', private: true, org: true },
    branch: 'release/prod',
  });
  assert.equal(inv.clusters[0].components, { minio: { enabled: true, storage: '200Gi' }, mlflow: { enabled: false } });
});

test('multi-cluster: first cluster first, hosts split, components merged per cluster', async () => {
  const inv = await good('multi-cluster.yaml');
  assert.equal(
    inv.clusters.map((c) => c.name),
    ['mgmt', 'edge'],
  );
  const [mgmt, edge] = inv.clusters;
  assert.equal([mgmt.servers, mgmt.agents], [['desktop'], []]);
  assert.equal([edge.servers, edge.agents], [['pi-1'], ['pi-2']]);
  assert.is(edge.clusterCidr, '10.62.0.0/16');
  assert.is(mgmt.domain, 'mgmt.lan');
  assert.is(edge.domain, 'edge.lan');
  assert.is(edge.tokenFile, path.join(goodDir, '.clusterseed/edge/token'));
  assert.equal(mgmt.components, {
    minio: { enabled: true, storage: '20Gi', replicas: 1 },
    mlflow: { enabled: false, tracking: { host: 'mlflow' } },
  });
  assert.equal(edge.components, {
    minio: { enabled: false, storage: '20Gi', replicas: 3 },
    mlflow: { enabled: true, tracking: { host: 'mlflow', port: 5000 } },
  });
  assert.equal(
    inv.hosts.map((h) => [h.name, h.cluster]),
    [
      ['desktop', 'mgmt'],
      ['pi-1', 'edge'],
      ['pi-2', 'edge'],
    ],
  );
  assert.is(host(inv, 'pi-2').arch, 'armv7l');
  assert.equal(inv.gitops.repo, { kind: 'remote', url: 'git@git.example.lan:me/homelab-gitops.git' });
});

test('jump: a jump-only host is no node; named and inline jumps resolved with their defaults', async () => {
  const inv = await good('jump.yaml');
  assert.equal(
    inv.hosts.map((h) => h.name),
    ['node-a', 'node-b', 'node-c'],
  );
  const key = path.join(home, '.ssh/lab_ed25519');
  assert.is(host(inv, 'node-a').sshKey, key);
  assert.equal(host(inv, 'node-a').jump, {
    address: 'gw.example.lan',
    port: 2200,
    user: 'jump',
    sshKey: path.join(goodDir, 'keys/bastion'),
  });
  assert.equal(host(inv, 'node-b').jump, { address: '203.0.113.7', port: 2022, user: 'admin', sshKey: key });
  assert.equal(host(inv, 'node-c').jump, { address: '203.0.113.7', port: 22, user: 'hop', sshKey: '/etc/clusterseed/hop_key' });
  assert.equal(inv.gitops.repo, { kind: 'local', path: path.join(home, 'gitops/lab.git') });
});

test('hosts keep document order, even with integer-like names', () => {
  const inv = parseInventory(
    [
      'cluster: { name: c, k3s_version: v1.31.4+k3s1 }',
      'defaults: { user: u }',
      'hosts:',
      '  zeta: { address: 10.0.0.1 }',
      '  "10": { address: 10.0.0.2 }',
      '  alpha: { address: 10.0.0.3 }',
      '  "2": { address: 10.0.0.4 }',
      'groups: { servers: [zeta], agents: [alpha, "2", "10"] }',
    ].join('\n'),
    '/tmp/inventory.yaml',
  );
  assert.equal(
    inv.hosts.map((h) => h.name),
    ['zeta', '10', 'alpha', '2'],
  );
  assert.equal(inv.clusters[0].agents, ['alpha', '2', '10'], 'group order decides the agent order');
});

test('anchors, merge keys and x- blocks share settings between hosts', () => {
  const inv = parseInventory(
    [
      'cluster: { name: c, k3s_version: v1.31.4+k3s1 }',
      'x-pi: &pi { arch: aarch64, raspberry_pi: true, user: pi, labels: { clusterseed.io/arch-pool: arm } }',
      'hosts:',
      '  srv: { address: 10.0.0.1, user: admin }',
      '  pi-1: { <<: *pi, address: 10.0.0.2 }',
      '  pi-2:',
      '    <<: *pi',
      '    address: 10.0.0.3',
      '    user: other',
      'groups: { servers: [srv], agents: [pi-1, pi-2] }',
    ].join('\n'),
    '/tmp/inventory.yaml',
  );
  assert.equal(
    inv.hosts.map((h) => [h.name, h.arch, h.raspberryPi, h.user, h.labels['clusterseed.io/arch-pool']]),
    [
      ['srv', undefined, undefined, 'admin', undefined],
      ['pi-1', 'aarch64', true, 'pi', 'arm'],
      ['pi-2', 'aarch64', true, 'other', 'arm'],
    ],
  );
});

test('warnings: an even number of servers and a label the kubelet may not set', () => {
  const inv = parseInventory(
    [
      'cluster: { name: c, k3s_version: v1.31.4+k3s1 }',
      'defaults: { user: u }',
      'hosts:',
      '  a: { address: 10.0.0.1 }',
      '  b:',
      '    address: 10.0.0.2',
      '    labels: { node-role.kubernetes.io/worker: "true", kubernetes.io/arch: arm64 }',
      'groups: { servers: [a, b] }',
    ].join('\n'),
    'inv.yaml',
  );
  assert.equal(inv.warnings, [
    'inv.yaml:7:15: warning: hosts.b.labels["node-role.kubernetes.io/worker"]: is in a namespace a node may not label itself with (kubelet NodeRestriction): clusterseed sets it through the API once the node has joined, so pods cannot select it during registration',
    'inv.yaml:8:11: warning: groups.servers: cluster "c" has 2 servers: embedded etcd keeps quorum only with a majority, so an even count tolerates no more failures than one server less (use 1, 3 or 5)',
  ]);
});

test('dual-stack networks and IPv6 addresses are accepted', () => {
  const inv = parseInventory(
    [
      'cluster:',
      '  name: c',
      '  k3s_version: v1.31.4+k3s1',
      '  cluster_cidr: 10.42.0.0/16,2001:cafe:42::/56',
      '  service_cidr: 10.43.0.0/16,2001:cafe:43::/112',
      'defaults: { user: u }',
      'hosts: { a: { address: "2001:db8::10" } }',
      'groups: { servers: [a] }',
    ].join('\n'),
    'inv.yaml',
  );
  assert.is(inv.clusters[0].clusterCidr, '10.42.0.0/16,2001:cafe:42::/56');
  assert.is(inv.hosts[0].address, '2001:db8::10');
});

test.run();
