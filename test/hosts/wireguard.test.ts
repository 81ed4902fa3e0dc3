// The site link (roles wireguard-keys + wireguard, with harden's firewall) on three real hosts
// (nspawn containers with systemd): h1 at site "cloud" is the hub with a public endpoint, h2 and
// h3 stand at site "home" behind NAT. --check first changes nothing; the first run generates each
// private key on its host (0600 root, never in a log, a recorded script or the report), writes
// configs with the right peers, endpoints and keepalives and no private key, opens the firewall
// for the UDP port and the tunnel; this machine's kernel has no WireGuard, so the role says the
// tunnel is unsupported here instead of passing; the second run and --check change nothing; a run
// limited to one host keeps the peers it does not see; a loosened key file is put back to 0600.
// The tunnel itself is the VM tier's (real kernel module).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { loadInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import type { Logger, Role, RunReport } from '../../lib/runner/types.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { hardenRole } from '../../roles/harden/index.ts';
import { wireguardRoles } from '../../roles/wireguard/index.ts';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { RecordingTransport, type RecordedScript } from '../support/recording-transport.ts';
import { lintReport, requireShellcheck } from '../support/shellcheck.ts';
import { SCRIPT_EXCLUSIONS } from '../support/remote-script-catalog.ts';

let lab: TestLab;
let inventory: Inventory;
let h1: string;
let h2: string;
let h3: string;
const recorded: RecordedScript[] = [];
const logged: string[] = [];
const KEY = '/etc/wireguard/cs-link.key';
const CONF = '/etc/wireguard/cs-link.conf';
const ROLES: Role[] = [hardenRole, ...wireguardRoles];

const log: Logger = {
  info: (m) => logged.push(m),
  verbose: (m) => logged.push(m),
  debug: (m) => logged.push(m),
  warn: (m) => logged.push(m),
};

test.before(async () => {
  requireShellcheck();
  lab = await startLab({ count: 3, prefix: 'wg' });
  [h1, h2, h3] = lab.hosts.map((h) => h.name);
  // keep harden to what this test needs: its firewall (auditd and AppArmor cannot run in a container anyway)
  const file = lab.writeInventory({
    servers: [h1],
    agents: [h2, h3],
    extra: { vars: { harden: { auditd: { enabled: false }, apparmor: { enabled: false } } } },
  });
  inventory = await loadInventory(file);
  linkSites(inventory, 25);
});
test.after(async () => {
  await lab?.stop();
});

/** The site fields the inventory's `sites:`/`site_link:` parse into (set directly: the parser is another part's). */
function linkSites(inv: Inventory, keepalive: number): void {
  inv.sites = ['cloud', 'home'];
  inv.siteLink = { interface: 'cs-link', network: '10.77.0.0/24', port: 51820, topology: 'hub', hub: h1, keepalive };
  const addr = (name: string) => lab.hosts.find((h) => h.name === name)!.address;
  for (const h of inv.hosts) {
    if (h.name === h1) Object.assign(h, { site: 'cloud', link: { address: '10.77.0.1', endpoint: `${addr(h1)}:51820` } });
    if (h.name === h2) Object.assign(h, { site: 'home', link: { address: '10.77.0.2' } });
    if (h.name === h3) Object.assign(h, { site: 'home', link: { address: '10.77.0.3' } });
  }
}

function converge(opts: { check?: boolean; limit?: string[]; roles?: Role[] } = {}): Promise<RunReport> {
  return runSite({
    inventory,
    roles: opts.roles ?? ROLES,
    options: { check: opts.check ?? false, diff: true, verbosity: 2, forks: 10, ...(opts.limit ? { limit: opts.limit } : {}) },
    connect: (h) => new RecordingTransport(createTransport(h, { knownHostsFile: lab.knownHostsFile }), recorded),
    log,
  });
}

const failures = (r: RunReport) =>
  r.hosts.flatMap((h) =>
    h.tasks.filter((t) => t.outcome === 'failed' || t.outcome === 'unreachable').map((t) => `${h.host}: ${t.role}/${t.task}: ${t.message}`),
  );
const changed = (r: RunReport) =>
  r.hosts.flatMap((h) => h.tasks.filter((t) => t.outcome === 'changed').map((t) => `${h.host}: ${t.role}/${t.task}: ${t.summary ?? ''}`));
const sh = async (host: string, cmd: string) => {
  const r = await lab.sh(host, cmd);
  if (r.code !== 0) throw new Error(`${host}: ${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
};
const pubOf = (host: string) => sh(host, `wg pubkey < ${KEY}`);
/** The [Peer] sections of a config, by the peer name in clusterseed's comment above each. */
function peersOf(conf: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of conf.split(/\n(?=# peer )/).slice(1))
    out.set(/^# peer (\S+)/.exec(part)![1], part.replace(/^# peer [^\n]*\n/, '').trim());
  return out;
}

test('the site link converges: keys made on the hosts, configs with the right peers, firewall open for it; then no-ops', async () => {
  const addr = (name: string) => lab.hosts.find((h) => h.name === name)!.address;

  const check = await converge({ check: true });
  assert.equal(failures(check), [], '--check on bare hosts');
  assert.ok(
    changed(check).some((c) => c.includes('private key')),
    changed(check).join('\n'),
  );
  for (const h of [h1, h2, h3])
    assert.is(await sh(h, `test -e ${KEY} && echo there || echo absent`), 'absent', `${h}: --check generated nothing`);

  const first = await converge();
  assert.equal(failures(first), [], 'first run');

  // keys: generated on each host, 0600 root, distinct; the hub's config names the spokes' public keys
  const pub = new Map<string, string>();
  for (const h of [h1, h2, h3]) {
    assert.is(await sh(h, `stat -c '%a %U:%G' ${KEY}`), '600 root:root', h);
    assert.is(await sh(h, `stat -c '%a %U:%G' ${CONF}`), '600 root:root', h);
    pub.set(h, await pubOf(h));
  }
  assert.is(new Set(pub.values()).size, 3);
  const privates = await Promise.all([h1, h2, h3].map((h) => sh(h, `cat ${KEY}`)));

  const hub = await sh(h1, `cat ${CONF}`);
  assert.not.match(hub, /PrivateKey/i);
  assert.match(hub, new RegExp(`^PostUp = wg set %i private-key ${KEY}$`, 'm'));
  assert.match(hub, /^Address = 10\.77\.0\.1\/24$/m);
  assert.match(hub, /^ListenPort = 51820$/m);
  assert.match(hub, /^PostUp = sysctl -q -w net\.ipv4\.conf\.%i\.forwarding=1$/m);
  const hubPeers = peersOf(hub);
  assert.equal([...hubPeers.keys()], [h2, h3]);
  // the spokes are behind NAT: the hub waits for them (no endpoint, no keepalive)
  assert.is(hubPeers.get(h2), `[Peer]\nPublicKey = ${pub.get(h2)}\nAllowedIPs = 10.77.0.2/32`);
  assert.is(hubPeers.get(h3), `[Peer]\nPublicKey = ${pub.get(h3)}\nAllowedIPs = 10.77.0.3/32`);

  const spoke = peersOf(await sh(h2, `cat ${CONF}`));
  assert.equal([...spoke.keys()], [h1, h3]);
  assert.is(
    spoke.get(h1),
    `[Peer]\nPublicKey = ${pub.get(h1)}\nAllowedIPs = 10.77.0.0/24\nEndpoint = ${addr(h1)}:51820\nPersistentKeepalive = 25`,
  );
  // same site: directly, at its LAN address, no keepalive
  assert.is(spoke.get(h3), `[Peer]\nPublicKey = ${pub.get(h3)}\nAllowedIPs = 10.77.0.3/32\nEndpoint = ${addr(h3)}:51820`);
  assert.not.match(await sh(h2, `cat ${CONF}`), /forwarding|PrivateKey/i);
  assert.is(await sh(h2, `wg-quick strip cs-link >/dev/null && echo parsed`), 'parsed');

  // firewall: the UDP port from anywhere; the K3s ports from the cluster's tunnel addresses on the
  // tunnel (the cluster spans sites); the hub (a K3s server) forwards between tunnel peers
  for (const h of [h1, h2, h3]) {
    const table = await sh(h, 'nft list table inet clusterseed');
    assert.match(table, /^\s*udp dport 51820 accept$/m, `${h}:\n${table}`);
    assert.match(
      table,
      /iifname "cs-link" ip saddr \{ 10\.77\.0\.1, 10\.77\.0\.2, 10\.77\.0\.3 \} tcp dport 10250 accept/,
      `${h}:\n${table}`,
    );
    if (h === h1) assert.match(table, /chain forward \{[^}]*iifname "cs-link" oifname "cs-link" accept/, table);
    else assert.not.match(table, /chain forward/);
  }

  // the kernel: WireGuard in this machine's kernel or not; without it the role says so on every host
  const kernelHas = (await sh(h1, 'test -d /sys/module/wireguard && echo yes || echo no')) === 'yes';
  for (const report of first.hosts) {
    const kernel = report.tasks.find((t) => t.role === 'wireguard' && t.task === 'WireGuard in the kernel')!;
    const unit = report.tasks.find((t) => t.role === 'wireguard' && t.task === 'wg-quick@cs-link enabled and started')!;
    if (kernelHas) {
      assert.is(await sh(report.host, 'systemctl is-active wg-quick@cs-link'), 'active');
    } else {
      assert.is(kernel.outcome, 'skipped', JSON.stringify(kernel));
      assert.match(kernel.message ?? '', /unsupported here: WireGuard is not in this \S+ container's kernel/);
      assert.is(unit.outcome, 'skipped');
      assert.match(unit.message ?? '', /the tunnel is NOT up/);
      assert.is(await sh(report.host, 'ip link show cs-link >/dev/null 2>&1 && echo up || echo none'), 'none');
    }
  }

  const second = await converge();
  assert.equal(failures(second), [], 'second run');
  assert.equal(changed(second), [], 'second run changes nothing');
  // the public key is read with the state of the roles before (one batch with harden's): no round trip of its own
  for (const report of second.hosts)
    assert.is(report.roundTripsByRole['wireguard-keys'] + report.roundTripsByRole.wireguard, 0, JSON.stringify(report.roundTripsByRole));

  const before = await Promise.all([h1, h2, h3].map((h) => sh(h, `sha256sum ${KEY} ${CONF}`)));
  const recheck = await converge({ check: true });
  assert.equal(failures(recheck), []);
  assert.equal(changed(recheck), [], '--check of a converged link');
  assert.equal(await Promise.all([h1, h2, h3].map((h) => sh(h, `sha256sum ${KEY} ${CONF}`))), before);

  // no private key anywhere it could leak: the scripts sent, the log (-vv, --diff), the report
  const everything = [...recorded.map((r) => r.script), ...logged, JSON.stringify([first, second, recheck])].join('\n');
  for (const key of privates) {
    assert.ok(key.length === 44, 'a private key was read');
    assert.not.ok(everything.includes(key), 'a private key left its host');
  }
});

test('a run limited to one host keeps the peers it does not see; keepalive changes reach only the spokes', async () => {
  const hubBefore = await sh(h1, `sha256sum ${CONF}`);
  linkSites(inventory, 15);
  const limited = await converge({ limit: [h2], roles: wireguardRoles });
  assert.equal(failures(limited), []);
  assert.equal(
    changed(limited).map((c) => c.split(':')[0]),
    [h2, h2],
    changed(limited).join('\n'),
  );
  const spoke = peersOf(await sh(h2, `cat ${CONF}`));
  assert.equal([...spoke.keys()], [h1, h3], 'the keys of h1 and h3 (not in this run) kept from the config');
  assert.match(spoke.get(h1)!, new RegExp(`PublicKey = ${(await pubOf(h1)).replace(/[+/]/g, '\\$&')}\\n[\\s\\S]*PersistentKeepalive = 15`));
  assert.match(spoke.get(h3)!, new RegExp(`PublicKey = ${(await pubOf(h3)).replace(/[+/]/g, '\\$&')}`));
  const all = await converge({ roles: wireguardRoles });
  assert.equal(failures(all), []);
  assert.equal([...new Set(changed(all).map((c) => c.split(':')[0]))], [h3], 'the hub sends no keepalive: unchanged');
  assert.is(await sh(h1, `sha256sum ${CONF}`), hubBefore);
});

test('a loosened key file is put back to 0600 root, the key itself kept', async () => {
  const key = await pubOf(h3);
  await sh(h3, `chmod 0644 ${KEY}`);
  const run = await converge({ roles: wireguardRoles });
  assert.equal(failures(run), []);
  assert.equal(changed(run), [
    `${h3}: wireguard-keys/private key ${KEY} generated on the host: ${KEY}: mode 0644 root:root -> 0600 root:root`,
  ]);
  assert.is(await sh(h3, `stat -c '%a' ${KEY}`), '600');
  assert.is(await pubOf(h3), key);
});

test('every script the wireguard roles sent passes shellcheck', () => {
  const ours = recorded.map((r) => r.script).filter((s) => /wireguard|wg |wg-quick/.test(s));
  assert.ok(new Set(ours).size >= 4, `only ${new Set(ours).size} wireguard scripts recorded`);
  const { checked, report } = lintReport(ours, SCRIPT_EXCLUSIONS);
  assert.is(report, '', `${checked} scripts:\n${report}`);
});

test.run();
