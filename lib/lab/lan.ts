// The lab LAN, the VMs' own network: a second NIC per VM on a QEMU socket netdev in one multicast
// group bound to 127.0.0.1 (no root, no bridge, nothing leaves loopback), static addresses by MAC.

/** 172.30.213.0/24, VM i at .11 + i (outside K3s' default pod/service networks). */
export const LAN_PREFIX = 24;
export function lanAddress(index: number): string {
  return `172.30.213.${11 + index}`;
}

/** First host port tried for the forward to the first server's K3s API. */
export const FIRST_API_PORT = 16443;

/** The multicast group and UDP port of a lab's LAN, from its random id (labs must not share one). */
export function lanGroup(id: string): { group: string; port: number } {
  const n = Number.parseInt(id.slice(0, 8), 16);
  return { group: `239.255.${(n >>> 24) & 0xff}.${((n >>> 16) & 0xfe) + 1}`, port: 20000 + ((n & 0xffff) % 20000) };
}
