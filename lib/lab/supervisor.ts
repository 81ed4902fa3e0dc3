// One supervisor process per lab VM (started detached by lab.ts, entry: supervisor-main.ts).
// It runs QEMU with -no-reboot and watches QMP: when the guest reboots (SHUTDOWN, reason
// "guest-reset") it starts QEMU again, so each boot gets a fresh kernel command line. That is how a
// Raspberry Pi lab host's /boot/firmware/cmdline.txt takes effect after a reboot, as on a real Pi:
// with direct kernel boot QEMU would otherwise keep its own -append forever. A guest power-off or
// SIGTERM (lab down) ends the supervisor.
import fs from 'node:fs';
import { QmpClient, type QmpEvent } from './qmp.ts';
import { qemuCommand, type VmLaunchSpec } from './qemu.ts';
import { readGuestCmdline } from './identity.ts';
import { PI_CMDLINE_TXT } from './recipe.ts';
import { sleep } from './proc.ts';
import { start, type Started } from '../process/index.ts';

export interface SupervisedVm {
  launch: VmLaunchSpec;
  /** kernel command line of every boot of a non-Pi VM */
  kernelArgs: string;
  machineId: string;
  raspberryPi: boolean;
}

export interface VmEvent {
  at: string;
  event: 'boot' | 'shutdown' | 'exit' | 'stop' | 'error';
  boot?: number;
  append?: string;
  reason?: string;
  code?: number | null;
  pid?: number;
  detail?: string;
}

// file names inside the VM folder (the supervisor runs there); paths.ts vmFiles() names the same
const EVENTS_FILE = 'events.jsonl';
const PID_FILE = 'supervisor.pid';

/** Guest reboots faster than this many times a minute mean a boot loop: give up. */
const MAX_RESTARTS_PER_MINUTE = 5;

/**
 * The kernel command line for the next boot. A Pi host boots with its cmdline.txt as last written
 * back by the guest (the image's default until the first clean shutdown); until then the machine id
 * is added so systemd commits it on the first boot.
 */
export async function nextKernelArgs(vm: SupervisedVm, configDisk: string): Promise<string> {
  if (!vm.raspberryPi) return `${vm.kernelArgs} systemd.machine_id=${vm.machineId}`;
  const fromGuest = await readGuestCmdline(configDisk);
  if (fromGuest) return fromGuest;
  return `${PI_CMDLINE_TXT.trim()} systemd.machine_id=${vm.machineId}`;
}

export async function superviseVm(vmDir: string): Promise<number> {
  process.chdir(vmDir);
  const vm: SupervisedVm = JSON.parse(fs.readFileSync('vm.json', 'utf8'));
  const record = (e: Omit<VmEvent, 'at'>) => fs.appendFileSync(EVENTS_FILE, JSON.stringify({ at: new Date().toISOString(), ...e }) + '\n');
  fs.writeFileSync(PID_FILE, `${process.pid}\n`);

  let stopping = false;
  let qemu: Started['child'] | undefined;
  let qmp: QmpClient | undefined;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    record({ event: 'stop' });
    if (qmp) await qmp.execute('quit').catch(() => undefined);
    const child = qemu;
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      await Promise.race([gone, sleep(10_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());

  const restarts: number[] = [];
  let boot = 0;
  try {
    while (!stopping) {
      boot++;
      const append = await nextKernelArgs(vm, vm.launch.configDisk);
      const { binary, args } = qemuCommand(vm.launch, append);
      const started = start([binary, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
      const child = started.child;
      qemu = child;
      const exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = started.done.then(
        // code null when a signal ended QEMU, as node's 'exit' event gives it
        ({ code, signal }) => ({ code: signal ? null : code, signal }),
        // e.g. the QEMU binary is missing
        (err: Error) => {
          record({ event: 'error', detail: (err.cause as Error | undefined)?.message ?? err.message });
          return { code: 127, signal: null };
        },
      );
      record({ event: 'boot', boot, append, pid: child.pid });

      let shutdownReason: string | undefined;
      const onEvent = (e: QmpEvent) => {
        if (e.event === 'SHUTDOWN') {
          shutdownReason = String(e.data?.reason ?? 'unknown');
          record({ event: 'shutdown', boot, reason: shutdownReason });
        }
      };
      qmp = await Promise.race([
        // generous: on a machine under heavy load QEMU can take a while to create the socket
        QmpClient.connect(vm.launch.qmpSocket, onEvent, 60_000).catch(() => undefined),
        exited.then(() => undefined),
      ]);
      if (stopping) await qmp?.execute('quit').catch(() => undefined);
      const { code, signal } = await exited;
      qmp?.close();
      qmp = undefined;
      record({ event: 'exit', boot, code, reason: signal ?? undefined });
      if (stopping) break;
      if (code !== 0 || shutdownReason !== 'guest-reset') return code === 0 ? 0 : 1;
      const now = Date.now();
      restarts.push(now);
      while (restarts.length && restarts[0] < now - 60_000) restarts.shift();
      if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
        record({ event: 'error', detail: `more than ${MAX_RESTARTS_PER_MINUTE} reboots in a minute: boot loop, giving up` });
        return 1;
      }
    }
    return 0;
  } finally {
    fs.rmSync(PID_FILE, { force: true });
    fs.rmSync(vm.launch.qmpSocket, { force: true });
  }
}
