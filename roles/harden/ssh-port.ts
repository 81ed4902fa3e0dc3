import type { HostContext } from '../../lib/runner/types.ts';

/**
 * The SSH port the firewall must keep open: vars.harden.firewall.ssh_port if set, else the
 * inventory port when sshd listens on it, else the port sshd listens on. Behind NAT or a port
 * forward (the VM lab: 127.0.0.1:2222 -> guest 22) the inventory port is not what reaches the host.
 */
export function sshPortOf(ctx: HostContext, configured: number): number {
  if (configured) return configured;
  const listening = ctx.facts.sshdPorts ?? [];
  return listening.length === 0 || listening.includes(ctx.host.port) ? ctx.host.port : listening[0];
}
