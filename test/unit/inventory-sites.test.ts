// Sites and the site link through the real loader: YAML text in, the model (site, link, siteLink,
// sites) or an error at the field to change out.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { InventoryError, parseInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';

const FILE = 'inventory.yaml';

function load(lines: string[]): Inventory {
  return parseInventory(lines.join('\n'), FILE);
}

/** The report of an inventory that must not load. */
function failure(lines: string[]): string {
  try {
    parseInventory(lines.join('\n'), FILE);
  } catch (err) {
    if (err instanceof InventoryError) return err.format();
    throw err;
  }
  throw new Error('the inventory loaded although it is wrong');
}

const host = (inv: Inventory, name: string) => inv.hosts.find((h) => h.name === name)!;

/** The preamble's example: a cloud hub with a public endpoint, two Pis at home behind NAT. */
function twoSites(o: { link?: string[]; sites?: string; cloud?: string; pi1?: string; pi2?: string; tail?: string[] } = {}): string[] {
  return [
    'clusters:',
    '  mgmt: { k3s_version: v1.31.4+k3s1 }',
    '  edge: { k3s_version: v1.31.4+k3s1, cluster_cidr: 10.62.0.0/16, service_cidr: 10.63.0.0/16 }',
    `sites: ${o.sites ?? '[home, cloud]'}`,
    ...(o.link ?? ['site_link:', '  network: 10.77.0.0/24', '  hub: cloud-1']),
    'defaults: { user: admin }',
    'hosts:',
    `  cloud-1: { address: 203.0.113.10, cluster: mgmt, site: cloud${o.cloud ?? ', link: { address: 10.77.0.1, endpoint: 203.0.113.10 }'} }`,
    `  pi-1: { address: 192.168.1.21, cluster: edge, site: home${o.pi1 ?? ''} }`,
    `  pi-2: { address: 192.168.1.22, cluster: edge, site: home${o.pi2 ?? ''} }`,
    'groups:',
    '  servers: [cloud-1, pi-1]',
    '  agents: [pi-2]',
    ...(o.tail ?? []),
  ];
}

test('the preamble example: sites, link defaults, the hub, allocated addresses, endpoint port filled in', () => {
  const inv = load(twoSites());
  assert.equal(inv.sites, ['home', 'cloud']);
  assert.equal(inv.siteLink, {
    interface: 'cs-link',
    network: '10.77.0.0/24',
    port: 51820,
    topology: 'hub',
    hub: 'cloud-1',
    keepalive: 25,
  });
  assert.equal(host(inv, 'cloud-1').link, { address: '10.77.0.1', endpoint: '203.0.113.10:51820' });
  assert.is(host(inv, 'cloud-1').site, 'cloud');
  // allocated in document order from the first free address: .1 is written for cloud-1
  assert.equal(host(inv, 'pi-1').link, { address: '10.77.0.2' });
  assert.equal(host(inv, 'pi-2').link, { address: '10.77.0.3' });
  assert.is(host(inv, 'pi-2').site, 'home');
  assert.is(inv.warnings, undefined);
});

test('every site_link setting is read; a written address is honoured and skipped by the allocation', () => {
  const inv = load(
    twoSites({
      link: ['site_link: { network: 10.77.0.0/24, port: 41000, topology: hub, hub: cloud-1, keepalive: 0, interface: wg-sites }'],
      cloud: ', link: { address: 10.77.0.2, endpoint: "vpn.example.com:51999" }',
      pi2: ', link: { address: 10.77.0.1 }',
    }),
  );
  assert.equal(inv.siteLink, {
    interface: 'wg-sites',
    network: '10.77.0.0/24',
    port: 41000,
    topology: 'hub',
    hub: 'cloud-1',
    keepalive: 0,
  });
  assert.equal(host(inv, 'cloud-1').link, { address: '10.77.0.2', endpoint: 'vpn.example.com:51999' });
  assert.equal(host(inv, 'pi-1').link, { address: '10.77.0.3' }, '.1 and .2 are written by others');
  assert.equal(host(inv, 'pi-2').link, { address: '10.77.0.1' });
  assert.equal(inv.warnings, [
    'inventory.yaml:5:90: warning: site_link.keepalive: is 0, and pi-1, pi-2 have no endpoint: behind NAT such a host is reachable only while its NAT still remembers its last packet',
  ]);
});

test('reordering hosts changes allocated addresses (why to pin them)', () => {
  const lines = twoSites();
  const swapped = [...lines];
  const [a, b] = [lines.findIndex((l) => l.startsWith('  pi-1:')), lines.findIndex((l) => l.startsWith('  pi-2:'))];
  [swapped[a], swapped[b]] = [lines[b], lines[a]];
  const inv = load(swapped);
  assert.is(host(inv, 'pi-2').link!.address, '10.77.0.2');
  assert.is(host(inv, 'pi-1').link!.address, '10.77.0.3');
});

test('sites as a mapping of names, in document order; the hub defaults to the only host with an endpoint', () => {
  const inv = load(twoSites({ sites: '{ home: {}, cloud: }', link: ['site_link: { network: 10.77.0.0/24 }'] }));
  assert.equal(inv.sites, ['home', 'cloud']);
  assert.is(inv.siteLink!.hub, 'cloud-1');
});

test('IPv6 endpoint in brackets, port filled in; an IPv6 tunnel network allocates too', () => {
  const inv = load(
    twoSites({
      link: ['site_link: { network: "fd77::/64", port: 51821 }'],
      cloud: ', link: { endpoint: "[2001:db8::10]" }',
    }),
  );
  assert.equal(host(inv, 'cloud-1').link, { address: 'fd77::1', endpoint: '[2001:db8::10]:51821' });
  assert.is(host(inv, 'pi-2').link!.address, 'fd77::3');
});

test('mesh: every host of one site meets every host of the other through an endpoint', () => {
  const inv = load(twoSites({ link: ['site_link: { network: 10.77.0.0/24, topology: mesh }'] }));
  assert.is(inv.siteLink!.topology, 'mesh');
  assert.is(inv.siteLink!.hub, undefined);
});

test('one site: hosts without site: stand there, no link needed', () => {
  const inv = load([
    'cluster: { name: c, k3s_version: v1.31.4+k3s1 }',
    'sites: [home]',
    'defaults: { user: admin }',
    'hosts: { a: { address: 10.0.0.1 } }',
    'groups: { servers: [a] }',
  ]);
  assert.equal(inv.sites, ['home']);
  assert.is(host(inv, 'a').site, 'home');
  assert.is(host(inv, 'a').link, undefined);
  assert.is(inv.siteLink, undefined);
});

test('an inventory without sites has none of the new fields', () => {
  const inv = load([
    'cluster: { name: c, k3s_version: v1.31.4+k3s1 }',
    'defaults: { user: admin }',
    'hosts: { a: { address: 10.0.0.1 } }',
    'groups: { servers: [a] }',
  ]);
  assert.is(inv.sites, undefined);
  assert.is(inv.siteLink, undefined);
  assert.is('site' in host(inv, 'a'), false);
  assert.is('link' in host(inv, 'a'), false);
});

// ---- errors ------------------------------------------------------------------------------------

test('a site: that is not listed, with a suggestion', () => {
  assert.is(
    failure(
      twoSites({ pi2: '' }).map((l) =>
        l.replace('pi-2: { address: 192.168.1.22, cluster: edge, site: home', 'pi-2: { address: 192.168.1.22, cluster: edge, site: hom'),
      ),
    ),
    'inventory.yaml:12:55: hosts.pi-2.site: unknown site "hom" (did you mean "home"?); sites: home, cloud',
  );
});

test('site: without a sites: list', () => {
  const report = failure([
    'cluster: { name: c, k3s_version: v1.31.4+k3s1 }',
    'defaults: { user: admin }',
    'hosts: { a: { address: 10.0.0.1, site: home } }',
    'groups: { servers: [a] }',
  ]);
  assert.is(report, 'inventory.yaml:3:40: hosts.a.site: unknown site "home": list the sites first, e.g. sites: [home]');
});

test('with several sites every cluster host needs site:', () => {
  const report = failure(twoSites().map((l) => l.replace(', site: home }', ' }')));
  assert.match(report, 'inventory.yaml:11:3: hosts.pi-1: needs site: (the inventory has several sites: home, cloud)');
  assert.match(report, 'inventory.yaml:12:3: hosts.pi-2: needs site:');
  assert.not.match(report, 'site_link:', 'the link is not blamed for the missing sites');
});

test('hosts at two sites without site_link', () => {
  const report = failure(twoSites({ link: [], cloud: '' }));
  assert.is(
    report,
    'inventory.yaml:4:1: sites: hosts stand at 2 sites (cloud: cloud-1; home: pi-1, pi-2) and nothing links them: add site_link: { network: 10.77.0.0/24 } (docs/inventory.md, "Sites and the site link")',
  );
});

test('link: without site_link, and site_link without sites', () => {
  const report = failure([
    'cluster: { name: c, k3s_version: v1.31.4+k3s1 }',
    'defaults: { user: admin }',
    'hosts: { a: { address: 10.0.0.1, link: { address: 10.77.0.1 } } }',
    'groups: { servers: [a] }',
  ]);
  assert.is(report, 'inventory.yaml:3:34: hosts.a.link: needs site_link: (the link between sites this is one end of)');
  const report2 = failure([
    'cluster: { name: c, k3s_version: v1.31.4+k3s1 }',
    'site_link: { network: 10.77.0.0/24 }',
    'defaults: { user: admin }',
    'hosts: { a: { address: 10.0.0.1 } }',
    'groups: { servers: [a] }',
  ]);
  assert.match(report2, 'inventory.yaml:2:1: site_link: links the hosts of different sites, but there is no sites: list');
});

test('site_link settings out of range: port, topology, keepalive, interface', () => {
  const report = failure(
    twoSites({
      link: ['site_link: { network: 10.77.0.0/24, port: 70000, topology: star, keepalive: -1, interface: a-very-long-interface }'],
    }),
  );
  assert.match(report, 'site_link.port: must be an integer 1-65535 (got 70000)');
  assert.match(report, 'site_link.topology: must be one of hub, mesh (got "star")');
  assert.match(report, 'site_link.keepalive: must be an integer >= 0 (seconds) (got -1)');
  assert.match(
    report,
    'site_link.interface: must be an interface name of at most 15 characters (letters, digits, _=+.-) (got "a-very-long-interface")',
  );
});

test('the network: CIDR syntax, host bits, size, overlap with a cluster network and with a host address', () => {
  assert.match(
    failure(twoSites({ link: ['site_link: { network: 10.77.0.1/24, hub: cloud-1 }'] })),
    'site_link.network: "10.77.0.1/24" has host bits set (did you mean 10.77.0.0/24?)',
  );
  assert.match(
    failure(twoSites({ link: ['site_link: { network: 10.77.0.0/31, hub: cloud-1 }'], cloud: ', link: { endpoint: 203.0.113.10 }' })),
    'site_link.network: 10.77.0.0/31 is too small',
  );
  assert.match(
    failure(twoSites({ link: ['site_link: { network: 10.62.128.0/24, hub: cloud-1 }'], cloud: ', link: { endpoint: 203.0.113.10 }' })),
    'inventory.yaml:5:23: site_link.network: 10.62.128.0/24 overlaps cluster "edge"\'s cluster_cidr 10.62.0.0/16; tunnel, pod and service networks must be apart',
  );
  assert.match(
    failure(twoSites({ link: ['site_link: { network: 10.43.0.0/24, hub: cloud-1 }'], cloud: ', link: { endpoint: 203.0.113.10 }' })),
    'overlaps cluster "mgmt"\'s service_cidr 10.43.0.0/16',
  );
  assert.match(
    failure(twoSites({ link: ['site_link: { network: 192.168.1.0/24, hub: cloud-1 }'], cloud: ', link: { endpoint: 203.0.113.10 }' })),
    'site_link.network: 192.168.1.0/24 contains hosts.pi-1.address 192.168.1.21',
  );
  assert.match(
    failure(twoSites({ link: ['site_link: { network: "10.77.0.0/24,fd77::/64", hub: cloud-1 }'] })),
    'site_link.network: must be one network',
  );
});

test("a host address outside the network, the network or broadcast address, or another host's", () => {
  assert.match(
    failure(twoSites({ pi1: ', link: { address: 10.78.0.5 }' })),
    'hosts.pi-1.link.address: 10.78.0.5 is outside site_link.network 10.77.0.0/24',
  );
  assert.match(
    failure(twoSites({ pi1: ', link: { address: 10.77.0.0 }' })),
    'hosts.pi-1.link.address: 10.77.0.0 is the network address of 10.77.0.0/24',
  );
  assert.match(
    failure(twoSites({ pi1: ', link: { address: 10.77.0.255 }' })),
    'hosts.pi-1.link.address: 10.77.0.255 is the broadcast address of 10.77.0.0/24',
  );
  assert.match(
    failure(twoSites({ pi2: ', link: { address: 10.77.0.1 }' })),
    'inventory.yaml:12:78: hosts.pi-2.link.address: 10.77.0.1 is already host "cloud-1"\'s tunnel address (line 10)',
  );
});

test('the network runs out of addresses', () => {
  const report = failure(twoSites({ link: ['site_link: { network: 10.77.0.0/30, hub: cloud-1 }'] }));
  assert.match(report, 'site_link.network: 10.77.0.0/30 has too few addresses for the 3 linked hosts');
});

test('endpoint: host[:port], a bad port, a mistyped IPv4 address, an unbracketed IPv6', () => {
  assert.match(
    failure(twoSites({ cloud: ', link: { endpoint: "203.0.113.10:0" }' })),
    'hosts.cloud-1.link.endpoint: port 0 is not 1-65535',
  );
  assert.match(
    failure(twoSites({ cloud: ', link: { endpoint: "203.0.113.300" }' })),
    'hosts.cloud-1.link.endpoint: "203.0.113.300" is not a valid IPv4 address',
  );
  assert.match(
    failure(twoSites({ cloud: ', link: { endpoint: "2001:db8::1" }' })),
    'hosts.cloud-1.link.endpoint: must be host[:port] like 203.0.113.10:51820',
  );
});

test('hub: unknown, without an endpoint, missing with none or several endpoints, with mesh', () => {
  assert.match(
    failure(twoSites({ link: ['site_link: { network: 10.77.0.0/24, hub: cloud-2 }'] })),
    'site_link.hub: unknown host "cloud-2" (did you mean "cloud-1"?)',
  );
  assert.match(
    failure(twoSites({ link: ['site_link: { network: 10.77.0.0/24, hub: pi-1 }'] })),
    'site_link.hub: "pi-1" has no link.endpoint: the other hosts dial the hub, so it needs a public address (set hosts.pi-1.link.endpoint: <address>:<port>)',
  );
  assert.match(
    failure(twoSites({ link: ['site_link: { network: 10.77.0.0/24 }'], cloud: '' })),
    'inventory.yaml:5:1: site_link: topology hub needs a hub the other hosts dial',
  );
  assert.match(
    failure(twoSites({ link: ['site_link: { network: 10.77.0.0/24 }'], pi1: ', link: { endpoint: home.example.org }' })),
    'site_link: topology hub needs hub: one of cloud-1, pi-1 (the hosts with an endpoint)',
  );
  assert.match(
    failure(twoSites({ link: ['site_link: { network: 10.77.0.0/24, topology: mesh, hub: cloud-1 }'] })),
    'site_link.hub: only applies to topology: hub',
  );
});

test('mesh: two sites none of whose hosts has an endpoint cannot meet, named', () => {
  const report = failure(twoSites({ link: ['site_link: { network: 10.77.0.0/24, topology: mesh }'], cloud: '' }));
  assert.is(
    report,
    'inventory.yaml:5:47: site_link.topology: sites cloud and home cannot meet: in a mesh the hosts of different sites dial each other directly, and no host at either has a link.endpoint; give one of them an endpoint (a public address), or use topology: hub',
  );
});

test('mesh: each cross-site pair of hosts needs an endpoint on one side (a NATed host at home and one at the office)', () => {
  const report = failure(
    twoSites({
      sites: '[home, cloud, office]',
      link: ['site_link: { network: 10.77.0.0/24, topology: mesh }'],
      pi1: ', link: { endpoint: home.example.org }',
    }).map((l) =>
      l
        .replace('  agents: [pi-2]', '  agents: [pi-2, nas]')
        .replace('groups:', '  nas: { address: 192.168.7.5, cluster: edge, site: office }\ngroups:'),
    ),
  );
  assert.match(
    report,
    'sites home and office cannot meet: in a mesh the hosts of different sites dial each other directly, and neither pi-2 (home) nor nas (office) has a link.endpoint',
  );
  assert.not.match(report, 'sites cloud and');
});

test('a link on a host without a site or outside the cluster groups has no use', () => {
  const lines = twoSites({ sites: '[home, cloud]' }).map((l) =>
    l.replace('groups:', '  bastion: { address: 203.0.113.20, site: cloud, link: { address: 10.77.0.9 } }\ngroups:'),
  );
  const withJump = lines.map((l) => l.replace('pi-1: { address: 192.168.1.21,', 'pi-1: { address: 192.168.1.21, jump: bastion,'));
  assert.match(failure(withJump), 'hosts.bastion.link: has no use: it is in no cluster group (only cluster hosts are linked)');
});

test('a listed site no host stands at gets a warning', () => {
  const inv = load(twoSites({ sites: '[home, cloud, office]' }));
  assert.equal(inv.warnings, ['inventory.yaml:4:1: warning: sites: no cluster host stands at site "office"']);
});

test("a site link on flannel wireguard-native's ports is refused at the port (or the link, when defaulted), naming the cluster and its nodes", () => {
  const edgeWg = (lines: string[]) =>
    lines.map((l) => (l.startsWith('  edge:') ? l.replace(' }', ', flannel_backend: wireguard-native }') : l));
  const defaulted = failure(edgeWg(twoSites()));
  assert.match(
    defaulted,
    /site_link: \(port 51820 by default\) is taken on pi-1, pi-2 by flannel's wireguard-native backend of cluster "edge"/,
  );
  assert.match(defaulted, /inventory\.yaml:5:/);
  const written = failure(edgeWg(twoSites({ link: ['site_link:', '  network: 10.77.0.0/24', '  hub: cloud-1', '  port: 51821'] })));
  assert.match(
    written,
    /inventory\.yaml:8:\d+: site_link\.port: is taken on pi-1, pi-2 by flannel's wireguard-native backend of cluster "edge" \(UDP 51820 and 51821/,
  );
  // another port: loads; the cluster without wireguard-native is not concerned
  const moved = load(edgeWg(twoSites({ link: ['site_link:', '  network: 10.77.0.0/24', '  hub: cloud-1', '  port: 51830'] })));
  assert.is(moved.siteLink?.port, 51830);
});

test.run();
