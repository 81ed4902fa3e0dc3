// The firewall defects of issue 18, each pinned by the rendered ruleset or boot unit: peers are
// known by their K3s node IP (node_ip) as well as their SSH address, api_allowed_from restricts
// only outsiders (the cluster's own nodes and pods always reach 6443), and the boot unit cannot
// lose its table to nftables.service's `flush ruleset`.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterView, renderRuleset } from '../../roles/harden/firewall.ts';
import { NFTABLES_DROPIN, noFirewallTask, renderBootUnit, renderNftablesDropIn } from '../../roles/harden/firewall-tasks.ts';
import type { HostContext } from '../../lib/runner/types.ts';
import { cluster, firewallModelOf, host, inventoryOf, NODE_IP_HOSTS } from '../support/harden-firewall.ts';

const modelFor = (name: string, over: Record<string, unknown> = {}, c = cluster()) => firewallModelOf(NODE_IP_HOSTS, name, over, c);

/** The sources of the rule for these ports, from the rendered text (one IPv4 line expected). */
function sourcesOf(text: string, match: string): string[] {
  const line = text.split('\n').find((l) => l.includes(match));
  assert.ok(line, `no rule "${match}" in:\n${text}`);
  const set = /saddr \{ ([^}]*) \}/.exec(line!);
  return set ? set[1].split(', ') : [];
}

test("peer lists hold every node IP as well as every SSH address, the host's own node IP too", async () => {
  const server = renderRuleset(await modelFor('s1'));
  const everyNode = ['192.168.1.10', '192.168.1.11', '192.168.1.20', '10.10.0.10', '10.10.0.20'];
  for (const ports of ['tcp dport 10250', 'udp dport 8472']) {
    const from = sourcesOf(server, ports);
    for (const a of everyNode) assert.ok(from.includes(a), `${ports} from ${a}: ${from.join(', ')}`);
  }
  // etcd: the other servers only, by address and node IP (s2 has no node IP: its address)
  assert.equal(sourcesOf(server, 'tcp dport 2379-2380').sort(), ['192.168.1.11']);
  const other = renderRuleset(await modelFor('s2'));
  assert.equal(sourcesOf(other, 'tcp dport 2379-2380').sort(), ['10.10.0.10', '192.168.1.10']);
  const agent = renderRuleset(await modelFor('a1', {}, cluster({ flannelBackend: 'wireguard-native' })));
  for (const a of everyNode) assert.ok(sourcesOf(agent, 'udp dport 51820-51821').includes(a), a);
  assert.ok(sourcesOf(agent, 'tcp dport 10250').includes('10.10.0.20'), 'its own node IP (hairpin through the node address)');
});

test('a node IP given as a host name is resolved like the address', async () => {
  const named = [host('s1', 's1.lan', ['servers'], 's1.k3s'), host('a1', '192.168.1.20', ['agents'])];
  const table: Record<string, string[]> = { 's1.lan': ['192.168.1.10'], 's1.k3s': ['10.10.0.10', 'fd10::10'] };
  const view = await clusterView(named[1], inventoryOf(cluster({ servers: ['s1'], agents: ['a1'] }), named), async (a) => table[a] ?? [a]);
  assert.equal(view.nodes.sort(), ['10.10.0.10', '192.168.1.10', '192.168.1.20', 'fd10::10'].sort());
});

test('api_allowed_from restricts outsiders only: every node (addresses and node IPs) and node_networks still reach 6443', async () => {
  const open = renderRuleset(await modelFor('s1'));
  assert.match(open, /^\t\ttcp dport 6443 accept$/m, 'no restriction: from anywhere');
  const text = renderRuleset(await modelFor('s1', { firewall: { api_allowed_from: ['192.168.7.0/24'], node_networks: ['10.20.0.0/24'] } }));
  const from = sourcesOf(text, 'tcp dport 6443');
  for (const a of ['192.168.7.0/24', '192.168.1.10', '192.168.1.11', '192.168.1.20', '10.10.0.10', '10.10.0.20', '10.20.0.0/24']) {
    assert.ok(from.includes(a), `6443 from ${a}: ${from.join(', ')}`);
  }
  assert.not.match(text, /^\t\ttcp dport 6443 accept$/m, 'not from anywhere any more');
  // pods and services reach the API through the trusted rule, which comes before the port rules
  const trusted = text.indexOf('ip saddr { 10.42.0.0/16, 10.43.0.0/16 } accept');
  assert.ok(trusted > 0 && trusted < text.indexOf('dport 6443'));
});

test('boot unit: after nftables.service (its flush ruleset runs first) and restarted with it, never conflicting', () => {
  const unit = renderBootUnit();
  const values = (key: string) =>
    unit
      .split('\n')
      .filter((l) => l.startsWith(`${key}=`))
      .flatMap((l) => l.slice(key.length + 1).split(/\s+/));
  assert.ok(values('After').includes('nftables.service'), unit);
  assert.ok(values('PartOf').includes('nftables.service'), unit);
  assert.not.ok(values('Before').includes('nftables.service'));
  assert.not.ok(values('Conflicts').includes('nftables.service'), 'stopping nftables.service runs `nft flush ruleset`: K3s tables gone');
  assert.not.ok(
    values('Requires').includes('nftables.service') || values('Wants').includes('nftables.service'),
    'does not pull nftables.service in',
  );
  assert.ok(values('Before').includes('network-pre.target'), 'still loaded before any interface comes up');
  assert.match(unit, /^ExecStart=\/usr\/sbin\/nft -f \/etc\/clusterseed\/firewall\.nft$/m);
  // systemd itself reads the unit when it is available on this machine
  const verify = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (verify.status === 0) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-unit-'));
    try {
      writeFileSync(path.join(dir, 'clusterseed-firewall.service'), unit);
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', path.join(dir, 'clusterseed-firewall.service')], { encoding: 'utf8' });
      assert.not.match(r.stderr, /Unknown (key|section)|Failed to parse/i, r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  assert.ok(
    readFileSync(new URL('../../roles/harden/templates/clusterseed-firewall.service.hbs', import.meta.url), 'utf8').includes(
      'nftables.service',
    ),
  );
});

test('nftables.service drop-in: its start and reload (each a "flush ruleset") load the clusterseed table right after', () => {
  assert.is(NFTABLES_DROPIN, '/etc/systemd/system/nftables.service.d/50-clusterseed.conf');
  const text = renderNftablesDropIn();
  assert.match(text, /^\[Service\]$/m);
  assert.match(text, /^ExecStartPost=-\/usr\/sbin\/nft -f \/etc\/clusterseed\/firewall\.nft$/m);
  assert.match(text, /^ExecReload=-\/usr\/sbin\/nft -f \/etc\/clusterseed\/firewall\.nft$/m);
  assert.not.match(text, /^ExecReload=$/m, "adds to the unit's own reload, never replaces it");
});

test('firewall.enabled: false also removes the nftables.service drop-in (and finds a host with only that left)', async () => {
  const task = noFirewallTask();
  assert.ok(task.probe!.includes(`[ -e ${NFTABLES_DROPIN} ]`), task.probe);
  const change = (await task.plan({ stdout: 'present\n' } as never, {} as HostContext)) as { apply(c: HostContext): Promise<void> };
  const scripts: string[] = [];
  const ctx = { conn: { exec: async (cmd: string) => (scripts.push(cmd), { code: 0, stdout: '', stderr: '' }) } } as unknown as HostContext;
  await change.apply(ctx);
  assert.match(scripts.join('\n'), new RegExp(`rm -f [^;]*${NFTABLES_DROPIN.replace(/\./g, '\\.')}[^;]*;`));
  assert.match(scripts.join('\n'), /rmdir \/etc\/systemd\/system\/nftables\.service\.d 2>\/dev\/null; systemctl daemon-reload/);
});

test.run();
