// What the K3s roles write on hosts, computed from an inventory: config.yaml of servers and agents,
// the systemd unit and env file as the official installer writes them, settings checks, and the
// pure edits of host files (cmdline.txt, fstab) and iptables decisions.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { parseInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { agentConfig, configYaml, kubeletLabels, serverConfig, hasSecretKeys } from '../../lib/k3s/config.ts';
import { apiUrl, k3sSettings, kubeconfigServer } from '../../lib/k3s/settings.ts';
import { envFile, envPath, unitFile, unitPath } from '../../lib/k3s/systemd.ts';
import { activeSwapEntries, commentOutSwap, ensureCmdlineWords, PI_CGROUP_WORDS } from '../../lib/k3s/host-files.ts';
import { hasK3sRules, iptablesAdvice, parseIptables, withoutK3sRules } from '../../lib/k3s/iptables.ts';
import { withoutRegistrationKeys } from '../../roles/k3s-server/tasks.ts';
import { changedInputs, stampOf } from '../../roles/k3s-server/service.ts';
import { convergedTask, joinTargetTask } from '../../roles/k3s-server/join-order.ts';
import type { HostContext } from '../../lib/runner/types.ts';

function inventory(k3s: Record<string, unknown> = {}, extra = ''): Inventory {
  const text = `
cluster:
  name: home
  k3s_version: v1.31.4+k3s1
  api_endpoint: 192.168.1.9
  vars:
    k3s: ${JSON.stringify(k3s)}
${extra}
defaults: { user: admin }
hosts:
  s1: { address: 192.168.1.10, labels: { node-role.clusterseed.io/stateful: "true" } }
  s2: { address: 192.168.1.11 }
  s3: { address: 192.168.1.12 }
  a1:
    address: 192.168.1.21
    labels: { clusterseed.io/arch-pool: arm, node-role.kubernetes.io/worker: "true" }
    taints: ["clusterseed.io/edge=true:NoSchedule"]
groups:
  servers: [s1, s2, s3]
  agents: [a1]
`;
  return parseInventory(text, '/srv/inv/inventory.yaml');
}

const host = (inv: Inventory, name: string) => inv.hosts.find((h) => h.name === name)!;

test('servers: cluster-init on the first, the others join it; etcd snapshots; tls-san; no token', () => {
  const inv = inventory({ disable: ['traefik', 'servicelb'], server_config: { 'kube-apiserver-arg': ['audit-log-maxage=30'] } });
  const settings = k3sSettings(inv, inv.clusters[0]);
  assert.ok(settings.embeddedEtcd, 'three servers: embedded etcd');
  const first = serverConfig({ inventory: inv, settings, host: host(inv, 's1'), preferBundledBin: false });
  assert.equal(first, {
    'node-name': 's1',
    'cluster-init': true,
    'tls-san': ['192.168.1.9', '192.168.1.10'],
    'node-label': ['node-role.clusterseed.io/stateful=true'],
    disable: ['traefik', 'servicelb'],
    'write-kubeconfig-mode': '0600',
    'cluster-cidr': '10.42.0.0/16',
    'service-cidr': '10.43.0.0/16',
    'flannel-backend': 'vxlan',
    'etcd-snapshot-schedule-cron': '0 */12 * * *',
    'etcd-snapshot-retention': 5,
    // the CIS defaults (hardening.ts); the inventory's audit-log-maxage replaces clusterseed's
    'secrets-encryption': true,
    'protect-kernel-defaults': true,
    'kube-apiserver-arg': [
      'admission-control-config-file=/var/lib/rancher/k3s/server/psa.yaml',
      'audit-policy-file=/var/lib/rancher/k3s/server/audit.yaml',
      'audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log',
      'audit-log-maxbackup=5',
      'audit-log-maxsize=50',
      'audit-log-maxage=30',
    ],
    'kubelet-arg': ['seccomp-default=true', 'pod-max-pids=4096', 'streaming-connection-idle-timeout=5m'],
  });
  const second = serverConfig({ inventory: inv, settings, host: host(inv, 's2'), preferBundledBin: true });
  assert.is(second.server, 'https://192.168.1.10:6443', 'joins through the first server, not the VIP');
  assert.is(second['cluster-init'], undefined);
  assert.is(second['prefer-bundled-bin'], true);
  const text = configYaml(first);
  assert.match(text, /^# Managed by clusterseed/);
  assert.match(text, /write-kubeconfig-mode: "0600"/, 'the mode stays a string');
  assert.not.match(text, /token/);
});

test('one server: no embedded etcd unless asked for', () => {
  const inv = parseInventory(
    'cluster: { name: one, k3s_version: v1.31.4+k3s1 }\ndefaults: { user: admin }\nhosts: { s1: { address: 10.0.0.1 } }\ngroups: { servers: [s1] }\n',
    '/srv/inventory.yaml',
  );
  const settings = k3sSettings(inv, inv.clusters[0]);
  const config = serverConfig({ inventory: inv, settings, host: inv.hosts[0], preferBundledBin: false });
  assert.is(config['cluster-init'], undefined);
  assert.is(config['etcd-snapshot-retention'], undefined);
  assert.equal(config['tls-san'], ['10.0.0.1']);
});

test('agents: server URL of the API endpoint, labels the kubelet may set, taints', () => {
  const inv = inventory({ agent_config: { 'kubelet-arg': ['max-pods=50'] } });
  const settings = k3sSettings(inv, inv.clusters[0]);
  const config = agentConfig({
    inventory: inv,
    settings,
    host: host(inv, 'a1'),
    preferBundledBin: false,
    hostConfig: { 'node-ip': '192.168.1.21' },
  });
  assert.equal(config, {
    'node-name': 'a1',
    server: 'https://192.168.1.9:6443',
    'node-label': ['clusterseed.io/arch-pool=arm'],
    'node-taint': ['clusterseed.io/edge=true:NoSchedule'],
    'protect-kernel-defaults': true,
    'kubelet-arg': ['seccomp-default=true', 'pod-max-pids=4096', 'streaming-connection-idle-timeout=5m', 'max-pods=50'],
    'node-ip': '192.168.1.21',
  });
  assert.equal(kubeletLabels(host(inv, 'a1')), ['clusterseed.io/arch-pool=arm'], 'node-role.kubernetes.io/worker goes through the API');
  const { 'node-label': _l, 'node-taint': _t, ...rest } = config;
  assert.equal(withoutRegistrationKeys(config), rest);
  assert.ok('kubelet-arg' in rest && !('node-label' in withoutRegistrationKeys(config)));
});

/** The test inventory with sites: s1 and s2 in the cloud (s1 with a public endpoint), s3 and a1 at home. */
function linked(backend?: 'wireguard-native', port = 51830): Inventory {
  const inv = inventory();
  const sites: Record<string, [string, string, string?]> = {
    s1: ['cloud', '10.77.0.1', '203.0.113.10:51830'],
    s2: ['cloud', '10.77.0.2'],
    s3: ['home', '10.77.0.3'],
    a1: ['home', '10.77.0.4'],
  };
  inv.sites = ['cloud', 'home'];
  inv.siteLink = { interface: 'cs-link', network: '10.77.0.0/24', port, topology: 'hub', hub: 's1', keepalive: 25 };
  for (const h of inv.hosts) {
    const [site, address, endpoint] = sites[h.name];
    h.site = site;
    h.link = { address, ...(endpoint ? { endpoint } : {}) };
  }
  if (backend) inv.clusters[0].flannelBackend = backend;
  return inv;
}

test('a cluster across sites runs K3s on the site link: node-ip the tunnel address, flannel on the link interface, joins and tls-san by tunnel', () => {
  const inv = linked();
  const settings = k3sSettings(inv, inv.clusters[0]);
  const first = serverConfig({ inventory: inv, settings, host: host(inv, 's1'), preferBundledBin: false });
  assert.is(first['node-ip'], '10.77.0.1');
  assert.is(first['flannel-iface'], 'cs-link');
  assert.equal(first['tls-san'], ['192.168.1.9', '192.168.1.10', '10.77.0.1']);
  const third = serverConfig({ inventory: inv, settings, host: host(inv, 's3'), preferBundledBin: false });
  assert.is(third.server, 'https://10.77.0.1:6443', 'the first server by its tunnel address, from the other site');
  assert.is(third['node-ip'], '10.77.0.3');
  assert.ok((third['tls-san'] as string[]).includes('10.77.0.3'));
  const agent = agentConfig({ inventory: inv, settings, host: host(inv, 'a1'), preferBundledBin: false });
  assert.is(agent.server, 'https://10.77.0.1:6443', "not the VIP of one site's LAN");
  assert.is(agent['node-ip'], '10.77.0.4');
  assert.is(agent['flannel-iface'], 'cs-link');
  // the control machine's kubeconfig keeps the API endpoint
  assert.is(kubeconfigServer(inv, settings), 'https://192.168.1.9:6443');
});

test('hosts of one cluster at one site: LAN as before, the tunnel address only in tls-san (Argo CD may come through the link)', () => {
  const inv = linked();
  for (const h of inv.hosts) h.site = 'home';
  const settings = k3sSettings(inv, inv.clusters[0]);
  const s2 = serverConfig({ inventory: inv, settings, host: host(inv, 's2'), preferBundledBin: false });
  assert.is(s2.server, 'https://192.168.1.10:6443');
  assert.is(s2['node-ip'], undefined);
  assert.is(s2['flannel-iface'], undefined);
  assert.equal(s2['tls-san'], ['192.168.1.9', '192.168.1.11', '10.77.0.2']);
  const agent = agentConfig({ inventory: inv, settings, host: host(inv, 'a1'), preferBundledBin: false });
  assert.is(agent.server, 'https://192.168.1.9:6443');
  assert.is(agent['flannel-iface'], undefined);
});

test('flannel wireguard-native stays an option across sites, on another port than the site link', () => {
  const inv = linked('wireguard-native');
  const settings = k3sSettings(inv, inv.clusters[0]);
  const config = serverConfig({ inventory: inv, settings, host: host(inv, 's3'), preferBundledBin: false });
  assert.is(config['flannel-backend'], 'wireguard-native');
  assert.is(config['flannel-iface'], 'cs-link');
  const clash = linked('wireguard-native', 51820);
  assert.throws(
    () =>
      serverConfig({ inventory: clash, settings: k3sSettings(clash, clash.clusters[0]), host: host(clash, 's1'), preferBundledBin: false }),
    /inventory\.yaml: site_link\.port: 51820 is taken on the nodes of cluster "home" by flannel's wireguard-native backend/,
  );
  // the same clash on a linked node of a cluster at one site
  for (const h of clash.hosts) h.site = 'home';
  assert.throws(
    () =>
      agentConfig({ inventory: clash, settings: k3sSettings(clash, clash.clusters[0]), host: host(clash, 'a1'), preferBundledBin: false }),
    /site_link\.port: 51820/,
  );
});

test('settings: unknown keys, tokens in config and bad values are errors naming file and field', () => {
  assert.throws(
    () => k3sSettings(inventory({ disabel: ['traefik'] }), inventory({ disabel: [] }).clusters[0]),
    /inventory\.yaml: cluster "home": vars\.k3s\.disabel: unknown setting/,
  );
  const withToken = inventory({ server_config: { token: 'x' } });
  assert.throws(
    () => k3sSettings(withToken, withToken.clusters[0]),
    /vars\.k3s\.server_config\.token: may not be set here \(the token lives in token_file/,
  );
  const badRetention = inventory({ etcd_snapshot_retention: 0 });
  assert.throws(() => k3sSettings(badRetention, badRetention.clusters[0]), /etcd_snapshot_retention: expected a whole number/);
  const badCron = inventory({ etcd_snapshot_schedule: 'hourly' });
  assert.throws(() => k3sSettings(badCron, badCron.clusters[0]), /etcd_snapshot_schedule: expected a cron expression/);
  const badEnv = inventory({ env: { K3S_TOKEN: 'x' } });
  assert.throws(() => k3sSettings(badEnv, badEnv.clusters[0]), /env\.K3S_TOKEN: clusterseed sets K3S_TOKEN itself/);
  const kube = inventory({ kubeconfig: '~/.kube/config' });
  assert.match(k3sSettings(kube, kube.clusters[0]).kubeconfig, /\.kube\/config$/);
  assert.is(k3sSettings(inventory(), inventory().clusters[0]).kubeconfig, '/srv/inv/.clusterseed/home/kubeconfig');
});

test('config with S3 credentials is masked in diffs', () => {
  assert.ok(hasSecretKeys({ 'etcd-s3-secret-key': 'x' }));
  assert.not.ok(hasSecretKeys({ 'node-name': 'a' }));
  assert.not.ok(
    hasSecretKeys({ 'secrets-encryption': true, 'secrets-encryption-provider': 'secretbox' }),
    'a switch, not a secret: config.yaml diffs stay visible',
  );
});

test("the unit file and env file are the official installer's", () => {
  const server = unitFile('server');
  assert.ok(
    server.startsWith(
      '[Unit]\nDescription=Lightweight Kubernetes\nDocumentation=https://k3s.io\nWants=network-online.target\nAfter=network-online.target\n',
    ),
  );
  for (const line of [
    'Type=notify',
    'EnvironmentFile=-/etc/default/%N',
    'EnvironmentFile=-/etc/sysconfig/%N',
    'EnvironmentFile=-/etc/systemd/system/k3s.service.env',
    'KillMode=process',
    'Delegate=yes',
    'LimitNOFILE=1048576',
    'LimitNPROC=infinity',
    'LimitCORE=infinity',
    'TasksMax=infinity',
    'TimeoutStartSec=0',
    'Restart=always',
    'RestartSec=5s',
    'ExecStartPre=-/sbin/modprobe br_netfilter',
    'ExecStartPre=-/sbin/modprobe overlay',
  ]) {
    assert.ok(server.split('\n').includes(line), line);
  }
  assert.ok(server.endsWith('ExecStart=/usr/local/bin/k3s \\\n    server \\\n\n'));
  assert.ok(unitFile('agent').includes('EnvironmentFile=-/etc/systemd/system/k3s-agent.service.env\n'));
  assert.ok(unitFile('agent').endsWith('    agent \\\n\n'));
  assert.is(unitPath('agent'), '/etc/systemd/system/k3s-agent.service');
  assert.is(envPath('server'), '/etc/systemd/system/k3s.service.env');
  assert.is(envFile({ K3S_TOKEN: 'abc', HTTP_PROXY: 'http://proxy:3128', EMPTY: '' }), "K3S_TOKEN='abc'\nHTTP_PROXY='http://proxy:3128'\n");
  assert.throws(() => envFile({ X: "it's" }), /may not contain quotes/);
});

test('Raspberry Pi cmdline: one line, each word once, idempotent, broken files repaired', () => {
  const base = 'console=serial0,115200 console=tty1 root=PARTUUID=58b06195-02 rootfstype=ext4 rootwait\n';
  const once = ensureCmdlineWords(base, PI_CGROUP_WORDS);
  assert.is(
    once,
    'console=serial0,115200 console=tty1 root=PARTUUID=58b06195-02 rootfstype=ext4 rootwait cgroup_memory=1 cgroup_enable=memory cgroup_enable=cpuset\n',
  );
  assert.is(ensureCmdlineWords(once, PI_CGROUP_WORDS), once, 'a second pass changes nothing');
  assert.is(
    ensureCmdlineWords('root=/dev/x cgroup_enable=memory\n', PI_CGROUP_WORDS),
    'root=/dev/x cgroup_enable=memory cgroup_memory=1 cgroup_enable=cpuset\n',
  );
  assert.is(ensureCmdlineWords('root=/dev/x\nquiet\n\n', ['quiet']), 'root=/dev/x quiet\n', 'stray lines folded into one');
  assert.is(ensureCmdlineWords('root=/dev/x', []), 'root=/dev/x\n', 'a missing newline is added');
});

test('fstab: active swap entries commented out, nothing else touched', () => {
  const fstab = 'UUID=1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n# /old none swap sw 0 0\nUUID=2 none swap sw 0 0\n';
  const out = commentOutSwap(fstab);
  assert.is(
    out,
    'UUID=1 / ext4 defaults 0 1\n# /swapfile none swap sw 0 0 # disabled by clusterseed (K3s)\n# /old none swap sw 0 0\n# UUID=2 none swap sw 0 0 # disabled by clusterseed (K3s)\n',
  );
  assert.equal(activeSwapEntries(fstab).length, 2);
  assert.is(commentOutSwap(out), out);
});

test('iptables as K3s documents it: legacy for old nft, bundled for 1.8.0-1.8.4, nothing else', () => {
  const bookworm = parseIptables('iptables v1.8.9 (nf_tables)\nlegacy-available\n');
  assert.equal(bookworm, { installed: true, version: [1, 8, 9], mode: 'nf_tables', legacyAvailable: true });
  assert.equal(iptablesAdvice(bookworm), { switchToLegacy: false, preferBundledBin: false });
  assert.ok(iptablesAdvice(parseIptables('iptables v1.8.2 (nf_tables)\n')).preferBundledBin, 'buster');
  assert.ok(iptablesAdvice(parseIptables('iptables v1.8.4 (legacy)\n')).preferBundledBin, 'focal');
  assert.ok(iptablesAdvice(parseIptables('iptables v1.6.1 (nf_tables)\n')).switchToLegacy);
  assert.not.ok(iptablesAdvice(parseIptables('iptables v1.6.1\n')).switchToLegacy, 'old legacy-only iptables is fine');
  assert.equal(parseIptables('none\n'), { installed: false, legacyAvailable: false });
  const save =
    '*filter\n:INPUT ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n-A INPUT -j KUBE-SERVICES\n-A FORWARD -m comment --comment "flanneld forward" -j ACCEPT\n-A CNI-HOSTPORT-MASQ -j MASQUERADE\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n';
  assert.ok(hasK3sRules(save));
  assert.is(withoutK3sRules(save), '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n');
  assert.not.ok(hasK3sRules(withoutK3sRules(save)));
});

test('restart stamp: which inputs changed', () => {
  const inputs = { binary: 'b2', 'config.yaml': 'c1', unit: 'u1' };
  const stamp = stampOf({ unit: 'u1', binary: 'b1', 'config.yaml': 'c1' });
  assert.is(stamp, '{"binary":"b1","config.yaml":"c1","unit":"u1"}', 'keys sorted: the stamp does not depend on order');
  assert.equal(changedInputs(stamp, inputs), ['binary']);
  assert.equal(changedInputs(stampOf(inputs), inputs), []);
  assert.is(changedInputs('not json', inputs), null);
});

test("node_ip: K3s node-ip and tls-san; joining servers and agents use the first server's node_ip", () => {
  const inv = parseInventory(
    `
cluster: { name: lab, k3s_version: v1.31.4+k3s1 }
defaults: { user: admin }
hosts:
  s1: { address: 127.0.0.1, port: 2222, node_ip: 172.30.213.11 }
  s2: { address: 127.0.0.1, port: 2223, node_ip: 172.30.213.12 }
  a1: { address: 127.0.0.1, port: 2224, node_ip: 172.30.213.13 }
  a2: { address: 192.168.1.30 }
groups: { servers: [s1, s2], agents: [a1, a2] }
`,
    '/srv/inv/inventory.yaml',
  );
  const settings = k3sSettings(inv, inv.clusters[0]);
  const input = (name: string) => ({ inventory: inv, settings, host: host(inv, name), preferBundledBin: false });
  const s1 = serverConfig(input('s1'));
  assert.is(s1['node-ip'], '172.30.213.11');
  assert.equal(s1['tls-san'], ['127.0.0.1', '172.30.213.11']);
  assert.is(serverConfig(input('s2')).server, 'https://172.30.213.11:6443');
  assert.is(agentConfig(input('a1')).server, 'https://172.30.213.11:6443');
  assert.is(agentConfig(input('a1'))['node-ip'], '172.30.213.13');
  assert.not.ok('node-ip' in agentConfig(input('a2')), 'no node_ip: K3s picks the address itself');
  assert.is(kubeconfigServer(inv, settings), 'https://172.30.213.11:6443');
});

test('kubeconfig_server: overrides the kubeconfig URL only; must be an https URL without a path', () => {
  const inv = inventory({ kubeconfig_server: 'https://127.0.0.1:16443/' });
  const settings = k3sSettings(inv, inv.clusters[0]);
  assert.is(kubeconfigServer(inv, settings), 'https://127.0.0.1:16443');
  assert.is(agentConfig({ inventory: inv, settings, host: host(inv, 'a1'), preferBundledBin: false }).server, 'https://192.168.1.9:6443');
  assert.is(kubeconfigServer(inventory(), k3sSettings(inventory(), inventory().clusters[0])), 'https://192.168.1.9:6443');
  for (const bad of ['http://127.0.0.1:6443', 'https://x/api', 42]) {
    const b = inventory({ kubeconfig_server: bad });
    assert.throws(() => k3sSettings(b, b.clusters[0]), /vars\.k3s\.kubeconfig_server: expected an https URL/);
  }
});

test('API URLs bracket IPv6 addresses', () => {
  assert.is(apiUrl('10.0.0.1'), 'https://10.0.0.1:6443');
  assert.is(apiUrl('fd00::1'), 'https://[fd00::1]:6443');
  assert.is(apiUrl('k8s.lan'), 'https://k8s.lan:6443');
});

test('config.yaml parses back to what was rendered', () => {
  const inv = inventory();
  const settings = k3sSettings(inv, inv.clusters[0]);
  const config = serverConfig({ inventory: inv, settings, host: host(inv, 's3'), preferBundledBin: false });
  assert.equal(parse(configYaml(config)), config);
});

function contexts(inv: Inventory, names: string[]): Map<string, HostContext> {
  const peers = new Map<string, HostContext>();
  const shared = new Map<string, unknown>();
  const quiet = () => undefined;
  for (const n of names) {
    peers.set(n, {
      host: host(inv, n),
      inventory: inv,
      facts: { arch: 'x86_64' },
      shared,
      peers,
      vars: {},
      options: { check: false, diff: false, verbosity: 0 },
      log: { info: quiet, verbose: quiet, debug: quiet, warn: quiet },
    } as unknown as HostContext);
  }
  return peers;
}

test('joining fails fast when the server to join failed in this run, or comes later in the inventory', async () => {
  const inv = inventory();
  const join = (ctx: HostContext, kind: 'server' | 'agent') => joinTargetTask(kind).plan({ stdout: '', code: 0 }, ctx);
  // the first server converged: the others may join
  let peers = contexts(inv, ['s1', 's2', 'a1']);
  await join(peers.get('s1')!, 'server');
  await convergedTask().plan({ stdout: '', code: 0 }, peers.get('s1')!);
  assert.is(await join(peers.get('s2')!, 'server'), null);
  assert.is(await join(peers.get('a1')!, 'agent'), null);
  // the first server started but failed
  peers = contexts(inv, ['s1', 's2', 'a1']);
  await join(peers.get('s1')!, 'server');
  assert.throws(() => join(peers.get('s2')!, 'server'), /the first server s1 failed in this run; s2 does not try to join it/);
  assert.throws(() => join(peers.get('a1')!, 'agent'), /every server of cluster "home" in this run failed \(s1, s2\)/);
  // the first server is in the run but not set up yet (listed after s2 under hosts:)
  peers = contexts(inv, ['s1', 's2']);
  assert.throws(() => join(peers.get('s2')!, 'server'), /s1 initialises the cluster .* list s1 first/);
  // the first server is not part of the run (--limit): assumed running
  peers = contexts(inv, ['s2']);
  assert.is(await join(peers.get('s2')!, 'server'), null);
});

test.run();
