// The site link's peers (lib/wireguard/peers.ts) and the config rendered from them
// (roles/wireguard/config.ts): hub and spoke with a same-site shortcut, mesh, hosts behind NAT,
// and a config that never holds a private key.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import type { HostSpec, Inventory, SiteLinkSpec } from '../../lib/inventory/model.ts';
import { linkPlan, linkedHosts, type LinkPlan } from '../../lib/wireguard/peers.ts';
import { keysInConfig, missingKeys, renderConfig } from '../../roles/wireguard/config.ts';
import { parseProof, proofProblems } from '../../roles/wireguard/handlers.ts';

const host = (name: string, address: string, site: string | undefined, link?: HostSpec['link'], cluster = 'mgmt'): HostSpec => ({
  name,
  address,
  port: 22,
  user: 'admin',
  become: true,
  cluster,
  groups: [],
  labels: {},
  taints: [],
  vars: {},
  ...(site ? { site } : {}),
  ...(link ? { link } : {}),
});

function inventory(over: Partial<SiteLinkSpec> = {}, hosts = HOSTS): Inventory {
  return {
    file: '/inv/inventory.yaml',
    dir: '/inv',
    hosts,
    groups: { servers: [], agents: [] },
    clusters: [],
    gitops: { repo: { kind: 'local', path: '/x' }, branch: 'main' },
    vars: {},
    sites: ['cloud', 'home', 'office'],
    siteLink: { interface: 'cs-link', network: '10.77.0.0/24', port: 51820, topology: 'hub', hub: 'cloud-1', keepalive: 25, ...over },
  };
}

// cloud-1: public (the hub); pi-1, pi-2 at home behind NAT; office-1 at another site behind NAT;
// lan-only stands at no site (not on the link)
const HOSTS = [
  host('cloud-1', '203.0.113.10', 'cloud', { address: '10.77.0.1', endpoint: '203.0.113.10:51820' }),
  host('pi-1', '192.168.1.21', 'home', { address: '10.77.0.2' }),
  { ...host('pi-2', '192.168.1.22', 'home', { address: '10.77.0.3' }), nodeIp: '192.168.5.22' },
  host('office-1', '10.9.0.5', 'office', { address: '10.77.0.4' }),
  host('lan-only', '192.168.1.50', undefined),
];

const peerOf = (plan: LinkPlan, name: string) => plan.peers.find((p) => p.name === name);
const plan = (name: string, inv = inventory()) =>
  linkPlan(
    inv,
    inv.hosts.find((h) => h.name === name)!,
  );

test('hosts without a site are not on the link', () => {
  assert.equal(
    linkedHosts(inventory()).map((h) => h.name),
    ['cloud-1', 'pi-1', 'pi-2', 'office-1'],
  );
});

test('hub: a spoke peers with the hub for the whole network (keepalive behind NAT) and directly with its own site at LAN addresses', () => {
  const p = plan('pi-1');
  assert.is(p.forwards, false);
  assert.equal(
    p.peers.map((x) => x.name),
    ['cloud-1', 'pi-2'],
  );
  assert.equal(peerOf(p, 'cloud-1'), {
    name: 'cloud-1',
    address: '10.77.0.1',
    allowedIps: ['10.77.0.0/24'],
    endpoint: '203.0.113.10:51820',
    keepalive: 25,
    why: 'hub: the rest of the link goes through it',
    site: 'cloud',
  });
  // same site: the LAN address K3s' nodes use (node_ip), the link port, no keepalive
  assert.equal(peerOf(p, 'pi-2'), {
    name: 'pi-2',
    address: '10.77.0.3',
    allowedIps: ['10.77.0.3/32'],
    endpoint: '192.168.5.22:51820',
    why: 'same site',
    site: 'home',
  });
  // another site's spoke is reached through the hub only
  assert.is(peerOf(p, 'office-1'), undefined);
  assert.equal(
    plan('office-1').peers.map((x) => x.name),
    ['cloud-1'],
  );
});

test('hub: the hub peers with every host (/32 each), dials none behind NAT, sends no keepalive, forwards', () => {
  const p = plan('cloud-1');
  assert.is(p.forwards, true);
  assert.equal(
    p.peers.map((x) => [x.name, x.allowedIps.join(), x.endpoint ?? '-', x.keepalive ?? '-']),
    [
      ['pi-1', '10.77.0.2/32', '-', '-'],
      ['pi-2', '10.77.0.3/32', '-', '-'],
      ['office-1', '10.77.0.4/32', '-', '-'],
    ],
  );
});

test('hub: a spoke with its own endpoint sends no keepalive; keepalive 0 turns them off', () => {
  const hosts = HOSTS.map((h) => (h.name === 'office-1' ? { ...h, link: { address: '10.77.0.4', endpoint: '198.51.100.7' } } : h));
  const withEndpoint = plan('office-1', inventory({}, hosts));
  assert.is(peerOf(withEndpoint, 'cloud-1')!.keepalive, undefined);
  // the hub dials it now, the link port added to a bare address
  assert.is(peerOf(plan('cloud-1', inventory({}, hosts)), 'office-1')!.endpoint, '198.51.100.7:51820');
  assert.is(peerOf(plan('pi-1', inventory({ keepalive: 0 })), 'cloud-1')!.keepalive, undefined);
});

test('hub: a hub without endpoint or not on the link is refused with the field named', () => {
  const noEndpoint = HOSTS.map((h) => (h.name === 'cloud-1' ? { ...h, link: { address: '10.77.0.1' } } : h));
  assert.throws(() => plan('pi-1', inventory({}, noEndpoint)), /site_link\.hub: cloud-1 has no link\.endpoint/);
  assert.throws(() => plan('pi-1', inventory({ hub: 'lan-only' })), /site_link\.hub: lan-only is not on the site link/);
  assert.throws(() => plan('pi-1', inventory({ hub: 'nope' })), /site_link\.hub: no host "nope"/);
});

test('mesh: every pair; same site over the LAN, other sites at their endpoint; two NATed sites cannot pair', () => {
  const hosts = HOSTS.filter((h) => h.name !== 'office-1');
  const p = plan('pi-1', inventory({ topology: 'mesh', hub: undefined }, hosts));
  assert.is(p.forwards, false);
  assert.equal(
    p.peers.map((x) => [x.name, x.allowedIps.join(), x.endpoint ?? '-', x.keepalive ?? '-']),
    [
      ['cloud-1', '10.77.0.1/32', '203.0.113.10:51820', 25],
      ['pi-2', '10.77.0.3/32', '192.168.5.22:51820', '-'],
    ],
  );
  assert.throws(
    () => plan('pi-1', inventory({ topology: 'mesh', hub: undefined })),
    /pi-1 \(site home\) and office-1 \(site office\) both lack link\.endpoint/,
  );
});

const KEYS = new Map([
  ['cloud-1', 'HIo9cy0AHGzVN8D1mMq1oKfBmETGTJqOHtAGgPc7CWs='],
  ['pi-1', 'k0Wc3W4C1JjMGyRi1Gsn7p+kPtR/NgHEgpHCYm3YrUU='],
  ['pi-2', 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg='],
]);

test("config: address/prefix, port, the key loaded by PostUp from the host's file, peers with their keys; no PrivateKey", () => {
  const text = renderConfig({ plan: plan('pi-1'), keys: KEYS, mtu: 0 });
  assert.ok(text.includes('Address = 10.77.0.2/24\nListenPort = 51820\n'), text);
  assert.ok(text.includes('PostUp = wg set %i private-key /etc/wireguard/cs-link.key\n'), text);
  assert.not.match(text, /PrivateKey/i);
  assert.not.match(text, /MTU|forwarding/);
  assert.ok(
    text.includes(
      '[Peer]\nPublicKey = HIo9cy0AHGzVN8D1mMq1oKfBmETGTJqOHtAGgPc7CWs=\nAllowedIPs = 10.77.0.0/24\nEndpoint = 203.0.113.10:51820\nPersistentKeepalive = 25\n',
    ),
    text,
  );
  assert.ok(
    text.includes(
      '[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nAllowedIPs = 10.77.0.3/32\nEndpoint = 192.168.5.22:51820\n',
    ),
    text,
  );
  const hub = renderConfig({ plan: plan('cloud-1'), keys: KEYS, mtu: 1380 });
  assert.ok(hub.includes('MTU = 1380\n'), hub);
  assert.ok(hub.includes('PostUp = sysctl -q -w net.ipv4.conf.%i.forwarding=1\n'), hub);
});

test('config: a peer without a known key is left out and named; keys read back from a written config', () => {
  const p = plan('cloud-1');
  assert.equal(missingKeys(p, KEYS), ['office-1']);
  const text = renderConfig({ plan: p, keys: KEYS, mtu: 0 });
  assert.not.match(text, /office-1/);
  assert.equal(
    [...keysInConfig(text)],
    [
      ['pi-1', KEYS.get('pi-1')],
      ['pi-2', KEYS.get('pi-2')],
    ],
  );
  // a hand-edited key that is not a key is not taken over
  assert.equal(keysInConfig('# peer x (mesh) 10.0.0.1\n[Peer]\nPublicKey = nonsense\n').size, 0);
});

test('handler proof: the live interface against the key file and the config', () => {
  const out = ['pub=K1', 'port=51820', 'peer=B', 'peer=A', 'want=A', 'want=B'].join('\n');
  const proof = parseProof(out);
  assert.equal(proof, { pub: 'K1', port: '51820', peers: ['A', 'B'], want: ['A', 'B'] });
  assert.equal(proofProblems(proof, { pub: 'K1', port: 51820, peers: proof.want }), []);
  assert.equal(proofProblems(parseProof('pub=\nport=0\npeer=C'), { pub: 'K1', port: 51820, peers: ['A'] }), [
    "its public key is none, not the key file's K1",
    'it listens on 0, not 51820',
    'peers missing: A',
    'unexpected peers: C',
  ]);
});

test.run();
