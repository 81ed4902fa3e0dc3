// Which VMs a lab has. The default mirrors clusterseed's seed topology: one x86_64 "desktop" as the
// K3s server and arm64 "Raspberry Pi" agents. Naming: a single server is `desktop` (x86_64) or
// `pi-server` (arm64), several are numbered (`desktop-1`...); agents are always numbered, `pi-N`
// (arm64) or `node-N` (x86_64). arm64 VMs stand in for Raspberry Pis (raspberry_pi: true).
import type { GuestArch } from './recipe.ts';

export type LabRole = 'server' | 'agent';

export interface PlannedVm {
  name: string;
  arch: GuestArch;
  role: LabRole;
  raspberryPi: boolean;
  cpus: number;
  memoryMb: number;
}

export interface TopologyOptions {
  servers?: number;
  agents?: number;
  /** [servers' arch, agents' arch]; one entry means all VMs have that arch */
  arch?: Array<GuestArch | string>;
  /** memory per VM; default 2048 MiB for servers (K3s control plane), 1024 MiB for agents */
  memoryMb?: number;
  cpus?: number;
  /**
   * The VMs by name instead of servers/agents counts (e.g. a "cloud" and a "home" host of a
   * two-site test); arch defaults to x86_64, role to agent, raspberryPi to arm64.
   */
  vms?: Array<{ name: string; arch?: GuestArch | string; role?: LabRole }>;
}

/** A lab VM's name becomes its host name and a folder name: keep it to a DNS label. */
const VM_NAME = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/;

export const DEFAULT_ARCH: GuestArch[] = ['x86_64', 'aarch64'];

export function parseArch(value: string): GuestArch {
  const v = value.trim().toLowerCase();
  if (v === 'x86_64' || v === 'amd64' || v === 'x86-64') return 'x86_64';
  if (v === 'aarch64' || v === 'arm64') return 'aarch64';
  throw new Error(`unknown architecture "${value}": use x86_64 (amd64) or arm64 (aarch64)`);
}

function count(value: number | undefined, fallback: number, what: string, min: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < min || n > 16) throw new Error(`${what} must be a whole number from ${min} to 16, got ${value}`);
  return n;
}

export function planTopology(opts: TopologyOptions = {}): PlannedVm[] {
  const servers = count(opts.servers, 1, 'servers', 1);
  const agents = count(opts.agents, 1, 'agents', 0);
  const archs = (opts.arch?.length ? opts.arch : DEFAULT_ARCH).map((a) => parseArch(a));
  if (archs.length > 2) throw new Error(`arch takes at most two entries (servers, agents), got ${archs.length}`);
  const serverArch = archs[0];
  const agentArch = archs[1] ?? archs[0];
  const cpus = count(opts.cpus, 2, 'cpus', 1);
  if (opts.memoryMb !== undefined && (!Number.isInteger(opts.memoryMb) || opts.memoryMb < 512)) {
    throw new Error(`memory must be at least 512 MiB, got ${opts.memoryMb}`);
  }
  const vms: PlannedVm[] = [];
  if (opts.vms) return namedVms(opts.vms, cpus, opts.memoryMb);
  const add = (name: string, arch: GuestArch, role: LabRole) =>
    vms.push({ name, arch, role, raspberryPi: arch === 'aarch64', cpus, memoryMb: opts.memoryMb ?? (role === 'server' ? 2048 : 1024) });
  const serverPrefix = serverArch === 'x86_64' ? 'desktop' : 'pi-server';
  for (let i = 1; i <= servers; i++) add(servers === 1 ? serverPrefix : `${serverPrefix}-${i}`, serverArch, 'server');
  const agentPrefix = agentArch === 'x86_64' ? 'node' : 'pi';
  for (let i = 1; i <= agents; i++) add(`${agentPrefix}-${i}`, agentArch, 'agent');
  return vms;
}

function namedVms(list: NonNullable<TopologyOptions['vms']>, cpus: number, memoryMb: number | undefined): PlannedVm[] {
  if (list.length < 1 || list.length > 16) throw new Error(`vms takes 1 to 16 VMs, got ${list.length}`);
  const seen = new Set<string>();
  return list.map((v) => {
    if (!VM_NAME.test(v.name)) throw new Error(`VM name "${v.name}" must be a lowercase host name (letters, digits, '-')`);
    if (seen.has(v.name)) throw new Error(`VM name "${v.name}" is given twice`);
    seen.add(v.name);
    const arch = parseArch(v.arch ?? 'x86_64');
    const role = v.role ?? 'agent';
    return { name: v.name, arch, role, raspberryPi: arch === 'aarch64', cpus, memoryMb: memoryMb ?? (role === 'server' ? 2048 : 1024) };
  });
}
