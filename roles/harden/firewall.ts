// The host firewall as data, then as one nftables file. Only the table `inet clusterseed` is ever
// written: K3s, kube-proxy and flannel keep their own (iptables-nft) tables, so nothing here may
// flush the whole ruleset. The file declares, deletes and re-creates the table, which `nft -f`
// applies as ONE transaction: re-applying is atomic and idempotent, and the SSH rule can never be
// missing while the drop policy is in force.
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterSpec, HostSpec, Inventory } from '../../lib/inventory/model.ts';
import { parseCidr } from '../../lib/inventory/cidr.ts';
import { renderTemplate } from '../../lib/blocks/file.ts';
import type { VarsReader } from '../../lib/settings/index.ts';

export const TABLE = 'clusterseed';
export const RULESET_FILE = '/etc/clusterseed/firewall.nft';

export type Proto = 'tcp' | 'udp';

/** One accept rule: protocol and ports, optionally only from some sources. */
export interface PortRule {
  comment: string;
  proto: Proto;
  /** "22", "2379-2380" or several joined by ", " */
  ports: string;
  /** addresses/CIDRs; empty = from anywhere */
  from: string[];
  /** only packets that came in on this interface (the site link's tunnel) */
  iif?: string;
}

export interface FirewallModel {
  host: string;
  sshPort: number;
  sshFrom: string[];
  allowIcmp: boolean;
  logDropped: boolean;
  /** pod and service networks: everything from them is accepted */
  trusted: { comment: string; cidrs: string[] }[];
  rules: PortRule[];
  /** the hub of the site link: forwards between its tunnel peers (siteLinkRules) */
  forward?: { iface: string; comment: string; onlyBetweenPeers: boolean };
}

/** An address or CIDR, as nft wants it; errors name the field. */
export function checkSource(r: VarsReader, field: string, value: unknown): string {
  if (typeof value !== 'string') r.fail(field, 'an IP address or CIDR', value);
  const text = value.trim();
  if (isIP(text)) return text;
  const cidr = parseCidr(text);
  if (typeof cidr === 'string') r.fail(field, `an IP address or CIDR (${cidr})`, value);
  return text;
}

export function sourcesList(r: VarsReader, field: string, value: unknown = r.raw(field)): string[] {
  const raw = value;
  if (raw === undefined || raw === null) return [];
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((v, i) => checkSource(r, Array.isArray(raw) ? `${field}[${i}]` : field, v));
}

function portOrRange(r: VarsReader, field: string, v: unknown): string {
  const check = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (typeof v === 'number' && check(v)) return String(v);
  if (typeof v === 'string') {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v.trim());
    if (m && check(Number(m[1])) && (!m[2] || (check(Number(m[2])) && Number(m[2]) > Number(m[1])))) return v.trim();
  }
  return r.fail(field, 'a port (1-65535) or a range "first-last"', v);
}

/** vars.harden.firewall.extra_ports → rules. */
export function readExtraPorts(r: VarsReader): PortRule[] {
  return r.list('firewall.extra_ports').map((entry, i) => {
    const f = `firewall.extra_ports[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) r.fail(f, 'a mapping {port, proto, from}', entry);
    const e = entry as Record<string, unknown>;
    const unknown = Object.keys(e).filter((k) => !['port', 'proto', 'from', 'comment'].includes(k));
    if (unknown.length) r.fail(`${f}.${unknown[0]}`, 'one of port, proto, from, comment', unknown[0]);
    const ports = Array.isArray(e.port)
      ? e.port.map((p, j) => portOrRange(r, `${f}.port[${j}]`, p))
      : [portOrRange(r, `${f}.port`, e.port)];
    if (ports.length === 0) r.fail(`${f}.port`, 'at least one port', e.port);
    const proto = e.proto ?? 'tcp';
    if (proto !== 'tcp' && proto !== 'udp') r.fail(`${f}.proto`, 'tcp or udp', proto);
    if (e.comment !== undefined && (typeof e.comment !== 'string' || /["\n\r]/.test(e.comment)))
      r.fail(`${f}.comment`, 'a one-line text without quotes', e.comment);
    return {
      comment: (e.comment as string | undefined) ?? `extra port ${ports.join(', ')}/${proto}`,
      proto,
      ports: ports.join(', '),
      from: sourcesList(r, `${f}.from`, e.from),
    };
  });
}

/** Addresses of some inventory hosts, as the other nodes see them. */
export type AddressResolver = (address: string) => Promise<string[]>;

export interface ClusterView {
  cluster?: ClusterSpec;
  /** addresses and node IPs of every node of the host's cluster, the host itself included */
  nodes: string[];
  /** addresses and node IPs of the other servers of the host's cluster */
  otherServers: string[];
}

export async function clusterView(host: HostSpec, inventory: Inventory, resolve: AddressResolver): Promise<ClusterView> {
  const cluster = inventory.clusters.find((c) => c.name === host.cluster);
  if (!cluster) return { nodes: [], otherServers: [] };
  const members = inventory.hosts.filter((h) => h.cluster === cluster.name);
  // K3s talks between node IPs (node-ip = node_ip when set); the SSH address stays in because a
  // host without node_ip uses it, and a kubelet reached through it must not be cut off either
  const ipsOf = (h: HostSpec) => [h.address, ...(h.nodeIp ? [h.nodeIp] : [])];
  const addressesOf = async (hosts: HostSpec[]) => [...new Set((await Promise.all(hosts.flatMap(ipsOf).map(resolve))).flat())];
  const servers = members.filter((h) => cluster.servers.includes(h.name) && h.name !== host.name);
  return { cluster, nodes: await addressesOf(members), otherServers: await addressesOf(servers) };
}

export interface K3sPortsInput {
  isServer: boolean;
  isAgent: boolean;
  view: ClusterView;
  nodeNetworks: string[];
  apiFrom: string[];
  /** the site link seen from this host (siteLinkView); absent: the host is not on it */
  link?: SiteLinkView;
}

/** The ports a K3s node needs open, by its role and the cluster's flannel backend. */
export function k3sRules(input: K3sPortsInput): { rules: PortRule[]; trusted: FirewallModel['trusted'] } {
  const { view } = input;
  if (!view.cluster || (!input.isServer && !input.isAgent)) return { rules: [], trusted: [] };
  const c = view.cluster;
  const nodes = [...view.nodes, ...input.nodeNetworks];
  const rules: PortRule[] = [];
  if (input.isServer) {
    // api_allowed_from narrows who ELSE may use the API: agents and joining servers register
    // through 6443, so the cluster's own nodes always stay in (pods and services reach it through
    // the trusted rule above every port rule)
    const apiFrom = input.apiFrom.length ? [...input.apiFrom, ...nodes] : [];
    rules.push({ comment: 'K3s API server and supervisor', proto: 'tcp', ports: '6443', from: apiFrom });
    if (view.otherServers.length) {
      rules.push({
        comment: 'embedded etcd between servers',
        proto: 'tcp',
        ports: '2379-2380',
        from: [...view.otherServers, ...input.nodeNetworks],
      });
    }
  }
  rules.push({ comment: 'kubelet (logs, exec, metrics)', proto: 'tcp', ports: '10250', from: nodes });
  if (c.flannelBackend === 'vxlan') rules.push({ comment: 'flannel VXLAN', proto: 'udp', ports: '8472', from: nodes });
  if (c.flannelBackend === 'wireguard-native')
    rules.push({ comment: 'flannel WireGuard (IPv4, IPv6)', proto: 'udp', ports: '51820-51821', from: nodes });
  const cidrs = [...c.clusterCidr.split(','), ...c.serviceCidr.split(',')].map((s) => s.trim()).filter(Boolean);
  return { rules: [...rules, ...overTheLink(rules, input)], trusted: [{ comment: `pods and services of cluster ${c.name}`, cidrs }] };
}

// ---- the site link (roles/wireguard) -----------------------------------------------------------

/** The site link as one host's firewall sees it. */
export interface SiteLinkView {
  iface: string;
  port: number;
  /** tunnel addresses of the nodes of the host's cluster, the host's own included */
  nodes: string[];
  /** tunnel addresses of the other servers of the host's cluster */
  otherServers: string[];
  /** tunnel addresses of the management cluster's nodes when this host serves another cluster's API (Argo CD reaches it through the link) */
  managers: string[];
  /** this host is the hub: it forwards between the tunnel's peers */
  hub: boolean;
}

export function siteLinkView(host: HostSpec, inventory: Inventory): SiteLinkView | undefined {
  const link = inventory.siteLink;
  if (!link || !host.link) return undefined;
  const tunnel = (hosts: HostSpec[]) => hosts.flatMap((h) => (h.link ? [h.link.address] : []));
  const cluster = inventory.clusters.find((c) => c.name === host.cluster);
  const members = cluster ? inventory.hosts.filter((h) => h.cluster === cluster.name) : [];
  const mgmt = inventory.clusters[0];
  const managed = !!cluster && !!mgmt && mgmt.name !== cluster.name && cluster.servers.includes(host.name);
  return {
    iface: link.interface,
    port: link.port,
    nodes: tunnel(members),
    otherServers: tunnel(members.filter((h) => cluster!.servers.includes(h.name) && h.name !== host.name)),
    managers: managed ? tunnel(inventory.hosts.filter((h) => h.cluster === mgmt.name)) : [],
    hub: link.topology === 'hub' && link.hub === host.name,
  };
}

/**
 * The K3s rules again for the tunnel: the same ports, from the cluster's tunnel addresses, and only
 * on the tunnel interface (WireGuard admits a source address only from the peer it belongs to; on
 * another interface such a source would be spoofed). A rule open to anyone needs no copy.
 */
function overTheLink(rules: PortRule[], input: K3sPortsInput): PortRule[] {
  const link = input.link;
  if (!link || link.nodes.length === 0) return [];
  const out: PortRule[] = [];
  for (const rule of rules) {
    if (rule.from.length === 0) continue;
    const etcd = rule.ports === '2379-2380';
    const api = rule.ports === '6443';
    const from = etcd ? link.otherServers : api ? [...link.nodes, ...link.managers] : link.nodes;
    if (from.length) out.push({ ...rule, comment: `${rule.comment}, over the site link`, from: [...new Set(from)], iif: link.iface });
  }
  return out;
}

/**
 * What a host on the site link opens besides the K3s ports: the WireGuard port from anywhere (peers
 * behind NAT have no fixed address; WireGuard answers nothing without a valid handshake), and on the
 * hub the forwarding between tunnel peers. A hub that is no K3s node forwards nothing else: a spoke
 * cannot use it as a gateway into the hub's own network. (A K3s node forwards for its pods: its
 * forwarding stays K3s' business, this table filters no other forwarded traffic.)
 */
export function siteLinkRules(link: SiteLinkView | undefined, k3sNode: boolean): Pick<FirewallModel, 'rules' | 'forward'> {
  if (!link) return { rules: [] };
  return {
    rules: [{ comment: `WireGuard site link (${link.iface})`, proto: 'udp', ports: String(link.port), from: [] }],
    ...(link.hub
      ? { forward: { iface: link.iface, comment: 'the hub of the site link forwards between its peers', onlyBetweenPeers: !k3sNode } }
      : {}),
  };
}

/**
 * Who may reach sshd: ssh_allowed_from ([] = anyone), and on the host of the on-cluster GitOps
 * repository (roles/gitops-repo) also the cluster's nodes and pods, or Argo CD could not clone it:
 * its repo-server pod connects to the node IP, from its pod IP on this node, and masqueraded by
 * flannel to its node's IP from another node.
 */
export function sshSources(allowed: string[], repoHere: boolean, view: ClusterView, nodeNetworks: string[]): string[] {
  if (allowed.length === 0 || !repoHere || !view.cluster) return allowed;
  const pods = view.cluster.clusterCidr
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return [...new Set([...allowed, ...view.nodes, ...nodeNetworks, ...pods])];
}

// ---- rendering -------------------------------------------------------------------------------

const family = (addr: string) => (addr.includes(':') ? 6 : 4);

/** nft rule lines for "these sources to these ports": one per address family in use. */
export function ruleLines(rule: { proto?: Proto; ports?: string; from: string[]; iif?: string }): string[] {
  const match = rule.proto && rule.ports ? `${rule.proto} dport ${rule.ports.includes(',') ? `{ ${rule.ports} }` : rule.ports} ` : '';
  const iif = rule.iif ? `iifname "${rule.iif}" ` : '';
  if (rule.from.length === 0) return [`${iif}${match}accept`];
  const lines: string[] = [];
  for (const fam of [4, 6] as const) {
    const addrs = rule.from.filter((a) => family(a) === fam);
    if (addrs.length) lines.push(`${iif}${fam === 4 ? 'ip' : 'ip6'} saddr { ${[...new Set(addrs)].join(', ')} } ${match}accept`);
  }
  return lines;
}

const TEMPLATE = fileURLToPath(new URL('./templates/firewall.nft.hbs', import.meta.url));

export function renderRuleset(model: FirewallModel): string {
  const section = (comment: string, lines: string[]) => ({ comment, lines });
  return renderTemplate(path.normalize(TEMPLATE), {
    host: model.host,
    table: TABLE,
    ssh: section(
      `SSH (port ${model.sshPort}) before anything else`,
      ruleLines({ proto: 'tcp', ports: String(model.sshPort), from: model.sshFrom }),
    ),
    allowIcmp: model.allowIcmp,
    trusted: model.trusted.map((t) => section(t.comment, ruleLines({ from: t.cidrs }))),
    rules: model.rules.map((r) => section(r.comment, ruleLines(r))),
    logDropped: model.logDropped,
    forward: model.forward
      ? section(model.forward.comment, [
          `iifname "${model.forward.iface}" oifname "${model.forward.iface}" accept`,
          ...(model.forward.onlyBetweenPeers ? [`iifname "${model.forward.iface}" drop`] : []),
        ])
      : undefined,
  });
}
