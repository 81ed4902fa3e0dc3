// The host firewall of hosts on the site link (roles/harden with roles/wireguard): the WireGuard
// port from anywhere, the K3s ports again for the cluster's tunnel addresses on the tunnel
// interface only, Argo CD's way to another cluster's restricted API, and the hub's forwarding;
// each rendered ruleset also loaded by nft in a throwaway network namespace (root: test/system/wireguard-firewall-nft.test.ts).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { HostContext } from '../../lib/runner/types.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import { hardenDefaults } from '../../roles/harden/index.ts';
import { renderRuleset } from '../../roles/harden/firewall.ts';
import { firewallModel } from '../../roles/harden/firewall-tasks.ts';
import { HOSTS, INVENTORY, rulesetOf } from '../support/site-link-firewall.ts';

const lines = (text: string, match: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes(match));

test('linked hosts admit the WireGuard port from anywhere (peers behind NAT have no fixed address); others do not', async () => {
  for (const name of ['gw', 'c1', 'p1', 'e1'])
    assert.equal(lines(await rulesetOf(name), 'udp dport 51820'), ['udp dport 51820 accept'], name);
  assert.equal(lines(await rulesetOf('lone'), '51820'), []);
});

test("the K3s ports again over the tunnel: the cluster's tunnel addresses, on the tunnel interface only", async () => {
  const agent = await rulesetOf('p1');
  assert.equal(lines(agent, 'iifname "cs-link"'), [
    'iifname "cs-link" ip saddr { 10.77.0.1, 10.77.0.2, 10.77.0.3 } tcp dport 10250 accept',
    'iifname "cs-link" ip saddr { 10.77.0.1, 10.77.0.2, 10.77.0.3 } udp dport 8472 accept',
  ]);
  // the LAN rules stay as they were
  assert.ok(
    lines(agent, 'tcp dport 10250').some((l) => l.startsWith('ip saddr {') && l.includes('192.168.1.21')),
    agent,
  );
  // the edge cluster's server admits its own cluster's tunnel addresses, not mgmt's nodes for the kubelet
  assert.equal(lines(await rulesetOf('e1'), 'iifname "cs-link" ip saddr { 10.77.0.4 } tcp dport 10250'), [
    'iifname "cs-link" ip saddr { 10.77.0.4 } tcp dport 10250 accept',
  ]);
});

test("a restricted API admits the cluster's tunnel addresses, and on another cluster's server the management cluster's (Argo CD)", async () => {
  const restricted = { firewall: { api_allowed_from: ['198.51.100.0/24'] } };
  assert.equal(lines(await rulesetOf('c1', restricted), 'iifname "cs-link" ip saddr { 10.77.0.1, 10.77.0.2, 10.77.0.3 } tcp dport 6443'), [
    'iifname "cs-link" ip saddr { 10.77.0.1, 10.77.0.2, 10.77.0.3 } tcp dport 6443 accept',
  ]);
  assert.equal(
    lines(await rulesetOf('e1', restricted), 'dport 6443').filter((l) => l.includes('cs-link')),
    ['iifname "cs-link" ip saddr { 10.77.0.4, 10.77.0.1, 10.77.0.2, 10.77.0.3 } tcp dport 6443 accept'],
  );
  // open API: from anywhere already, no copy
  assert.equal(lines(await rulesetOf('e1'), 'dport 6443'), ['tcp dport 6443 accept']);
});

test('the hub forwards between tunnel peers; a hub that is no K3s node forwards nothing else from the tunnel', async () => {
  const hub = await rulesetOf('gw');
  assert.match(
    hub,
    /chain forward \{\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tiifname "cs-link" oifname "cs-link" accept\n\t\tiifname "cs-link" drop\n\t\}/,
  );
  for (const name of ['c1', 'p1', 'e1', 'lone']) assert.not.match(await rulesetOf(name), /chain forward/, name);
  // a hub that is a K3s node forwards for its pods too: no drop
  const k3sHub: Inventory = { ...INVENTORY, siteLink: { ...INVENTORY.siteLink!, hub: 'c1' } };
  const ctx = { host: HOSTS[1], inventory: k3sHub, facts: { sshdPorts: [22] } } as unknown as HostContext;
  const text = renderRuleset(await firewallModel(ctx, new VarsReader('x', hardenDefaults, 'vars.harden')));
  assert.equal(lines(text, 'iifname "cs-link" oifname'), ['iifname "cs-link" oifname "cs-link" accept']);
  assert.not.match(text, /iifname "cs-link" drop/);
});

test.run();
