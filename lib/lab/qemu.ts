// The QEMU command line of a lab VM, per guest architecture and accelerator. Pure: the supervisor
// runs it, the accelerator probe reuses the machine part, tests read it.
import type { GuestArch } from './recipe.ts';

export type Accel = 'kvm' | 'tcg';

export interface VmLaunchSpec {
  /** the tag every QEMU process of this lab carries (-name), so `down` can find strays */
  tag: string;
  name: string;
  arch: GuestArch;
  accel: Accel;
  cpus: number;
  memoryMb: number;
  /** host port on 127.0.0.1 forwarded to the guest's port 22 */
  sshPort: number;
  /** paths relative to the VM folder (QEMU runs there: keeps the QMP socket path short) */
  disk: string;
  configDisk: string;
  consoleLog: string;
  qmpSocket: string;
  pidFile: string;
  /** absolute paths in the image cache */
  kernel: string;
  initrd: string;
  /** guest MAC on the user-mode network (locally administered, unique per VM of a lab) */
  mac: string;
  /** host port on 127.0.0.1 forwarded to the guest's K3s API port (the lab's first server) */
  apiPort?: number;
  /** the lab LAN: multicast group and UDP port on 127.0.0.1, and this VM's MAC on it */
  lan?: { group: string; port: number; mac: string };
  /** UDP ports of the guest reachable at 127.0.0.1:hostPort (and so from the other VMs at 10.0.2.2:hostPort) */
  udpForwards?: UdpForward[];
}

/** A UDP port forward from the control machine's loopback to a guest port (e.g. a WireGuard endpoint). */
export interface UdpForward {
  hostPort: number;
  guestPort: number;
}

interface MachineProfile {
  binary: string;
  machine: (accel: Accel) => string;
  cpu: (accel: Accel) => string;
  console: string;
}

export const MACHINES: Record<GuestArch, MachineProfile> = {
  x86_64: {
    binary: 'qemu-system-x86_64',
    machine: () => 'pc',
    // qemu64 is the fastest model under TCG here; with working KVM the host CPU is best
    cpu: (accel) => (accel === 'kvm' ? 'host' : 'qemu64'),
    console: 'ttyS0',
  },
  aarch64: {
    binary: 'qemu-system-aarch64',
    machine: (accel) => (accel === 'kvm' ? 'virt,gic-version=host' : 'virt'),
    cpu: (accel) => (accel === 'kvm' ? 'host' : 'cortex-a72'),
    console: 'ttyAMA0',
  },
};

export function accelArgs(accel: Accel): string[] {
  // tb-size=128: the TCG translation cache otherwise makes each VM ~1 GB RSS (≈ 420 MB with it)
  return ['-accel', accel === 'kvm' ? 'kvm' : 'tcg,tb-size=128'];
}

export function qemuCommand(spec: VmLaunchSpec, append: string): { binary: string; args: string[] } {
  const m = MACHINES[spec.arch];
  const args = [
    '-name',
    `${spec.tag}-${spec.name}`,
    '-machine',
    m.machine(spec.accel),
    ...accelArgs(spec.accel),
    '-cpu',
    m.cpu(spec.accel),
    '-smp',
    String(spec.cpus),
    '-m',
    String(spec.memoryMb),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-chardev',
    `file,id=console,path=${spec.consoleLog},append=on`,
    '-serial',
    'chardev:console',
    '-kernel',
    spec.kernel,
    '-initrd',
    spec.initrd,
    '-append',
    append,
    // cache=unsafe: a throwaway clone; the guest's flushes need not reach the host disk
    '-drive',
    `if=none,id=root,file=${spec.disk},format=qcow2,cache=unsafe,discard=unmap`,
    '-device',
    'virtio-blk-pci,drive=root',
    '-drive',
    `if=none,id=config,file=${spec.configDisk},format=raw`,
    '-device',
    'virtio-blk-pci,drive=config',
    '-netdev',
    userNetdev(spec),
    // romfile=: no iPXE option ROM (nothing boots from the network; saves firmware time)
    '-device',
    `virtio-net-pci,netdev=net0,mac=${spec.mac},romfile=`,
    // the VMs' own network: every VM of the lab in one multicast group, kept on loopback
    ...(spec.lan
      ? [
          '-netdev',
          `socket,id=lan,mcast=${spec.lan.group}:${spec.lan.port},localaddr=127.0.0.1`,
          '-device',
          `virtio-net-pci,netdev=lan,mac=${spec.lan.mac},romfile=`,
        ]
      : []),
    '-device',
    'virtio-rng-pci',
    '-qmp',
    `unix:${spec.qmpSocket},server=on,wait=off`,
    '-pidfile',
    spec.pidFile,
    // a guest reboot ends QEMU; the supervisor starts it again (with a fresh command line)
    '-no-reboot',
  ];
  return { binary: m.binary, args };
}

/** The user-mode (slirp) network: SSH, the first server's API and any UDP forwards, all on 127.0.0.1. */
function userNetdev(spec: VmLaunchSpec): string {
  const forwards = [
    `hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
    ...(spec.apiPort ? [`hostfwd=tcp:127.0.0.1:${spec.apiPort}-:6443`] : []),
    ...(spec.udpForwards ?? []).map((f) => `hostfwd=udp:127.0.0.1:${f.hostPort}-:${f.guestPort}`),
  ];
  return ['user', 'id=net0', ...forwards].join(',');
}

/** A locally administered MAC derived from the VM's index in the lab (c5: user-mode NIC, c6: LAN NIC). */
export function labMac(index: number, nic: 'user' | 'lan' = 'user'): string {
  const hi = (index >> 8) & 0xff;
  const lo = index & 0xff;
  return `52:54:00:${nic === 'user' ? 'c5' : 'c6'}:${hi.toString(16).padStart(2, '0')}:${lo.toString(16).padStart(2, '0')}`;
}
