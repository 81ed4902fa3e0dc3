// The cluster's own traffic through the hardened firewall, on hosts with TWO networks: SSH (and the
// mirror) on eth0, the K3s node network on eth1 (inventory node_ip). The whole site converges with
// the K3s stand-in, whose nodes talk on the ports real K3s uses between node IPs and report what
// they reached (reach.json); every required path must be reached, and ports the cluster does not
// need from a given place stay closed to real connection attempts from there.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLab, type TestHost, type TestLab } from '../harness/hosts.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';
import { run as runCmd } from '../../lib/process/index.ts';

const VERSION = 'v1.31.4+k3s1';
const REACH = '/var/lib/rancher/k3s/standin/reach.json';
let mirror: K3sMirror;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-cluster-net-'));

test.before(async () => {
  mirror = await startK3sMirror({ versions: [VERSION] });
});
test.after(async () => {
  await mirror?.close();
  rmSync(tmp, { recursive: true, force: true });
});

function site(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['zx', 'scripts/site.mjs', ...args], { timeout: 900_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

interface ReachPath {
  peer: string;
  to: string;
  port: number;
  proto: string;
  what: string;
  reached: boolean;
  error: string;
}
interface Reach {
  node: string;
  kind: string;
  etcd: boolean;
  nodeIp: string;
  round: number;
  peersError: string;
  paths: ReachPath[];
}

/** The paths real K3s uses from `from` (by role), as "peer port/proto to-address". */
type Backend = 'vxlan' | 'wireguard-native';

function requiredPaths(from: TestHost, hosts: TestHost[], servers: string[], etcd: boolean, backend: Backend = 'vxlan'): string[] {
  const isServer = (h: TestHost) => servers.includes(h.name);
  const out: string[] = [];
  for (const peer of hosts.filter((h) => h.name !== from.name)) {
    const to = peer.lanAddress!;
    if (isServer(peer)) out.push(`${peer.name} 6443/tcp ${to}`);
    if (isServer(from)) out.push(`${peer.name} 10250/tcp ${to}`);
    if (etcd && isServer(from) && isServer(peer)) out.push(`${peer.name} 2379/tcp ${to}`, `${peer.name} 2380/tcp ${to}`);
    out.push(backend === 'vxlan' ? `${peer.name} 8472/udp ${to}` : `${peer.name} 51820/udp ${to}`);
  }
  return out.sort();
}

async function reachOf(lab: TestLab, host: string): Promise<Reach | undefined> {
  const r = await lab.sh(host, `cat ${REACH} 2>/dev/null`);
  try {
    return r.code === 0 ? (JSON.parse(r.stdout) as Reach) : undefined;
  } catch {
    return undefined; // written by rename: a half file is not expected, but retry anyway
  }
}

/** Waits (bounded) until every node has reached every path it needs; returns the last reports. */
async function settle(
  lab: TestLab,
  servers: string[],
  etcd: boolean,
  backend: Backend = 'vxlan',
  timeoutMs = 60_000,
): Promise<Map<string, Reach | undefined>> {
  const deadline = Date.now() + timeoutMs;
  let last = new Map<string, Reach | undefined>();
  for (;;) {
    last = new Map(await Promise.all(lab.hosts.map(async (h) => [h.name, await reachOf(lab, h.name)] as const)));
    const done = lab.hosts.every((h) => {
      const r = last.get(h.name);
      if (!r) return false;
      const reached = r.paths
        .filter((p) => p.reached)
        .map((p) => `${p.peer} ${p.port}/${p.proto} ${p.to}`)
        .sort();
      return requiredPaths(h, lab.hosts, servers, etcd, backend).every((p) => reached.includes(p));
    });
    if (done || Date.now() > deadline) return last;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

function assertReach(
  lab: TestLab,
  reports: Map<string, Reach | undefined>,
  servers: string[],
  etcd: boolean,
  backend: Backend = 'vxlan',
): void {
  for (const h of lab.hosts) {
    const r = reports.get(h.name);
    assert.ok(r, `${h.name}: no ${REACH}`);
    assert.is(r!.peersError, '', `${h.name}: node list`);
    assert.is(r!.nodeIp, h.lanAddress, `${h.name} uses its node_ip, not its SSH address`);
    const seen = r!.paths.map((p) => `${p.peer} ${p.port}/${p.proto} ${p.to}`).sort();
    assert.equal(seen, requiredPaths(h, lab.hosts, servers, etcd, backend), `${h.name} tries exactly the paths real K3s uses`);
    const failed = r!.paths
      .filter((p) => !p.reached)
      .map((p) => `${h.name} -> ${p.peer} ${p.to}:${p.port}/${p.proto} (${p.what}): ${p.error}`);
    assert.equal(failed, [], `unreached paths:\n${failed.join('\n')}`);
  }
}

/** A real TCP connection attempt from this process (an outsider of the cluster). */
function connect(host: string, port: number, timeoutMs = 3_000): Promise<'open' | 'refused' | 'dropped'> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (r: 'open' | 'refused' | 'dropped') => {
      s.destroy();
      resolve(r);
    };
    s.setTimeout(timeoutMs, () => done('dropped'));
    s.on('connect', () => done('open'));
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'dropped'));
  });
}

/** A TCP connection attempt from inside a host (bash's /dev/tcp; 3 s bound). */
async function connectFrom(lab: TestLab, from: string, host: string, port: number): Promise<'open' | 'closed'> {
  const r = await lab.sh(from, `timeout 3 bash -c 'exec 3<>/dev/tcp/${host}/${port}' 2>/dev/null && echo open || echo closed`);
  return r.stdout.trim() === 'open' ? 'open' : 'closed';
}

async function converge(lab: TestLab, servers: string[], agents: string[], name: string, backend: Backend = 'vxlan'): Promise<void> {
  const inv = lab.writeInventory({
    servers,
    agents,
    extra: { cluster: { flannel_backend: backend, vars: { k3s: { ready_timeout: 90 } } } },
  });
  const r = await site(['-i', inv, '--k3s-mirror', mirror.url, '--skip-push', '--json', path.join(tmp, `${name}.json`)]);
  assert.is(r.code, 0, r.out.slice(-6000));
}

test('1 server + 2 agents on two networks: every K3s path between node IPs is open; outsiders stay out', async () => {
  const lab = await startLab({ count: 3, prefix: 'cn', lan: true });
  const subnet = lab.lan!.gateway.split('.')[2];
  try {
    const [k1, k2] = lab.hosts;
    assert.ok(k1.lanAddress && k1.lanAddress !== k1.address, 'two networks');
    await converge(lab, ['cn1'], ['cn2', 'cn3'], 'single');
    assertReach(lab, await settle(lab, ['cn1'], false), ['cn1'], false);

    // an outsider on the node network (this process, lab.lan.gateway) reaches SSH, so routing works,
    // but not the kubelet, which a server reaches on the same address
    assert.is(await connect(k2.lanAddress!, 22), 'open', 'the outsider can route to the node network');
    assert.is(await connect(k2.lanAddress!, 10250), 'dropped', 'kubelet from a host outside the cluster');
    assert.is(await connect(k2.address, 10250), 'dropped', 'kubelet from the SSH-only network');
    assert.is(await connectFrom(lab, 'cn1', k2.lanAddress!, 10250), 'open');
    // the API is open to anyone by default (api_allowed_from: [])
    assert.is(await connect(k1.lanAddress!, 6443), 'open');

    // a restart of nftables.service (its conf starts with "flush ruleset") must not leave the
    // host without its table: the boot unit is PartOf= it and ordered After= it
    const restart = await lab.sh('cn2', 'systemctl restart nftables && nft list table inet clusterseed >/dev/null && echo table-present');
    assert.is(restart.stdout.trim(), 'table-present', restart.stderr);
    assert.is(await connect(k2.lanAddress!, 10250), 'dropped', 'the policy is back after the restart');
  } finally {
    await lab.stop();
  }
  // the node network goes with the lab: its bridge and its address
  assert.is((await runCmd(['ip', 'link', 'show', `cslan-${subnet}`], { timeoutMs: 30_000 })).code === 0, false, 'bridge removed');
  assert.not.match((await runCmd(['ip', '-4', '-o', 'addr', 'show'], { timeoutMs: 30_000 })).stdout, new RegExp(`172\\.31\\.${subnet}\\.`));
});

test('HA: 3 servers (embedded etcd) + 1 agent: etcd between servers only, every path open', async () => {
  const lab = await startLab({ count: 4, prefix: 'ch', lan: true });
  try {
    const servers = ['ch1', 'ch2', 'ch3'];
    await converge(lab, servers, ['ch4'], 'ha');
    assertReach(lab, await settle(lab, servers, true), servers, true);
    const [s1, , , agent] = lab.hosts;
    assert.is(await connectFrom(lab, 'ch2', s1.lanAddress!, 2379), 'open', 'etcd from another server');
    assert.is(await connectFrom(lab, agent.name, s1.lanAddress!, 2379), 'closed', 'etcd from an agent');
    assert.is(await connect(s1.lanAddress!, 2380), 'dropped', 'etcd peer port from outside the cluster');
  } finally {
    await lab.stop();
  }
});

test('flannel wireguard-native: 51820/udp between node IPs instead of VXLAN', async () => {
  const lab = await startLab({ count: 2, prefix: 'cw', lan: true });
  try {
    await converge(lab, ['cw1'], ['cw2'], 'wireguard', 'wireguard-native');
    assertReach(lab, await settle(lab, ['cw1'], false, 'wireguard-native'), ['cw1'], false, 'wireguard-native');
    const nft = await lab.sh('cw2', 'nft list table inet clusterseed');
    assert.match(nft.stdout, /udp dport 51820-51821 accept/);
    assert.not.match(nft.stdout, /8472/);
  } finally {
    await lab.stop();
  }
});

test.run();
