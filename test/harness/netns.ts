// The lab network: one bridge in the root namespace holding the lab's .1 address, and per host a
// network namespace with eth0 (one end of a veth pair whose other end sits on the bridge).
// Hosts get a default route via the bridge so that software that picks "the interface of the
// default route" (K3s does) finds eth0; IPv4 forwarding decides whether anything leaves the bridge.
import { run, runOk, runSync } from '../../lib/process/index.ts';

// generous: 30 hosts set up at once on a slow 2-core machine made `ip netns add` take over 10 s
const ip = (...args: string[]) => runOk(['ip', ...args], { timeoutMs: 60_000 });

export async function createBridge(bridge: string, addressCidr: string): Promise<void> {
  await ip('link', 'add', bridge, 'type', 'bridge');
  await ip('addr', 'add', addressCidr, 'dev', bridge);
  await ip('link', 'set', bridge, 'up');
}

export interface HostLink {
  netns: string;
  /** host-side veth name (on the bridge) */
  veth: string;
  bridge: string;
  addressCidr: string;
  gateway: string;
}

export async function createHostNetns(link: HostLink): Promise<void> {
  await ip('netns', 'add', link.netns);
  await ip('link', 'add', link.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', link.netns);
  await ip('link', 'set', link.veth, 'master', link.bridge, 'up');
  await ip('-n', link.netns, 'link', 'set', 'lo', 'up');
  await ip('-n', link.netns, 'addr', 'add', link.addressCidr, 'dev', 'eth0');
  await ip('-n', link.netns, 'link', 'set', 'eth0', 'up');
  await ip('-n', link.netns, 'route', 'add', 'default', 'via', link.gateway);
}

/**
 * A second interface (eth1) in an existing host namespace, on another bridge: the node network
 * ("LAN") of two-network hosts. No route but its own subnet: the default route stays on eth0, so
 * SSH and the mirror go one way and whatever K3s sends between node IPs the other.
 */
export async function addSecondInterface(link: Omit<HostLink, 'gateway'>): Promise<void> {
  await ip('link', 'add', link.veth, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', link.netns);
  await ip('link', 'set', link.veth, 'master', link.bridge, 'up');
  await ip('-n', link.netns, 'addr', 'add', link.addressCidr, 'dev', 'eth1');
  await ip('-n', link.netns, 'link', 'set', 'eth1', 'up');
}

/** Best effort, synchronous (runs from exit handlers too): missing pieces are fine. */
export function deleteNetwork(netns: string[], veths: string[], bridge: string, ...moreBridges: string[]): void {
  for (const ns of netns) runSync(['ip', 'netns', 'delete', ns]);
  for (const veth of veths) runSync(['ip', 'link', 'delete', veth]);
  for (const b of [bridge, ...moreBridges]) runSync(['ip', 'link', 'delete', b]);
}

/**
 * Deletes namespaces starting with `netnsPrefix` and the bridge: for a subnet just claimed, such
 * things can only be debris of a lab whose registry file was lost, and would block the new lab.
 */
export async function deleteDebris(netnsPrefix: string, bridge: string, ...moreBridges: string[]): Promise<void> {
  const listed = (await run(['ip', 'netns', 'list'], { timeoutMs: 30_000 })).stdout.split('\n').map((line) => line.split(' ')[0]);
  deleteNetwork(
    listed.filter((ns) => ns.startsWith(netnsPrefix)),
    [],
    bridge,
    ...moreBridges,
  );
}
