// The harden role's pure parts (sshd config per OpenSSH version, nftables ruleset per node role,
// filesystem list, sysctl guard) and its rollback paths driven through a scripted transport. The
// same rendering checked by this machine's ssh-keygen, sshd -t / sshd -T and nft (root, a throwaway
// network namespace): test/system/harden-tools.test.ts.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { HostSpec } from '../../lib/inventory/model.ts';
import type { HostContext } from '../../lib/runner/types.ts';
import type { ExecOptions, ExecResult, Transport } from '../../lib/ssh/types.ts';
import { deepMerge } from '../../lib/runner/merge.ts';
import { VarsError } from '../../lib/settings/index.ts';
import { hardenDefaults } from '../../roles/harden/index.ts';
import {
  algorithmsFor,
  chooseHostKeys,
  parseHostKeys,
  renderSshdConfig,
  versionAtLeast,
  type HostKeyInfo,
} from '../../roles/harden/sshd.ts';
import { readExtraPorts, renderRuleset, ruleLines } from '../../roles/harden/firewall.ts';
import { chooseFilesystems, renderModulesConf } from '../../roles/harden/filesystems.ts';
import { LEGACY_SYSCTL_FILE, readSysctl, SYSCTL_FILE } from '../../roles/harden/sysctl.ts';
import { readFail2ban, renderJail } from '../../roles/harden/fail2ban.ts';
import { reloadSshdHandler, RESTORE_SCRIPT } from '../../roles/harden/sshd-tasks.ts';
import { rulesetTask } from '../../roles/harden/firewall-tasks.ts';
import { hardenTasks } from '../../roles/harden/tasks.ts';
import { baseDefaults } from '../../roles/base/index.ts';
import { probed } from '../support/probe-state.ts';
import { cluster, firewallModelOf, hardenReader as reader, HOSTS, inventoryOf } from '../support/harden-firewall.ts';
import { hostContext } from '../support/host-context.ts';
import { configFor, KEYS } from '../support/harden-sshd.ts';

// ---- sshd ------------------------------------------------------------------------------------

test('OpenSSH versions compare numerically', () => {
  assert.ok(versionAtLeast('9.10', '9.9'));
  assert.ok(versionAtLeast('8.5', '8.5'));
  assert.not.ok(versionAtLeast('8.4', '8.5'));
  assert.not.ok(versionAtLeast('7.9', '8.0'));
});

test('key exchange follows the OpenSSH version: sntrup761 from 8.5, mlkem768 from 9.9', () => {
  const kex = (v: string) => algorithmsFor(v, ['ed25519']).kex;
  assert.not.ok(kex('8.4').includes('sntrup761x25519-sha512@openssh.com'));
  assert.is(kex('8.5')[0], 'sntrup761x25519-sha512@openssh.com');
  assert.is(kex('9.2')[0], 'sntrup761x25519-sha512@openssh.com');
  assert.not.ok(kex('9.8').includes('mlkem768x25519-sha256'));
  assert.equal(kex('9.9').slice(0, 2), ['mlkem768x25519-sha256', 'sntrup761x25519-sha512@openssh.com']);
  for (const v of ['7.4', '8.2', '9.2', '10.0']) {
    const a = algorithmsFor(v, ['ed25519', 'rsa']);
    assert.ok(a.kex.includes('curve25519-sha256'), `curve25519 for ${v} (every client, ssh2 included)`);
    assert.not.ok(
      a.kex.some((k) => /sha1|group1-|group14|nistp/.test(k)),
      `no weak kex for ${v}`,
    );
    assert.not.ok(
      a.macs.some((m) => /sha1|md5|umac-64|^hmac-sha2-(256|512)$/.test(m)),
      `EtM SHA-2 MACs only for ${v}`,
    );
    assert.not.ok(
      a.ciphers.some((c) => /cbc|3des|arcfour/.test(c)),
      `no CBC for ${v}`,
    );
  }
  assert.throws(() => algorithmsFor('7.2', ['ed25519']), /older than 7\.4/);
});

test('host keys: DSA/ECDSA and short RSA are not offered; a missing Ed25519 key is generated', () => {
  const shortRsa: HostKeyInfo[] = [
    { path: '/etc/ssh/ssh_host_rsa_key', bits: 2048, type: 'RSA' },
    { path: '/etc/ssh/ssh_host_dsa_key', bits: 1024, type: 'DSA' },
    { path: '/etc/ssh/ssh_host_ecdsa_key', bits: 256, type: 'ECDSA' },
  ];
  const c = chooseHostKeys(shortRsa, ['ed25519', 'rsa'], 3072);
  assert.equal(
    c.offered.map((k) => k.path),
    ['/etc/ssh/ssh_host_ed25519_key'],
  );
  assert.ok(c.generateEd25519);
  assert.is(c.dropped.length, 3);
  const full = chooseHostKeys(KEYS, ['ed25519', 'rsa'], 3072);
  assert.equal(
    full.offered.map((k) => k.type),
    ['ED25519', 'RSA'],
  );
  assert.not.ok(full.generateEd25519);
  assert.throws(() => chooseHostKeys(shortRsa, ['rsa'], 3072), /no host key left to offer/);
  assert.equal(
    parseHostKeys([
      'key /etc/ssh/ssh_host_ed25519_key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDSyfjGsXz8Rx0Ak7n6Zbb1RAWSgHGX0yl+ER3XdDkiA root@h1',
      'junk',
      'key /x ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIDSyfjGsXz8Rx0Ak7n6Zbb1RAWSgHGX0yl+ER3XdDkiA',
    ]),
    [{ path: '/etc/ssh/ssh_host_ed25519_key', bits: 256, type: 'ED25519' }],
  );
});

test('the rendered drop-in: the baseline settings, host key lines and versioned keywords', () => {
  const text = renderSshdConfig(configFor('9.2').input);
  for (const line of [
    'PermitRootLogin no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'AuthenticationMethods publickey',
    'MaxAuthTries 3',
    'LoginGraceTime 30',
    'ClientAliveInterval 300',
    'ClientAliveCountMax 2',
    'X11Forwarding no',
    'AllowAgentForwarding no',
    'AllowTcpForwarding no',
    'LogLevel VERBOSE',
    'HostKey /etc/ssh/ssh_host_ed25519_key',
    'HostKey /etc/ssh/ssh_host_rsa_key',
  ])
    assert.ok(text.split('\n').includes(line), `has "${line}"`);
  assert.not.match(text, /ecdsa_key/);
  assert.not.match(text, /ChallengeResponseAuthentication/, '9.2 knows KbdInteractiveAuthentication');
  const old = renderSshdConfig(configFor('8.4').input);
  assert.ok(old.includes('ChallengeResponseAuthentication no\nKbdInteractiveAuthentication no'), 'before 8.7 both keywords');
  assert.not.match(old, /sntrup761/);
});

test('settings from the inventory: overrides, null removes, booleans, and bad keywords named', () => {
  const text = renderSshdConfig(
    configFor('9.2', { sshd: { settings: { MaxAuthTries: 2, X11Forwarding: null, AllowUsers: 'admin ops', PermitTTY: true } } }).input,
  );
  assert.match(text, /^MaxAuthTries 2$/m);
  assert.not.match(text, /X11Forwarding/);
  assert.match(text, /^AllowUsers admin ops$/m);
  assert.match(text, /^PermitTTY yes$/m);
  const respelled = renderSshdConfig(configFor('9.2', { sshd: { settings: { permitrootlogin: 'prohibit-password' } } }).input);
  assert.match(respelled, /^permitrootlogin prohibit-password$/m);
  assert.not.match(respelled, /^PermitRootLogin no$/m, 'one value per keyword, the override');
  assert.throws(
    () => configFor('9.2', { sshd: { settings: { 'Bad Key': 'x' } } }),
    /vars\.harden\.sshd\.settings\.Bad Key: expected an sshd_config keyword/,
  );
  assert.throws(() => configFor('9.2', { sshd: { settings: { Ciphers: 'aes128-cbc' } } }), /use vars\.harden\.sshd\.ciphers/);
  assert.throws(() => configFor('9.2', { sshd: { settings: { Banner: 'x\nMatch all' } } }), /one-line value/);
  assert.throws(() => configFor('9.2', { sshd: { host_key_types: ['dsa'] } }), /host_key_types\[0\]: expected one of ed25519, rsa, ecdsa/);
  const custom = configFor('9.2', { sshd: { ciphers: ['aes256-gcm@openssh.com'] } }).input;
  assert.equal(custom.algorithms.ciphers, ['aes256-gcm@openssh.com']);
});

const modelFor = (name: string, c = cluster(), over: Record<string, unknown> = {}) => firewallModelOf(HOSTS, name, over, c);

test('K3s ports by role: API and etcd (from the other servers only) on servers, kubelet and VXLAN on all', async () => {
  const server = renderRuleset(await modelFor('s1'));
  assert.match(server, /^\t\ttcp dport 6443 accept$/m);
  assert.match(server, /^\t\tip saddr \{ 192\.168\.1\.11 \} tcp dport 2379-2380 accept$/m);
  assert.match(server, /^\t\tip saddr \{ 192\.168\.1\.10, 192\.168\.1\.11, 192\.168\.1\.20 \} tcp dport 10250 accept$/m);
  assert.match(server, /^\t\tip saddr \{ 192\.168\.1\.10, 192\.168\.1\.11, 192\.168\.1\.20 \} udp dport 8472 accept$/m);
  assert.match(server, /^\t\tip saddr \{ 10\.42\.0\.0\/16, 10\.43\.0\.0\/16 \} accept$/m);
  const agent = renderRuleset(await modelFor('a1'));
  assert.not.match(agent, /6443/);
  assert.not.match(agent, /2379/);
  assert.match(agent, /tcp dport 10250 accept/);
  // SSH comes before every other port rule and the drop policy is in the same table
  for (const text of [server, agent]) {
    assert.ok(text.indexOf('tcp dport 22 accept') < text.indexOf('dport 10250'));
    assert.match(text, /policy drop;/);
    assert.match(text, /^table inet clusterseed\ndelete table inet clusterseed\n/m);
    assert.not.match(text, /flush ruleset/);
  }
});

test('flannel backend decides the overlay ports; dual-stack CIDRs split by family', async () => {
  const wg = renderRuleset(await modelFor('a1', cluster({ flannelBackend: 'wireguard-native' })));
  assert.match(wg, /udp dport 51820-51821 accept/);
  assert.not.match(wg, /8472/);
  const hostgw = renderRuleset(await modelFor('a1', cluster({ flannelBackend: 'host-gw' })));
  assert.not.match(hostgw, /8472|51820/);
  const dual = renderRuleset(
    await modelFor('a1', cluster({ clusterCidr: '10.42.0.0/16,2001:cafe:42::/56', serviceCidr: '10.43.0.0/16,2001:cafe:43::/112' })),
  );
  assert.match(dual, /ip saddr \{ 10\.42\.0\.0\/16, 10\.43\.0\.0\/16 \} accept/);
  assert.match(dual, /ip6 saddr \{ 2001:cafe:42::\/56, 2001:cafe:43::\/112 \} accept/);
  const single = renderRuleset(await modelFor('s1', cluster({ servers: ['s1'], agents: ['s2', 'a1'] })));
  assert.not.match(single, /2379/, 'one server: no etcd peers to let in');
});

test('extra ports from the inventory, with sources; bad entries name the field', async () => {
  const text = renderRuleset(
    await modelFor('a1', cluster(), {
      firewall: {
        extra_ports: [
          { port: 80, proto: 'tcp' },
          { port: '30000-32767', proto: 'tcp', from: '192.168.1.0/24' },
          { port: [53, 5353], proto: 'udp', from: ['10.0.0.0/8', 'fd00::/8'] },
        ],
      },
    }),
  );
  assert.match(text, /^\t\ttcp dport 80 accept$/m);
  assert.match(text, /^\t\tip saddr \{ 192\.168\.1\.0\/24 \} tcp dport 30000-32767 accept$/m);
  assert.match(text, /^\t\tip saddr \{ 10\.0\.0\.0\/8 \} udp dport \{ 53, 5353 \} accept$/m);
  assert.match(text, /^\t\tip6 saddr \{ fd00::\/8 \} udp dport \{ 53, 5353 \} accept$/m);
  const bad = (entry: unknown) => () => readExtraPorts(reader({ firewall: { extra_ports: [entry] } }));
  assert.throws(bad({ port: 70000 }), /extra_ports\[0\]\.port: expected a port/);
  assert.throws(bad({ port: 80, proto: 'tcpp' }), /extra_ports\[0\]\.proto: expected tcp or udp, got "tcpp"/);
  assert.throws(
    bad({ port: 80, from: '10.0.0.1/8' }),
    /extra_ports\[0\]\.from: expected an IP address or CIDR \("10\.0\.0\.1\/8" has host bits set/,
  );
  assert.throws(bad({ port: '90-80' }), /expected a port/);
  assert.throws(bad({ port: 80, prot: 'udp' }), /extra_ports\[0\]\.prot: expected one of port, proto, from, comment/);
  assert.equal(ruleLines({ proto: 'tcp', ports: '22', from: [] }), ['tcp dport 22 accept']);
});

// ---- filesystems, sysctl, fail2ban -----------------------------------------------------------

test('module blacklist: default filesystems and protocols, vfat kept on a Raspberry Pi and wherever it is in use', () => {
  const defaults = reader().stringList('filesystems.blacklist');
  assert.equal(defaults, ['cramfs', 'freevxfs', 'jffs2', 'hfs', 'hfsplus', 'udf']);
  assert.not.ok(defaults.includes('squashfs'), 'snaps need squashfs');
  const wanted = [...defaults, 'vfat', 'squashfs'];
  const pc = chooseFilesystems(wanted, new Set(['ext4', 'proc', 'squashfs']), false);
  assert.ok(pc.blacklist.includes('vfat'));
  assert.not.ok(pc.blacklist.includes('squashfs'));
  assert.match(pc.kept.join(), /squashfs \(in use/);
  const pi = chooseFilesystems(wanted, new Set(['ext4']), true);
  assert.not.ok(pi.blacklist.includes('vfat'));
  assert.match(pi.kept.join(), /Raspberry Pi boots from a vfat/);
  const uefi = chooseFilesystems(wanted, new Set(['ext4', 'vfat']), false);
  assert.not.ok(uefi.blacklist.includes('vfat'));
  const conf = renderModulesConf(['cramfs'], reader().stringList('network_protocols.blacklist'));
  assert.match(conf, /^install cramfs \/bin\/false\nblacklist cramfs$/m);
  assert.match(conf, /^install dccp \/bin\/false\nblacklist dccp$/m);
  assert.not.match(conf, /sctp/, 'Kubernetes may use SCTP');
});

test('sysctl: hardening keys, loose rp_filter, and the K3s forwarding keys refused', () => {
  const s = readSysctl(reader());
  assert.is(s.values['net.ipv4.conf.all.rp_filter'], 2);
  assert.is(s.values['kernel.kptr_restrict'], 2);
  assert.is(s.values['fs.suid_dumpable'], 0);
  assert.not.ok(Object.keys(s.values).some((k) => /forward|bridge/.test(k)));
  assert.ok(s.optional.includes('kernel.yama.ptrace_scope'));
  assert.throws(
    () => readSysctl(reader({ sysctl: { values: { 'net.ipv4.ip_forward': 0 } } })),
    /net\.ipv4\.ip_forward: expected no value: forwarding and bridge keys are owned by the K3s prerequisites/,
  );
  assert.throws(() => readSysctl(reader({ sysctl: { values: { 'net.ipv4.conf.all.forwarding': 0 } } })), /owned by the K3s prerequisites/);
  assert.throws(
    () => readSysctl(reader({ sysctl: { values: { 'net.bridge.bridge-nf-call-iptables': 0 } } })),
    /owned by the K3s prerequisites/,
  );
  const dropped = readSysctl(reader({ sysctl: { values: { 'kernel.sysrq': null } } }));
  assert.not.ok('kernel.sysrq' in dropped.values);
});

test('fail2ban jail reads the journal and bans through nftables', () => {
  const jail = renderJail(readFail2ban(reader({ fail2ban: { enabled: true, ignoreip: ['192.168.1.0/24'] } }), 2222));
  assert.match(jail, /^backend = systemd$/m);
  assert.match(jail, /^port = 2222$/m);
  assert.match(jail, /^ignoreip = 127\.0\.0\.1\/8 ::1 192\.168\.1\.0\/24$/m);
  assert.match(jail, /^banaction = nftables-multiport$/m);
  assert.is(reader().bool('fail2ban.enabled'), false);
  assert.throws(() => readFail2ban(reader({ fail2ban: { bantime: 'forever' } }), 22), /fail2ban\.bantime: expected a duration/);
});

// ---- rollback paths, through a scripted transport ----------------------------------------------

/** Answers exec() by the first matching rule and records every script. */
class ScriptedTransport implements Transport {
  roundTrips = 0;
  readonly scripts: string[] = [];
  readonly uploads: string[] = [];
  constructor(
    readonly host: HostSpec,
    private readonly answer: (script: string) => Partial<ExecResult>,
  ) {}
  async connect() {}
  async exec(script: string, _opts?: ExecOptions): Promise<ExecResult> {
    this.roundTrips++;
    this.scripts.push(script);
    return { code: 0, stdout: '', stderr: '', ...this.answer(script) };
  }
  async upload(p: string) {
    this.uploads.push(p);
  }
  async download(): Promise<Buffer> {
    return Buffer.from('');
  }
  async reconnect() {}
  async close() {}
}

function ctxWith(conn: Transport, over: Partial<HostContext> = {}): HostContext {
  return hostContext({ host: HOSTS[0], inventory: inventoryOf(cluster(), HOSTS), conn, vars: deepMerge(hardenDefaults, {}), ...over });
}

test('reload sshd: a failed fresh login restores the saved configuration, reloads, and fails clearly', async () => {
  const conn = new ScriptedTransport(HOSTS[0], () => ({}));
  const handler = reloadSshdHandler(
    () => 'admin',
    async () => {
      throw new Error('no fresh SSH login as admin@192.168.1.10:22 after 3 attempt(s): auth refused');
    },
  );
  try {
    await handler.run(ctxWith(conn));
    assert.unreachable('the handler must fail');
  } catch (err) {
    assert.match((err as Error).message, /after reloading the hardened configuration, no fresh SSH login as admin@192\.168\.1\.10:22/);
    assert.match((err as Error).message, /the previous sshd configuration was restored and sshd reloaded/);
    assert.not.instance(err, VarsError);
  }
  assert.match(conn.scripts[0], /reload-or-restart ssh\.service/);
  assert.ok(conn.scripts[1].startsWith(RESTORE_SCRIPT), 'restore runs before the second reload');
  assert.match(conn.scripts[1], /reload-or-restart ssh\.service/);
  assert.is(conn.scripts.length, 2, 'the rollback copy is kept for inspection');
});

test('reload sshd: a working fresh login drops the rollback copy', async () => {
  const conn = new ScriptedTransport(HOSTS[0], () => ({}));
  const users: string[] = [];
  await reloadSshdHandler(
    () => 'admin',
    async (_c, u) => {
      users.push(u);
    },
  ).run(ctxWith(conn));
  assert.equal(users, ['admin']);
  assert.match(conn.scripts[1], /rm -rf \/var\/lib\/clusterseed\/sshd-rollback/);
});

test('firewall: nft -c refusal applies nothing; a failed fresh login rolls back and fails', async () => {
  const refused = new ScriptedTransport(HOSTS[0], (s) => (s.includes('nft -c -f') ? { code: 65, stderr: 'Error: syntax error' } : {}));
  const task = rulesetTask('table inet clusterseed\n', 'policy drop', 90, async () => undefined);
  const ctx = ctxWith(refused);
  const change = await task.plan(probed(task, 'missing\n'), ctx);
  assert.ok(change && 'apply' in change);
  try {
    await (change as { apply: (c: HostContext) => Promise<void> }).apply(ctx);
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /nft -c rejected the ruleset; nothing was applied: Error: syntax error/);
  }
  assert.is(refused.scripts.length, 1);

  const locked = new ScriptedTransport(HOSTS[0], () => ({}));
  const task2 = rulesetTask('table inet clusterseed\n', 'policy drop', 90, async () => {
    throw new Error('no fresh SSH login as admin@192.168.1.10:22 after 4 attempt(s): timed out');
  });
  const ctx2 = ctxWith(locked);
  const change2 = (await task2.plan(probed(task2, 'missing\n'), ctx2)) as { apply: (c: HostContext) => Promise<void> };
  try {
    await change2.apply(ctx2);
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /firewall: after applying the ruleset, no fresh SSH login .*; the previous ruleset was restored/);
  }
  assert.match(locked.scripts[0], /systemd-run --quiet --unit=clusterseed-firewall-revert --on-active=90s/);
  assert.match(locked.scripts[1], /firewall-rollback\.sh/);
});

test('firewall task is ok when the file and the live table are as recorded', async () => {
  const task = rulesetTask('X\n', 'policy drop', 90, async () => undefined);
  const ctx = ctxWith(new ScriptedTransport(HOSTS[0], () => ({})));
  const files = { '/etc/clusterseed/firewall.nft': 'X\n', '/var/lib/clusterseed/firewall.live.sha256': 'abc\n' };
  assert.is(await task.plan(probed(task, 'abc  -\n', files), ctx), null);
  const drift = await task.plan(probed(task, 'def  -\n', files), ctx);
  assert.match((drift as { summary: string }).summary, /live table differs from the file/);
});

test('turning root logins off while root is the login that must keep working is refused up front', async () => {
  const rootHost = { ...HOSTS[0], user: 'root', vars: { base: { admin_user: '' }, harden: { sshd: { verify_user: 'root' } } } };
  const ctx = ctxWith(new ScriptedTransport(rootHost, () => ({})), {
    host: rootHost,
    vars: deepMerge(hardenDefaults, rootHost.vars.harden),
  });
  try {
    await hardenTasks(ctx, { baseDefaults, freshLogin: async () => undefined });
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /root logins are being turned off .* set vars\.base\.admin_user/);
  }
});

test("the harden sysctl file sorts after the distribution's sysctl.d files, which would otherwise win at boot", () => {
  const ours = path.basename(SYSCTL_FILE);
  const others = ['/usr/lib/sysctl.d', '/lib/sysctl.d', '/etc/sysctl.d', '/run/sysctl.d']
    .flatMap((dir) => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    })
    .filter((f) => f.endsWith('.conf') && !f.includes('clusterseed'));
  assert.ok(others.length > 0, 'no sysctl.d files found to compare with');
  // systemd-sysctl orders by file name (C collation), the last value of a key wins
  for (const f of [...others, '99-protect-links.conf', 'protect-links.conf', '99-sysctl.conf'])
    assert.ok(f < ours, `${f} sorts after ${ours}`);
  assert.ok(path.basename(LEGACY_SYSCTL_FILE) < '99-protect-links.conf', "the old name lost to Debian's file");
});

test.run();
