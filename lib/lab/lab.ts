// The lab API: labUp, labStatus, rebootAndWait, labDown. A lab is a folder (default
// .clusterseed/lab) holding its state, key, known_hosts, inventory and one subfolder per VM (qcow2
// clone of a cached base image, config disk, console log, supervisor pid). Every VM runs under its
// own detached supervisor (supervisor.ts), so the lab outlives the `up` process.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseAccel } from './accel.ts';
import { ensureBaseImage, type BaseImage } from './image.ts';
import { ensureLabKey, knownHostsLines, writeConfigDisk } from './identity.ts';
import { DEFAULT_K3S_VERSION, renderInventory } from './inventory.ts';
import { defaultLabDir, labFiles, vmFiles } from './paths.ts';
import { FIRST_API_PORT, LAN_PREFIX, lanAddress, lanGroup } from './lan.ts';
import { freePorts, freeUdpPorts } from './ports.ts';
import { runOk, start } from '../process/index.ts';
import { findProcesses, pidAlive, sleep, tail } from './proc.ts';
import { labMac, type UdpForward, type VmLaunchSpec } from './qemu.ts';
import { baseKernelArgs, type GuestArch } from './recipe.ts';
import { findVm, processTag, readState, requireState, writeState, type LabState, type VmRecord } from './state.ts';
import { sshExec, waitForSsh, type LabSshTarget } from './ssh.ts';
import type { SupervisedVm } from './supervisor.ts';
import { planTopology, type PlannedVm, type TopologyOptions } from './topology.ts';
import { withFileLock } from './rootfs.ts';

export interface LabUpOptions extends TopologyOptions {
  dir?: string;
  k3sVersion?: string;
  /** longest wait for all VMs to answer SSH; default 5 min + 90 s per VM (TCG, 2 cores) */
  bootTimeoutMs?: number;
  log?: (line: string) => void;
  /**
   * false: no lab LAN, each VM alone on its own user-mode network (the VMs cannot reach each other
   * except through forwards on the control machine's loopback). Default true.
   */
  lan?: boolean;
  /** guest UDP ports to forward from 127.0.0.1, per VM name, e.g. { cloud: [51820] } */
  udpForwards?: Record<string, number[]>;
}

export interface LabHost {
  name: string;
  port: number;
  arch: GuestArch;
  role: 'server' | 'agent';
  raspberryPi: boolean;
  /** UDP forwards from 127.0.0.1:hostPort to the guest's guestPort */
  udpForwards: UdpForward[];
}

export interface LabUpResult {
  dir: string;
  inventoryFile: string;
  hosts: LabHost[];
  keyPath: string;
  knownHostsFile: string;
  timings: {
    /** base image builds done by this call (cold builds), seconds per arch */
    imageBuildSeconds: Partial<Record<GuestArch, number>>;
    /** seconds from QEMU start until SSH login worked, per VM started by this call */
    bootToSshSeconds: Record<string, number>;
  };
}

export interface VmStatus {
  name: string;
  arch: GuestArch;
  port: number;
  accel: string;
  running: boolean;
  ssh: boolean;
}

export interface LabStatus {
  dir: string;
  id?: string;
  inventoryFile?: string;
  vms: VmStatus[];
}

const SUPERVISOR_ENTRY = fileURLToPath(new URL('./supervisor-main.ts', import.meta.url));
/** How often to give a VM a new port when QEMU could not bind the chosen one (raced by another). */
const PORT_RETRIES = 3;

export async function labUp(opts: LabUpOptions = {}): Promise<LabUpResult> {
  const dir = path.resolve(opts.dir ?? defaultLabDir());
  const log = opts.log ?? (() => {});
  const plan = planTopology(opts);
  fs.mkdirSync(dir, { recursive: true });
  const files = labFiles(dir);
  const imageBuildSeconds: Partial<Record<GuestArch, number>> = {};
  // The lock covers making the lab and starting its VMs, not the wait for SSH: a `down` from
  // elsewhere must not hang behind a slow boot.
  const { state, started } = await withFileLock(files.lock, 'exclusive', async () => {
    let state = readState(dir);
    if (state) {
      // an existing lab keeps the images its disks were cloned from
      assertSameTopology(state, plan);
    } else {
      const images = new Map<GuestArch, BaseImage>();
      // both builds at once: the amd64 one waits on the mirror and dpkg, the arm64 one on qemu-user
      await Promise.all(
        [...new Set(plan.map((v) => v.arch))].map(async (arch) => {
          const image = await ensureBaseImage(arch, log);
          if (image.builtInSeconds !== undefined) imageBuildSeconds[arch] = image.builtInSeconds;
          images.set(arch, image);
        }),
      );
      state = await createLab(
        dir,
        plan,
        images,
        { k3sVersion: opts.k3sVersion ?? DEFAULT_K3S_VERSION, lan: opts.lan ?? true, udpForwards: opts.udpForwards ?? {} },
        log,
      );
    }
    writeLabFiles(state);
    const lab = state;
    const started = lab.vms.filter((vm) => !vmRunning(dir, vm)).map((vm) => ({ vm, launch: startVm(lab, vm), at: Date.now() }));
    return { state: lab, started };
  });

  const deadline = Date.now() + (opts.bootTimeoutMs ?? 300_000 + 90_000 * started.length);
  const bootToSshSeconds: Record<string, number> = {};
  await Promise.all(
    started.map(async ({ vm, launch, at }) => {
      await waitUntilUp(state, vm, launch, deadline, log);
      bootToSshSeconds[vm.name] = Math.round((Date.now() - at) / 100) / 10;
      log(`${vm.name}: SSH on 127.0.0.1:${vm.port} after ${bootToSshSeconds[vm.name]} s`);
    }),
  );
  return {
    dir,
    inventoryFile: files.inventory,
    hosts: state.vms.map(({ name, port, arch, role, raspberryPi, udpForwards }) => ({
      name,
      port,
      arch,
      role,
      raspberryPi,
      udpForwards: udpForwards ?? [],
    })),
    keyPath: files.key,
    knownHostsFile: files.knownHosts,
    timings: { imageBuildSeconds, bootToSshSeconds },
  };
}

function assertSameTopology(state: LabState, plan: PlannedVm[]): void {
  // (whether a running lab has a LAN or UDP forwards is not compared: `up` returns it as it was made)
  const have = state.vms
    .map((v) => `${v.name}/${v.arch}`)
    .sort()
    .join(', ');
  const want = plan
    .map((v) => `${v.name}/${v.arch}`)
    .sort()
    .join(', ');
  if (have !== want) {
    throw new Error(
      `the lab in ${state.dir} has other VMs (${have}) than asked for (${want}): run \`lab down\` first or use another --dir`,
    );
  }
}

async function createLab(
  dir: string,
  plan: PlannedVm[],
  images: Map<GuestArch, BaseImage>,
  opts: { k3sVersion: string; lan: boolean; udpForwards: Record<string, number[]> },
  log: (line: string) => void,
): Promise<LabState> {
  const files = labFiles(dir);
  const id = randomBytes(4).toString('hex');
  const unknown = Object.keys(opts.udpForwards).filter((name) => !plan.some((p) => p.name === name));
  if (unknown.length)
    throw new Error(`UDP forwards for ${unknown.join(', ')}: no such VM in the lab (it has ${plan.map((p) => p.name).join(', ')})`);
  const publicKey = ensureLabKey(files.key, files.publicKey, `clusterseed-lab-${id}`);
  const ports = await freePorts(plan.length);
  const [apiPort] = await freePorts(1, new Set(ports), FIRST_API_PORT);
  const udpGuestPorts = plan.flatMap((p) => opts.udpForwards[p.name] ?? []);
  const udpPorts = await freeUdpPorts(udpGuestPorts.length);
  const state: LabState = {
    version: 1,
    id,
    dir,
    createdAt: new Date().toISOString(),
    k3sVersion: opts.k3sVersion,
    ...(opts.lan ? { lan: { ...lanGroup(id), apiPort } } : {}),
    vms: [],
  };
  for (const [i, p] of plan.entries()) {
    const image = images.get(p.arch)!;
    const vf = vmFiles(dir, p.name);
    fs.mkdirSync(vf.dir, { recursive: true });
    await runOk(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', image.disk, vf.disk]);
    const lan = opts.lan ? { mac: labMac(i + 1, 'lan'), address: lanAddress(i) } : undefined;
    const identity = await writeConfigDisk(
      vf.configDisk,
      p.name,
      publicKey,
      lan && { mac: lan.mac, address: `${lan.address}/${LAN_PREFIX}` },
    );
    const udpForwards = (opts.udpForwards[p.name] ?? []).map((guestPort) => ({ hostPort: udpPorts.shift()!, guestPort }));
    const accel = await chooseAccel(p.arch, image.kernel);
    log(`${p.name}: ${p.arch}, ${accel.accel} (${accel.reason})`);
    state.vms.push({
      name: p.name,
      arch: p.arch,
      role: p.role,
      raspberryPi: p.raspberryPi,
      port: ports[i],
      cpus: p.cpus,
      memoryMb: p.memoryMb,
      accel: accel.accel,
      accelReason: accel.reason,
      mac: labMac(i + 1),
      machineId: identity.machineId,
      ...(lan ? { lan } : {}),
      ...(udpForwards.length ? { udpForwards } : {}),
      hostPublicKeys: identity.hostPublicKeys,
      image: { disk: image.disk, kernel: image.kernel, initrd: image.initrd },
    });
  }
  writeState(state);
  return state;
}

/** known_hosts and inventory.yaml from the state (again after a VM changed port). */
function writeLabFiles(state: LabState): void {
  const files = labFiles(state.dir);
  const lines = state.vms.flatMap((vm) => knownHostsLines(vm.port, vm.hostPublicKeys));
  fs.writeFileSync(files.knownHosts, lines.join('\n') + '\n');
  fs.writeFileSync(files.inventory, renderInventory(state, files.key, files.knownHosts));
}

/** The VM whose K3s API the lab forwards to 127.0.0.1 (the first server, which initialises the cluster). */
export function apiVm(state: LabState): VmRecord | undefined {
  return state.vms.find((v) => v.role === 'server');
}

function supervisedVm(state: LabState, vm: VmRecord): SupervisedVm {
  const vf = vmFiles(state.dir, vm.name);
  const rel = (p: string) => path.relative(vf.dir, p);
  const launch: VmLaunchSpec = {
    tag: processTag(state),
    name: vm.name,
    arch: vm.arch,
    accel: vm.accel,
    cpus: vm.cpus,
    memoryMb: vm.memoryMb,
    sshPort: vm.port,
    disk: rel(vf.disk),
    configDisk: rel(vf.configDisk),
    consoleLog: rel(vf.console),
    qmpSocket: rel(vf.qmpSocket),
    pidFile: rel(vf.qemuPid),
    kernel: vm.image.kernel,
    initrd: vm.image.initrd,
    mac: vm.mac,
    apiPort: state.lan && apiVm(state) === vm ? state.lan.apiPort : undefined,
    lan: state.lan && vm.lan ? { group: state.lan.group, port: state.lan.port, mac: vm.lan.mac } : undefined,
    udpForwards: vm.udpForwards,
  };
  return { launch, kernelArgs: baseKernelArgs(vm.arch), machineId: vm.machineId, raspberryPi: vm.raspberryPi };
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function vmRunning(dir: string, vm: VmRecord): boolean {
  const pid = readPid(vmFiles(dir, vm.name).supervisorPid);
  return pid !== undefined && pidAlive(pid);
}

function spawnSupervisor(state: LabState, vm: VmRecord): number {
  const vf = vmFiles(state.dir, vm.name);
  fs.writeFileSync(vf.spec, JSON.stringify(supervisedVm(state, vm), null, 2) + '\n');
  const out = fs.openSync(vf.supervisorLog, 'a');
  // the tag as an extra argument: `down` finds the supervisor by it even without its pid file
  // detached and unref'd: the supervisor outlives `lab up`
  const child = start([process.execPath, '--import', import.meta.resolve('tsx'), SUPERVISOR_ENTRY, vf.dir, processTag(state)], {
    cwd: vf.dir,
    detached: true,
    stdio: ['ignore', out, out],
    unref: true,
  });
  fs.closeSync(out);
  return child.pid!;
}

export function sshTarget(state: LabState, vm: VmRecord): LabSshTarget {
  return { port: vm.port, user: 'admin', privateKey: fs.readFileSync(labFiles(state.dir).key, 'utf8'), hostKeys: vm.hostPublicKeys };
}

interface Launch {
  pid: number;
  /** where this launch's lines start in supervisor.log */
  logOffset: number;
}

function startVm(state: LabState, vm: VmRecord): Launch {
  const log = vmFiles(state.dir, vm.name).supervisorLog;
  const logOffset = fs.existsSync(log) ? fs.statSync(log).size : 0;
  return { pid: spawnSupervisor(state, vm), logOffset };
}

function readFrom(file: string, offset: number): string {
  try {
    return fs.readFileSync(file).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

async function waitUntilUp(state: LabState, vm: VmRecord, launch: Launch, deadline: number, log: (line: string) => void): Promise<void> {
  const vf = vmFiles(state.dir, vm.name);
  for (let attempt = 0; ; attempt++) {
    try {
      await waitForSsh(sshTarget(state, vm), deadline, () => pidAlive(launch.pid));
      return;
    } catch (err) {
      const why = readFrom(vf.supervisorLog, launch.logOffset).trim();
      if (!pidAlive(launch.pid) && /host forwarding rule/i.test(why) && attempt < PORT_RETRIES) {
        // a port was taken after we picked it (another lab starting at the same time): move on
        const taken = new Set([...state.vms.map((v) => v.port), ...(state.lan ? [state.lan.apiPort] : [])]);
        const udp = vm.udpForwards?.find((f) => why.includes(`udp:127.0.0.1:${f.hostPort}-:${f.guestPort}`));
        if (udp) {
          const usedUdp = new Set(state.vms.flatMap((v) => (v.udpForwards ?? []).map((f) => f.hostPort)));
          [udp.hostPort] = await freeUdpPorts(1, usedUdp, udp.hostPort + 1);
          log(`${vm.name}: UDP port taken, moving to ${udp.hostPort}`);
        } else if (state.lan && why.includes(`127.0.0.1:${state.lan.apiPort}-:6443`)) {
          [state.lan.apiPort] = await freePorts(1, taken, state.lan.apiPort + 1);
          log(`${vm.name}: API port taken, moving to ${state.lan.apiPort}`);
        } else {
          [vm.port] = await freePorts(1, taken, vm.port + 1);
          log(`${vm.name}: port taken, moving to ${vm.port}`);
        }
        writeState(state);
        writeLabFiles(state);
        launch = startVm(state, vm);
        continue;
      }
      throw new Error(
        `${vm.name} did not come up: ${(err as Error).message}\n` +
          `--- ${vf.supervisorLog} ---\n${why.split('\n').slice(-5).join('\n')}\n--- last lines of ${vf.console} ---\n${tail(vf.console, 15)}\n` +
          `(the lab is left running for inspection: \`npx zx scripts/lab.mjs down\` removes it)`,
      );
    }
  }
}

export async function labStatus(dir: string = defaultLabDir()): Promise<LabStatus> {
  dir = path.resolve(dir);
  const state = readState(dir);
  if (!state) return { dir, vms: [] };
  const vms = await Promise.all(
    state.vms.map(async (vm): Promise<VmStatus> => {
      const running = vmRunning(dir, vm);
      let ssh = false;
      if (running) {
        ssh = await sshExec(sshTarget(state, vm), 'true', { readyTimeoutMs: 30_000, timeoutMs: 40_000 })
          .then((r) => r.code === 0)
          .catch(() => false);
      }
      return { name: vm.name, arch: vm.arch, port: vm.port, accel: vm.accel, running, ssh };
    }),
  );
  return { dir, id: state.id, inventoryFile: labFiles(dir).inventory, vms };
}

/**
 * Reboots a VM from inside (systemctl reboot) and waits until SSH answers from the new boot
 * (a different boot_id). Returns the seconds that took.
 */
export async function rebootAndWait(name: string, opts: { dir?: string; timeoutMs?: number } = {}): Promise<number> {
  const dir = path.resolve(opts.dir ?? defaultLabDir());
  const state = requireState(dir);
  const vm = findVm(state, name);
  const target = sshTarget(state, vm);
  const bootIdOf = async () => (await sshExec(target, 'cat /proc/sys/kernel/random/boot_id')).stdout.trim();
  const before = await bootIdOf();
  const started = Date.now();
  const deadline = started + (opts.timeoutMs ?? 300_000);
  // --no-block: the command returns before sshd goes down, so the exec does not hang on it
  const r = await sshExec(target, 'sudo -n systemctl --no-block reboot');
  if (r.code !== 0) throw new Error(`${name}: reboot failed: ${r.stderr.trim()}`);
  for (;;) {
    await waitForSsh(target, deadline, () => vmRunning(dir, vm));
    const now = await bootIdOf().catch(() => before);
    if (now && now !== before) return Math.round((Date.now() - started) / 100) / 10;
    if (Date.now() > deadline) throw new Error(`${name}: still the same boot after ${opts.timeoutMs ?? 300_000} ms`);
    await sleep(1000);
  }
}

/**
 * Stops every VM of the lab (supervisors and QEMU, found by pid file and by the lab's process tag)
 * and removes the lab's files. Returns whether there was a lab.
 */
export async function labDown(dir: string = defaultLabDir(), log: (line: string) => void = () => {}): Promise<boolean> {
  dir = path.resolve(dir);
  const files = labFiles(dir);
  const state = readState(dir);
  if (!state) return false;
  await withFileLock(files.lock, 'exclusive', async () => {
    const tag = processTag(state);
    const supervisors = state.vms.map((vm) => readPid(vmFiles(dir, vm.name).supervisorPid)).filter((p): p is number => !!p);
    for (const pid of new Set([...supervisors, ...findProcesses(tag)])) signal(pid, 'SIGTERM');
    const deadline = Date.now() + 20_000;
    while (findProcesses(tag).length && Date.now() < deadline) await sleep(200);
    const left = findProcesses(tag);
    for (const pid of left) signal(pid, 'SIGKILL');
    const killDeadline = Date.now() + 10_000;
    while (findProcesses(tag).length && Date.now() < killDeadline) await sleep(100);
    if (left.length) log(`killed ${left.length} process(es) that did not stop in time`);
    const stuck = findProcesses(tag);
    if (stuck.length) throw new Error(`lab ${state.id}: processes ${stuck.join(', ')} survive SIGKILL; files left in place`);
    for (const vm of state.vms) fs.rmSync(vmFiles(dir, vm.name).dir, { recursive: true, force: true });
    for (const f of [files.inventory, files.key, files.publicKey, files.knownHosts, files.state]) fs.rmSync(f, { force: true });
    fs.rmSync(files.vmsDir, { recursive: true, force: true });
  });
  fs.rmSync(files.lock, { force: true });
  try {
    fs.rmdirSync(dir);
  } catch {
    // not empty: the user keeps other files there
  }
  log(`lab ${state.id} in ${dir} removed`);
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
