// Sites and the site link (`sites:`, `site:`, `site_link:`, `link:`): where each host stands, which
// tunnel address it gets, and whether the WireGuard topology lets every pair of sites meet. The
// checks report at the field to change; the normalizer reads the same allocation, so the address a
// check accepted is the address the model carries.
import { isIP } from 'node:net';
import { cidrContains, cidrSize, cidrsOverlap, formatIp, ipToBigInt, parseCidr, parseCidrList, type Cidr } from './cidr.ts';
import * as D from './defaults.ts';
import type { FieldPath } from './errors.ts';
import { isAdopted, isNode, siteOf, type Layout } from './layout.ts';
import type { HostLinkSpec, SiteLinkSpec } from './model.ts';
import type { RawInventory } from './raw.ts';
import type { Reporter } from './semantic.ts';
import { didYouMean } from './suggest.ts';
import { addressProblem } from './syntax.ts';

/** Cluster hosts with a site, in document order: the hosts the site link connects. */
export function linkedHosts(raw: RawInventory, layout: Layout): string[] {
  if (!raw.site_link) return [];
  return layout.hostNames.filter((h) => isNode(layout, h) && siteOf(raw, layout, h) !== undefined);
}

/** "host:port" of a `link.endpoint`, the port defaulting to the link's; a reason string when malformed. */
export function parseEndpoint(text: string, defaultPort: number): { host: string; port: number } | string {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text);
  if (!match) return `"${text}" is not host[:port] (write an IPv6 address in brackets: [2001:db8::1]:51820)`;
  const host = match[1] ?? match[2];
  if (match[1] !== undefined && isIP(host) !== 6) return `"${host}" in brackets is not an IPv6 address`;
  const problem = addressProblem(host);
  if (problem) return problem;
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (port < 1 || port > 65535) return `port ${port} is not 1-65535`;
  return { host, port };
}

function formatEndpoint(endpoint: { host: string; port: number }): string {
  return isIP(endpoint.host) === 6 ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

/**
 * Tunnel addresses of the linked hosts: written ones kept, the others the first free addresses of
 * the network in document order (the network and broadcast addresses are never handed out).
 * Undefined when the network has too few addresses.
 */
export function allocateLinkAddresses(network: Cidr, hosts: Array<{ name: string; address?: string }>): Map<string, string> | undefined {
  const taken = new Set<bigint>();
  for (const h of hosts) {
    const ip = h.address === undefined ? undefined : ipToBigInt(h.address);
    if (ip) taken.add(ip.value);
  }
  const last = network.base + cidrSize(network) - 1n;
  const out = new Map<string, string>();
  let next = network.base + 1n;
  for (const h of hosts) {
    if (h.address !== undefined) {
      out.set(h.name, h.address);
      continue;
    }
    while (taken.has(next)) next++;
    if (next >= last) return undefined;
    taken.add(next);
    out.set(h.name, formatIp(next, network.family));
  }
  return out;
}

/** Checks sites, the hosts' sites, the link's settings and every host's end of it. */
export function checkSites(raw: RawInventory, layout: Layout, report: Reporter): void {
  const sites = layout.sites;
  for (const name of layout.hostNames) {
    const site = raw.hosts[name].site;
    const at = ['hosts', name, 'site'];
    if (site === undefined) {
      if (sites.length > 1 && isNode(layout, name)) {
        report.error(['hosts', name], `needs site: (the inventory has several sites: ${sites.join(', ')})`, {
          at: 'key',
          expected: sites.join(' or '),
        });
      }
    } else if (sites.length === 0) {
      report.error(at, `unknown site "${site}": list the sites first, e.g. sites: [${site}]`);
    } else if (!sites.includes(site)) {
      report.error(at, `unknown site "${site}"${didYouMean(site, sites)}; sites: ${sites.join(', ')}`);
    }
  }

  const bySite = new Map<string, string[]>();
  for (const name of layout.hostNames) {
    const site = siteOf(raw, layout, name);
    if (!isNode(layout, name) || site === undefined || !sites.includes(site)) continue;
    bySite.set(site, [...(bySite.get(site) ?? []), name]);
  }
  for (const site of sites) {
    if (!bySite.has(site)) report.warn(['sites'], `no cluster host stands at site "${site}"`, { at: 'key' });
  }

  const link = raw.site_link;
  if (!link) {
    if (bySite.size > 1) {
      const where = [...bySite].map(([site, hosts]) => `${site}: ${hosts.join(', ')}`).join('; ');
      report.error(
        ['sites'],
        `hosts stand at ${bySite.size} sites (${where}) and nothing links them: add site_link: { network: 10.77.0.0/24 } (docs/inventory.md, "Sites and the site link")`,
        { at: 'key' },
      );
    }
    for (const name of layout.hostNames) {
      if (raw.hosts[name].link !== undefined)
        report.error(['hosts', name, 'link'], 'needs site_link: (the link between sites this is one end of)', { at: 'key' });
    }
    return;
  }

  if (sites.length === 0) {
    report.error(['site_link'], 'links the hosts of different sites, but there is no sites: list (and no host says site:)', { at: 'key' });
    return;
  } else if (bySite.size < 2 && !layout.hostNames.some((h) => isNode(layout, h) && siteOf(raw, layout, h) === undefined)) {
    report.error(
      ['site_link'],
      `links hosts of different sites, but all cluster hosts stand at one site (${[...bySite.keys()].join(', ') || 'none'}); remove it, or give hosts their site:`,
      { at: 'key' },
    );
  }

  const network = checkNetwork(raw, layout, report);
  const linked = linkedHosts(raw, layout);
  const port = link.port ?? D.DEFAULT_LINK_PORT;
  const endpoints = new Set<string>();
  const owners = new Map<string, string>();
  for (const name of layout.hostNames) {
    const hostLink = raw.hosts[name].link;
    if (!hostLink) continue;
    const at: FieldPath = ['hosts', name, 'link'];
    if (!linked.includes(name)) {
      const why = isNode(layout, name)
        ? 'it has no site: (only hosts with a site are linked)'
        : 'it is in no cluster group (only cluster hosts are linked)';
      report.error(at, `has no use: ${why}`, { at: 'key' });
      continue;
    }
    if (hostLink.endpoint !== undefined) {
      const parsed = parseEndpoint(hostLink.endpoint, port);
      if (typeof parsed === 'string') report.error([...at, 'endpoint'], parsed, { expected: 'host[:port]' });
      else endpoints.add(name);
    }
    if (hostLink.address === undefined || !network) continue;
    const address = hostLink.address;
    const value = ipToBigInt(address)!.value;
    if (!cidrContains(network, address)) {
      report.error([...at, 'address'], `${address} is outside site_link.network ${network.text}`);
    } else if (value === network.base || value === network.base + cidrSize(network) - 1n) {
      const which = value === network.base ? 'network' : 'broadcast';
      report.error([...at, 'address'], `${address} is the ${which} address of ${network.text}; choose an address inside it`);
    }
    const canonical = value.toString();
    const other = owners.get(canonical);
    if (other)
      report.error(
        [...at, 'address'],
        `${address} is already host "${other}"'s tunnel address (line ${report.line(['hosts', other, 'link', 'address'])})`,
      );
    else owners.set(canonical, name);
  }
  if (network) {
    const allocated = allocateLinkAddresses(
      network,
      linked.map((name) => ({ name, address: raw.hosts[name].link?.address })),
    );
    if (!allocated) report.error(['site_link', 'network'], `${network.text} has too few addresses for the ${linked.length} linked hosts`);
  }
  checkTopology(raw, layout, report, linked);
  checkFlannelPorts(raw, layout, report, linked, port);
  const behindNat = linked.filter((h) => raw.hosts[h].link?.endpoint === undefined);
  if (link.keepalive === 0 && behindNat.length) {
    report.warn(
      ['site_link', 'keepalive'],
      `is 0, and ${behindNat.join(', ')} ${behindNat.length === 1 ? 'has' : 'have'} no endpoint: behind NAT such a host is reachable only while its NAT still remembers its last packet`,
    );
  }
}

/** A linked node of a cluster whose flannel runs wireguard-native would bind the link's port twice. */
function checkFlannelPorts(raw: RawInventory, layout: Layout, report: Reporter, linked: string[], port: number): void {
  if (!D.FLANNEL_WIREGUARD_PORTS.includes(port)) return;
  const single = layout.clusters.length === 1 ? layout.clusters[0].name : undefined;
  for (const c of layout.clusters) {
    if (c.settings.flannel_backend !== 'wireguard-native') continue;
    const nodes = linked.filter((h) => (raw.hosts[h].cluster ?? single) === c.name);
    if (!nodes.length) continue;
    const written = raw.site_link?.port !== undefined;
    report.error(
      written ? ['site_link', 'port'] : ['site_link'],
      `${written ? '' : `(port ${port} by default) `}is taken on ${nodes.join(', ')} by flannel's wireguard-native backend of cluster "${c.name}" (UDP ${D.FLANNEL_WIREGUARD_PORTS.join(' and ')}, fixed in K3s): give the site link another port, e.g. port: 51830`,
      written ? {} : { at: 'key' },
    );
  }
}

/** One CIDR with room for hosts, apart from every cluster network and host address. */
function checkNetwork(raw: RawInventory, layout: Layout, report: Reporter): Cidr | undefined {
  const text = raw.site_link!.network;
  const at = ['site_link', 'network'];
  if (text.includes(',')) {
    report.error(at, 'must be one network (the tunnel is single-stack), not a dual-stack pair', { expected: 'a CIDR like 10.77.0.0/24' });
    return undefined;
  }
  const network = parseCidr(text);
  if (typeof network === 'string') {
    report.error(at, network, { expected: 'a CIDR like 10.77.0.0/24' });
    return undefined;
  }
  if (cidrSize(network) < 4n) {
    report.error(at, `${network.text} is too small: it leaves no room for two hosts besides its network and broadcast addresses`);
    return undefined;
  }
  let clean = true;
  for (const cluster of layout.clusters) {
    if (isAdopted(cluster)) continue; // its networks are its provider's, behind its own API
    for (const field of ['cluster_cidr', 'service_cidr'] as const) {
      const value = cluster.settings[field] ?? (field === 'cluster_cidr' ? D.DEFAULT_CLUSTER_CIDR : D.DEFAULT_SERVICE_CIDR);
      const parsed = parseCidrList(value);
      if (typeof parsed === 'string') continue; // reported at the cluster
      for (const other of parsed) {
        if (cidrsOverlap(network, other)) {
          report.error(
            at,
            `${network.text} overlaps cluster "${cluster.name}"'s ${field} ${other.text}; tunnel, pod and service networks must be apart`,
          );
          clean = false;
        }
      }
    }
  }
  for (const name of layout.hostNames) {
    for (const field of ['address', 'node_ip'] as const) {
      const value = raw.hosts[name][field];
      if (value !== undefined && cidrContains(network, value)) {
        report.error(
          at,
          `${network.text} contains hosts.${name}.${field} ${value}; the tunnel network must be apart from the hosts' own networks`,
        );
        clean = false;
      }
    }
  }
  return clean ? network : undefined;
}

/** A hub the others can dial; in a mesh, one host of every cross-site pair with an endpoint. */
function checkTopology(raw: RawInventory, layout: Layout, report: Reporter, linked: string[]): void {
  const link = raw.site_link!;
  const topology = link.topology ?? D.DEFAULT_LINK_TOPOLOGY;
  const withEndpoint = linked.filter((h) => raw.hosts[h].link?.endpoint !== undefined);
  if (topology === 'mesh') {
    if (link.hub !== undefined)
      report.error(['site_link', 'hub'], 'only applies to topology: hub (in a mesh every host peers with the others directly)', {
        at: 'key',
      });
    const sitesInOrder = [...new Set(linked.map((h) => siteOf(raw, layout, h)!))];
    for (let i = 0; i < sitesInOrder.length; i++) {
      for (let j = i + 1; j < sitesInOrder.length; j++) {
        const a = linked.filter((h) => siteOf(raw, layout, h) === sitesInOrder[i]);
        const b = linked.filter((h) => siteOf(raw, layout, h) === sitesInOrder[j]);
        const stuck = a.flatMap((x) => b.map((y) => [x, y])).find(([x, y]) => !withEndpoint.includes(x) && !withEndpoint.includes(y));
        if (!stuck) continue;
        const [x, y] = stuck;
        const who =
          a.some((h) => withEndpoint.includes(h)) || b.some((h) => withEndpoint.includes(h))
            ? `neither ${x} (${sitesInOrder[i]}) nor ${y} (${sitesInOrder[j]}) has a link.endpoint`
            : `no host at either has a link.endpoint`;
        report.error(
          ['site_link', 'topology'],
          `sites ${sitesInOrder[i]} and ${sitesInOrder[j]} cannot meet: in a mesh the hosts of different sites dial each other directly, and ${who}; give one of them an endpoint (a public address), or use topology: hub`,
        );
      }
    }
    return;
  }
  if (link.hub === undefined) {
    if (withEndpoint.length === 1) return; // the only host the others can dial
    const message =
      withEndpoint.length === 0
        ? 'topology hub needs a hub the other hosts dial: give one host a public link.endpoint (hosts.<name>.link.endpoint) and name it in hub:'
        : `topology hub needs hub: one of ${withEndpoint.join(', ')} (the hosts with an endpoint)`;
    report.error(['site_link'], message, { at: 'key', expected: 'hub: <host>' });
    return;
  }
  const hub = link.hub;
  const at = ['site_link', 'hub'];
  if (!linked.includes(hub)) {
    const why = Object.hasOwn(raw.hosts, hub)
      ? `"${hub}" is not a linked host (a cluster host with a site:)`
      : `unknown host "${hub}"${didYouMean(hub, linked)}`;
    report.error(at, `${why}; the hub is one of the linked hosts: ${linked.join(', ')}`);
  } else if (!withEndpoint.includes(hub)) {
    report.error(
      at,
      `"${hub}" has no link.endpoint: the other hosts dial the hub, so it needs a public address (set hosts.${hub}.link.endpoint: <address>:<port>)`,
    );
  }
}

/** The site link as the model carries it; undefined without `site_link:`. */
export function normalizeSiteLink(raw: RawInventory, layout: Layout): SiteLinkSpec | undefined {
  const link = raw.site_link;
  if (!link) return undefined;
  const topology = link.topology ?? D.DEFAULT_LINK_TOPOLOGY;
  const spec: SiteLinkSpec = {
    interface: link.interface ?? D.DEFAULT_LINK_INTERFACE,
    network: link.network.trim(),
    port: link.port ?? D.DEFAULT_LINK_PORT,
    topology,
    keepalive: link.keepalive ?? D.DEFAULT_LINK_KEEPALIVE,
  };
  if (topology === 'hub') {
    spec.hub = link.hub ?? linkedHosts(raw, layout).find((h) => raw.hosts[h].link?.endpoint !== undefined);
  }
  return spec;
}

/** Every linked host's end of the link: its (written or allocated) address and its endpoint with the port filled in. */
export function normalizeHostLinks(raw: RawInventory, layout: Layout): Map<string, HostLinkSpec> {
  const out = new Map<string, HostLinkSpec>();
  const link = raw.site_link;
  if (!link) return out;
  const network = parseCidr(link.network);
  if (typeof network === 'string') return out; // refused by the checks
  const linked = linkedHosts(raw, layout);
  const addresses = allocateLinkAddresses(
    network,
    linked.map((name) => ({ name, address: raw.hosts[name].link?.address })),
  );
  const port = link.port ?? D.DEFAULT_LINK_PORT;
  for (const name of linked) {
    const spec: HostLinkSpec = { address: addresses!.get(name)! };
    const endpoint = raw.hosts[name].link?.endpoint;
    if (endpoint !== undefined) spec.endpoint = formatEndpoint(parseEndpoint(endpoint, port) as { host: string; port: number });
    out.set(name, spec);
  }
  return out;
}
