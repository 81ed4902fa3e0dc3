// Issue 17, WireGuard in the VM tier (the real kernel module): two x86_64 VMs at two sites, each
// alone on its own QEMU user-mode network (no lab LAN): they have the same address (10.0.2.15) and
// no route to each other. The only ways across are the control machine's loopback forwards: the
// test's SSH, and the "cloud" hub's public WireGuard endpoint, a UDP forward 127.0.0.1:P -> 51820
// that the "home" VM, behind its NAT (slirp), dials as 10.0.2.2:P with a keepalive.
// Before the roles home cannot reach a listener on cloud; after base, harden and wireguard (the
// engine, as site.mjs runs them, with the wireguard tag) both reach each other over the tunnel
// addresses: ping both ways and a TCP round trip to listeners bound only to the peer's tunnel
// address, with handshakes and transfer counters to show it went through WireGuard. The module is
// the kernel's own (lsmod), the private keys stay on the hosts (0600, in no config, in no report);
// a second run changes nothing and --check afterwards has nothing to do.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { labDown, labUp, readState, sshExec, sshTarget, type LabUpResult } from '../../lib/lab/index.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import type { RunReport } from '../../lib/runner/types.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { hostRoles } from '../../roles/index.ts';

const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'clusterseed-vmwg-'));
const labDir = path.join(cwd, 'lab');
const IFACE = 'cs-link';
const WG_PORT = 51820;
const TUNNEL = { cloud: '10.77.0.1', home: '10.77.0.2' } as const;
/** the TCP port of the test's listeners (admitted from the link network only: see the inventory) */
const LISTEN_PORT = 7777;
const TAGS = ['base', 'harden', 'wireguard'];

let lab: LabUpResult;
let inventory: Inventory;
/** every log line and report of the runs: the private keys must be in none of them */
const logged: string[] = [];
const reports: RunReport[] = [];

const WATCHDOG_MS = 40 * 60_000;
const watchdog = setTimeout(async () => {
  console.error(`vm wireguard test: still running after ${WATCHDOG_MS / 60_000} min: tearing the lab down`);
  await labDown(labDir).catch(() => undefined);
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

test.before(async () => {
  const started = Date.now();
  lab = await labUp({
    dir: labDir,
    vms: [
      { name: 'cloud', role: 'server' },
      { name: 'home', role: 'agent' },
    ],
    lan: false,
    udpForwards: { cloud: [WG_PORT] },
    memoryMb: 1024,
  });
  console.log(`  [lab] two isolated VMs up after ${Math.round((Date.now() - started) / 1000)} s`);
  inventory = await twoSiteInventory();
});
test.after(async () => {
  await labDown(labDir).catch(() => undefined);
  fs.rmSync(cwd, { recursive: true, force: true });
  clearTimeout(watchdog);
});

/**
 * The lab's inventory with the two sites and the link as the model carries them (the YAML's
 * `sites:`/`site_link:` are parsed elsewhere; the test writes the fields the parser produces).
 * The base role installs ping; the firewall admits the test's listener port from the link network.
 */
async function twoSiteInventory(): Promise<Inventory> {
  const file = path.join(cwd, 'inventory.yaml');
  const labText = fs.readFileSync(lab.inventoryFile, 'utf8');
  const vars = `vars: { base: { packages: [iputils-ping] }, harden: { firewall: { extra_ports: [{ port: ${LISTEN_PORT}, proto: tcp, from: [10.77.0.0/24], comment: test listener over the link }] } } }\n`;
  fs.writeFileSync(file, labText + vars);
  const inv = await loadInventory(file);
  const endpointPort = lab.hosts.find((h) => h.name === 'cloud')!.udpForwards[0].hostPort;
  inv.sites = ['cloud', 'home'];
  inv.siteLink = { interface: IFACE, network: '10.77.0.0/24', port: WG_PORT, topology: 'hub', hub: 'cloud', keepalive: 25 };
  for (const h of inv.hosts) {
    if (h.name === 'cloud') Object.assign(h, { site: 'cloud', link: { address: TUNNEL.cloud, endpoint: `10.0.2.2:${endpointPort}` } });
    if (h.name === 'home') Object.assign(h, { site: 'home', link: { address: TUNNEL.home } });
  }
  return inv;
}

function converge(check = false): Promise<RunReport> {
  const started = Date.now();
  const line = (m: string) => logged.push(m);
  return runSite({
    inventory,
    roles: hostRoles(),
    options: { check, diff: true, verbosity: 1, forks: 2, tags: TAGS },
    connect: (h) => createTransport(h, { knownHostsFile: lab.knownHostsFile, log: line }),
    log: { info: line, verbose: line, debug: line, warn: line },
  }).then((report) => {
    console.log(`  [run${check ? ' --check' : ''} ${TAGS.join(',')}] ${Math.round((Date.now() - started) / 1000)} s`);
    reports.push(report);
    return report;
  });
}

async function sh(name: 'cloud' | 'home', command: string): Promise<{ code: number; out: string }> {
  const state = readState(labDir)!;
  const vm = state.vms.find((v) => v.name === name)!;
  const r = await sshExec(sshTarget(state, vm), command, { timeoutMs: 120_000 });
  return { code: r.code, out: (r.stdout + r.stderr).trim() };
}
const out = async (name: 'cloud' | 'home', command: string) => {
  const r = await sh(name, command);
  assert.is(r.code, 0, `${name}: ${command}: ${r.out}`);
  return r.out;
};

/** a one-connection-at-a-time TCP service answering "<line> from <hostname>", as a transient unit */
const listen = (name: 'cloud' | 'home', address: string) =>
  out(
    name,
    `sudo systemd-run --quiet --unit=cs-test-listener --collect systemd-socket-activate -l ${address}:${LISTEN_PORT} -a --inetd sh -c 'read -r line; echo "$line from $(hostname)"' && ` +
      `for i in $(seq 100); do ss -Hltn 'sport = :${LISTEN_PORT}' | grep -q . && exit 0; sleep 0.2; done; echo 'listener did not start' >&2; exit 1`,
  );
const stopListener = (name: 'cloud' | 'home') => sh(name, 'sudo systemctl stop cs-test-listener 2>/dev/null; true');
/** one TCP round trip from `name` to address:LISTEN_PORT with a bounded wait */
const roundTrip = (name: 'cloud' | 'home', address: string, token: string) =>
  sh(name, `timeout 20 bash -c 'exec 3<>/dev/tcp/${address}/${LISTEN_PORT} && echo ${token} >&3 && cat <&3'`);

/** `wg show IFACE dump` peer lines: public key, endpoint, allowed ips, last handshake, rx, tx, keepalive */
async function peers(name: 'cloud' | 'home') {
  const lines = (await out(name, `sudo wg show ${IFACE} dump`)).split('\n').slice(1);
  return lines.map((l) => {
    const [publicKey, , endpoint, allowedIps, handshake, rx, tx, keepalive] = l.split('\t');
    return { publicKey, endpoint, allowedIps, handshake: Number(handshake), rx: Number(rx), tx: Number(tx), keepalive };
  });
}

const failures = (r: RunReport) =>
  r.hosts.flatMap((h) =>
    h.tasks.filter((t) => t.outcome === 'failed' || t.outcome === 'unreachable').map((t) => `${h.host}: ${t.role}/${t.task}: ${t.message}`),
  );
const changed = (r: RunReport) =>
  r.hosts.flatMap((h) => h.tasks.filter((t) => t.outcome === 'changed').map((t) => `${h.host}: ${t.role}/${t.task}`));

test('before the roles: two VMs on separate networks, home cannot reach a listener on cloud', async () => {
  // both VMs: one NIC, the same slirp address, a default route to their own NAT and nothing else
  for (const name of ['cloud', 'home'] as const) {
    assert.is(await out(name, "ip -4 -o addr show scope global | awk '{print $2, $4}'"), 'ens4 10.0.2.15/24', name);
    assert.not.match(await out(name, 'ip -o link'), IFACE, name);
  }
  // a listener on every address of cloud; its only address is home's own, where nothing listens
  await listen('cloud', '0.0.0.0');
  const fromCloud = await roundTrip('cloud', '10.0.2.15', 'ping');
  assert.is(fromCloud.out, 'ping from cloud', 'the listener answers on cloud itself');
  const fromHome = await roundTrip('home', '10.0.2.15', 'ping');
  assert.is.not(fromHome.code, 0, `home reached something: ${fromHome.out}`);
  assert.not.match(fromHome.out, 'from cloud');
  await stopListener('cloud');
});

test('base, harden, wireguard: the hosts reach each other only through the tunnel', async () => {
  const report = await converge();
  assert.equal(failures(report), [], logged.slice(-40).join('\n'));
  const wgChanges = changed(report).filter((t) => t.includes('wireguard/'));
  assert.ok(wgChanges.some((t) => t.startsWith('cloud:')) && wgChanges.some((t) => t.startsWith('home:')), changed(report).join('\n'));

  // the kernel's own module, loaded
  for (const name of ['cloud', 'home'] as const) {
    assert.match(await out(name, 'lsmod'), /^wireguard\s/m, `${name}: wireguard module loaded`);
    assert.ok((await out(name, 'test -d /sys/module/wireguard && echo yes')) === 'yes', name);
    assert.match(await out(name, `ip -4 -o addr show dev ${IFACE}`), `inet ${TUNNEL[name]}/`, name);
  }
  // home dials the hub at its public endpoint with a keepalive; the hub learned home's NATed address
  const endpointPort = lab.hosts.find((h) => h.name === 'cloud')!.udpForwards[0].hostPort;
  const [homeToHub] = await peers('home');
  assert.is(homeToHub.endpoint, `10.0.2.2:${endpointPort}`);
  assert.is(homeToHub.keepalive, '25');
  assert.is(homeToHub.allowedIps, '10.77.0.0/24');
  const [hubToHome] = await peers('cloud');
  assert.is(hubToHome.allowedIps, `${TUNNEL.home}/32`);

  // ping both ways over the tunnel addresses
  assert.match(await out('home', `ping -c 3 -W 10 ${TUNNEL.cloud}`), '3 received');
  assert.match(await out('cloud', `ping -c 3 -W 10 ${TUNNEL.home}`), '3 received');
  // the tunnel address routes through the link interface, and the hub knows home only by the
  // address its NAT gave it (the control machine's loopback, 10.0.2.2 from inside cloud)
  assert.match(await out('home', `ip route get ${TUNNEL.cloud}`), `dev ${IFACE}`);
  assert.match((await peers('cloud'))[0].endpoint, /^10\.0\.2\.2:\d+$/);

  // a TCP round trip each way to a listener bound only to the peer's tunnel address, with the
  // counters of both ends moving
  for (const [from, to] of [
    ['home', 'cloud'],
    ['cloud', 'home'],
  ] as const) {
    await listen(to, TUNNEL[to]);
    const before = (await peers(from))[0];
    const token = `t${Math.random().toString(36).slice(2, 10)}`;
    const r = await roundTrip(from, TUNNEL[to], token);
    assert.is(r.out, `${token} from ${to}`, `${from} -> ${to}: ${r.out}`);
    const after = (await peers(from))[0];
    assert.ok(after.tx > before.tx && after.rx > before.rx, `${from}: counters moved: ${JSON.stringify({ before, after })}`);
    await stopListener(to);
  }
  for (const name of ['cloud', 'home'] as const) {
    const [p] = await peers(name);
    assert.ok(p.handshake > 0 && Math.abs(Date.now() / 1000 - p.handshake) < 300, `${name}: recent handshake ${p.handshake}`);
  }
});

test('keys: generated on each host, 0600, in no config file and in no report or log line of the runs', async () => {
  const check = await converge(true);
  assert.equal(failures(check), []);
  const seen = JSON.stringify(reports) + logged.join('\n');
  for (const name of ['cloud', 'home'] as const) {
    const privateKey = await out(name, `sudo wg show ${IFACE} private-key`);
    const publicKey = await out(name, `sudo wg show ${IFACE} public-key`);
    assert.match(privateKey, /^[A-Za-z0-9+/]{43}=$/);
    // the key file the interface uses: root's, 0600, under /etc/wireguard
    const keyFiles = (await out(name, `sudo grep -rlx -- '${privateKey}' /etc/wireguard`)).split('\n');
    assert.ok(keyFiles.length >= 1, name);
    for (const f of keyFiles) {
      assert.not.match(f, /\.conf$/, `${name}: private key in a config file ${f}`);
      assert.is(await out(name, `sudo stat -c '%a %U' ${f}`), '600 root', `${name}: ${f}`);
    }
    assert.not.match(
      await out(name, `sudo sh -c 'cat /etc/wireguard/*.conf'`),
      /PrivateKey\s*=/,
      `${name}: no PrivateKey line in the config`,
    );
    assert.not.ok(seen.includes(privateKey), `${name}: the private key reached the control machine`);
    // the peer knows this host by its public key
    const other = name === 'cloud' ? 'home' : 'cloud';
    assert.is((await peers(other))[0].publicKey, publicKey, `${other} peers with ${name}'s public key`);
  }
});

test('a second run changes nothing; --check afterwards has nothing to do', async () => {
  const second = await converge();
  assert.equal(failures(second), []);
  assert.equal(changed(second), []);
  const check = await converge(true);
  assert.equal(failures(check), []);
  assert.equal(changed(check), []);
  // the link survived the reruns
  assert.match(await out('home', `ping -c 1 -W 10 ${TUNNEL.cloud}`), '1 received');
});

test.run();
