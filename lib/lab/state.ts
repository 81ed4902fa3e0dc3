// lab.json: what `up` made, so `status`, `ssh`, `reboot` and `down` work from a later process.
import fs from 'node:fs';
import { labFiles } from './paths.ts';
import type { GuestArch } from './recipe.ts';
import type { Accel, UdpForward } from './qemu.ts';
import type { LabRole } from './topology.ts';

export interface VmRecord {
  name: string;
  arch: GuestArch;
  role: LabRole;
  raspberryPi: boolean;
  port: number;
  cpus: number;
  memoryMb: number;
  accel: Accel;
  accelReason: string;
  mac: string;
  machineId: string;
  /** the VM on the lab LAN (absent in labs made before the LAN existed) */
  lan?: { mac: string; address: string };
  /** UDP ports of the guest forwarded from 127.0.0.1 (the other VMs reach them at 10.0.2.2:hostPort) */
  udpForwards?: UdpForward[];
  /** "type base64" host public keys generated for this VM */
  hostPublicKeys: string[];
  image: { disk: string; kernel: string; initrd: string };
}

export interface LabState {
  version: 1;
  /** random id; every QEMU and supervisor process of the lab carries `clusterseed-vmlab-<id>` */
  id: string;
  dir: string;
  createdAt: string;
  k3sVersion: string;
  /**
   * The lab LAN: QEMU socket netdevs in one multicast group (`group`, UDP `port`) on 127.0.0.1: no
   * root, no bridge, nothing leaves loopback. `apiPort` on 127.0.0.1 is forwarded to the first
   * server's K3s API (6443), for the local kubeconfig.
   */
  lan?: { group: string; port: number; apiPort: number };
  vms: VmRecord[];
}

export function processTag(state: Pick<LabState, 'id'>): string {
  return `clusterseed-vmlab-${state.id}`;
}

export function readState(dir: string): LabState | undefined {
  const file = labFiles(dir).state;
  if (!fs.existsSync(file)) return undefined;
  const state = JSON.parse(fs.readFileSync(file, 'utf8')) as LabState;
  if (state.version !== 1) throw new Error(`${file}: unknown lab state version ${state.version}; remove the lab folder`);
  return state;
}

export function writeState(state: LabState): void {
  const file = labFiles(state.dir).state;
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n');
  fs.renameSync(`${file}.tmp`, file);
}

export function requireState(dir: string): LabState {
  const state = readState(dir);
  if (!state) throw new Error(`no lab in ${dir} (run \`npx zx scripts/lab.mjs up\` first)`);
  return state;
}

export function findVm(state: LabState, name: string): VmRecord {
  const vm = state.vms.find((v) => v.name === name);
  if (!vm) throw new Error(`lab ${state.dir} has no VM "${name}" (it has: ${state.vms.map((v) => v.name).join(', ')})`);
  return vm;
}
