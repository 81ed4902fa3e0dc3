// Just enough IP arithmetic to check cluster/service networks and the site link's: parse, overlap,
// membership, and back to text (for allocated tunnel addresses).
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  family: 4 | 6;
  /** the network address as a number */
  base: bigint;
  prefix: number;
  text: string;
}

const BITS = { 4: 32, 6: 128 } as const;

export function ipToBigInt(ip: string): { family: 4 | 6; value: bigint } | undefined {
  if (isIPv4(ip)) {
    const value = ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { family: 4, value };
  }
  if (isIPv6(ip)) return { family: 6, value: ipv6ToBigInt(ip) };
  return undefined;
}

function ipv6ToBigInt(ip: string): bigint {
  let text = ip.replace(/%.*$/, '');
  // a trailing dotted IPv4 (::ffff:10.0.0.1) is two groups
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipToBigInt(v4[1])!.value;
    text = text.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array(missing).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Parses "10.42.0.0/16"; returns a reason string when it is not a network in CIDR notation. */
export function parseCidr(text: string): Cidr | string {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!match) return `"${text}" is not in CIDR notation (address/prefix)`;
  const ip = ipToBigInt(match[1]);
  if (!ip) return `"${match[1]}" is not an IP address`;
  const prefix = Number(match[2]);
  const bits = BITS[ip.family];
  if (prefix > bits) return `prefix /${prefix} is longer than ${bits} bits`;
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((ip.value & hostMask) !== 0n) {
    const network = formatIp(ip.value & ~hostMask, ip.family);
    return `"${text}" has host bits set (did you mean ${network}/${prefix}?)`;
  }
  return { family: ip.family, base: ip.value, prefix, text };
}

/** "10.42.0.0/16" or dual-stack "10.42.0.0/16,2001:cafe:42::/56". */
export function parseCidrList(text: string): Cidr[] | string {
  const parts = text.split(',');
  const cidrs: Cidr[] = [];
  for (const part of parts) {
    const parsed = parseCidr(part);
    if (typeof parsed === 'string') return parsed;
    cidrs.push(parsed);
  }
  if (cidrs.length === 2 && cidrs[0].family === cidrs[1].family) {
    return 'a dual-stack value needs one IPv4 and one IPv6 CIDR';
  }
  return cidrs;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const shift = BigInt(BITS[a.family] - Math.min(a.prefix, b.prefix));
  return a.base >> shift === b.base >> shift;
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const parsed = ipToBigInt(ip);
  if (!parsed || parsed.family !== cidr.family) return false;
  const shift = BigInt(BITS[cidr.family] - cidr.prefix);
  return parsed.value >> shift === cidr.base >> shift;
}

export function formatIp(value: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** Number of addresses in the network (2^(bits - prefix)). */
export function cidrSize(cidr: Cidr): bigint {
  return 1n << BigInt(BITS[cidr.family] - cidr.prefix);
}
