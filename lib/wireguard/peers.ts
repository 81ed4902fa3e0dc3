// Who a host of the site link (WireGuard) peers with, and how it reaches each peer. Pure knowledge
// of the inventory: roles/wireguard renders it with the peers' public keys, roles/harden opens the
// firewall for it, the tests check it without a host.
//
// hub: a spoke peers with the hub (AllowedIPs = the whole link network: whatever it does not reach
//      directly goes through the hub) and directly with the hosts of its own site (AllowedIPs /32,
//      their LAN address), so traffic inside a site never leaves it; the hub peers with every host
//      (/32 each) and forwards between spokes.
// mesh: every linked host peers with every other (/32 each).
// An endpoint is what this host dials: a peer of its own site at its LAN address, another site's
// peer at its public `link.endpoint`; a peer with neither only dials in (behind NAT), so the host
// waits for it. A host without an endpoint of its own sends keepalives to the peers it dials across
// sites, which keeps its NAT mapping open for their answers.
import type { HostSpec, Inventory, SiteLinkSpec } from '../inventory/model.ts';
import { lanAddress } from '../inventory/sites.ts';

export interface LinkPeer {
  /** inventory name of the peer host */
  name: string;
  /** its tunnel address */
  address: string;
  /** AllowedIPs: CIDRs routed to this peer */
  allowedIps: string[];
  /** host:port this host dials; absent: the peer dials in */
  endpoint?: string;
  /** PersistentKeepalive seconds; absent: none */
  keepalive?: number;
  /** why it is a peer, for the comment in the config: "hub", "same site", "mesh" */
  why: string;
  site?: string;
}

export interface LinkPlan {
  link: SiteLinkSpec;
  host: HostSpec;
  /** this host's tunnel address */
  address: string;
  /** the link network's prefix length (the interface address is address/prefix) */
  prefix: number;
  /** this host is the hub: it forwards between tunnel peers */
  forwards: boolean;
  peers: LinkPeer[];
}

/** Hosts on the site link: those with a `link` (hosts of a site when `site_link:` exists). */
export function linkedHosts(inv: Inventory): HostSpec[] {
  if (!inv.siteLink) return [];
  return inv.hosts.filter((h) => !!h.link);
}

/** True when `host` takes part in the site link. */
export function isLinked(host: HostSpec, inv: Inventory): boolean {
  return !!inv.siteLink && !!host.link;
}

/** "address:port" with IPv6 in brackets. */
function withPort(address: string, port: number): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The endpoint in the inventory as WireGuard wants it: the link port when none is given. */
export function endpointOf(host: HostSpec, link: SiteLinkSpec): string | undefined {
  const ep = host.link?.endpoint;
  if (!ep) return undefined;
  if (/^\[.*\]:\d+$/.test(ep) || /^[^:]+:\d+$/.test(ep)) return ep;
  return withPort(ep.replace(/^\[(.*)\]$/, '$1'), link.port);
}

const sameSite = (a: HostSpec, b: HostSpec) => (a.site ?? '') === (b.site ?? '');

/** What `me` dials to reach `peer`: its LAN address at its own site, else its public endpoint. */
function dialOf(me: HostSpec, peer: HostSpec, link: SiteLinkSpec): string | undefined {
  if (sameSite(me, peer)) return withPort(lanAddress(peer), link.port);
  return endpointOf(peer, link);
}

function prefixOf(network: string): number {
  const m = /\/(\d{1,3})$/.exec(network);
  if (!m) throw new Error(`site_link.network: ${network} is not a CIDR (address/prefix)`);
  return Number(m[1]);
}

/** The hub of a hub topology, checked: it must exist, be linked and have an endpoint. */
export function hubOf(inv: Inventory): HostSpec {
  const link = inv.siteLink!;
  const name = link.hub;
  const hub = name ? inv.hosts.find((h) => h.name === name) : undefined;
  if (!hub)
    throw new Error(
      `${inv.file}: site_link.hub: ${name ? `no host "${name}" in the inventory` : 'topology hub needs a hub (the host the others dial)'}`,
    );
  if (!hub.link) throw new Error(`${inv.file}: site_link.hub: ${hub.name} is not on the site link (it has no site)`);
  if (!hub.link.endpoint)
    throw new Error(`${inv.file}: site_link.hub: ${hub.name} has no link.endpoint (the public address:port the other sites dial)`);
  return hub;
}

/** The link as `host` sees it: its address and its peers, in inventory order. */
export function linkPlan(inv: Inventory, host: HostSpec): LinkPlan {
  const link = inv.siteLink;
  if (!link || !host.link) throw new Error(`${host.name} is not on the site link`);
  const all = linkedHosts(inv);
  const others = all.filter((h) => h.name !== host.name);
  const keepalive = !host.link.endpoint && link.keepalive > 0 ? link.keepalive : undefined;
  const peers: LinkPeer[] = [];
  let forwards = false;
  const peer = (p: HostSpec, allowedIps: string[], why: string): LinkPeer => {
    const endpoint = dialOf(host, p, link);
    // keepalives only where a NAT sits between us: towards another site
    const ka = endpoint && !sameSite(host, p) ? keepalive : undefined;
    return {
      name: p.name,
      address: p.link!.address,
      allowedIps,
      why,
      site: p.site,
      ...(endpoint ? { endpoint } : {}),
      ...(ka ? { keepalive: ka } : {}),
    };
  };
  if (link.topology === 'hub') {
    const hub = hubOf(inv);
    if (hub.name === host.name) {
      forwards = true;
      for (const p of others) peers.push(peer(p, [`${p.link!.address}/32`], sameSite(host, p) ? 'spoke, same site' : 'spoke'));
    } else {
      for (const p of others) {
        if (p.name === hub.name) peers.push(peer(p, [link.network], 'hub: the rest of the link goes through it'));
        else if (sameSite(host, p)) peers.push(peer(p, [`${p.link!.address}/32`], 'same site'));
      }
    }
  } else {
    for (const p of others) {
      const q = peer(p, [`${p.link!.address}/32`], sameSite(host, p) ? 'same site' : 'mesh');
      if (!q.endpoint && !host.link.endpoint) {
        throw new Error(
          `${inv.file}: site_link (mesh): ${host.name} (site ${host.site}) and ${p.name} (site ${p.site}) both lack link.endpoint: neither can dial the other; give one of them a public endpoint or use topology: hub`,
        );
      }
      peers.push(q);
    }
  }
  return { link, host, address: host.link.address, prefix: prefixOf(link.network), forwards, peers };
}
