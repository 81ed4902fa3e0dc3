// Which accelerator a lab VM runs with.
//
// KVM only helps when the guest has the host's architecture and /dev/kvm is usable. Even then it can
// be broken: under nested virtualisation a KVM guest may hang right after the kernel is decompressed,
// or QEMU may abort on an unsupported MSR. So KVM is *probed*: the guest's real kernel is booted
// under KVM without a root disk and with `panic=-1` and -no-reboot. A working KVM gets to
// "Kernel panic - not syncing: VFS: Unable to mount root fs" and QEMU exits by itself within a couple
// of seconds; a broken one prints nothing or dies. No panic line within PROBE_TIMEOUT_MS → TCG.
// The verdict is cached per host boot (boot_id), QEMU binary and kernel, so the probe runs once.
// CLUSTERSEED_LAB_ACCEL=tcg|kvm skips the probe.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../process/index.ts';
import { accelArgs, MACHINES, type Accel } from './qemu.ts';
import type { GuestArch } from './recipe.ts';
import { cacheRoot } from './paths.ts';

const PROBE_TIMEOUT_MS = 20_000;
export const ACCEL_ENV = 'CLUSTERSEED_LAB_ACCEL';

export interface AccelChoice {
  accel: Accel;
  /** why: override, foreign architecture, no /dev/kvm, probe result (cached or fresh) */
  reason: string;
}

export function hostGuestArch(): GuestArch | undefined {
  return ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, GuestArch>)[process.arch];
}

export async function chooseAccel(arch: GuestArch, kernel: string): Promise<AccelChoice> {
  const override = process.env[ACCEL_ENV];
  if (override) {
    if (override !== 'tcg' && override !== 'kvm') throw new Error(`${ACCEL_ENV}=${override}: expected "tcg" or "kvm"`);
    if (override === 'kvm' && arch !== hostGuestArch()) {
      throw new Error(`${ACCEL_ENV}=kvm: KVM cannot run ${arch} guests on this ${os.arch()} host`);
    }
    return { accel: override, reason: `${ACCEL_ENV}=${override}` };
  }
  if (arch !== hostGuestArch()) return { accel: 'tcg', reason: `${arch} guest on a ${os.arch()} host` };
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return { accel: 'tcg', reason: '/dev/kvm is missing or not accessible' };
  }
  const cacheFile = path.join(cacheRoot(), 'lab-accel.json');
  const key = `${bootId()} ${MACHINES[arch].binary} ${kernel}`;
  const cached = readCache(cacheFile)[key];
  if (cached) return { accel: cached.accel, reason: `${cached.reason} (cached for this boot)` };
  const probe = await probeKvm(arch, kernel);
  const choice: AccelChoice = probe.ok
    ? { accel: 'kvm', reason: `KVM probe booted the kernel in ${probe.ms} ms` }
    : { accel: 'tcg', reason: `KVM probe failed (${probe.detail}): falling back to TCG` };
  // verdicts of earlier host boots are void: keep only this boot's
  const all = Object.fromEntries(Object.entries(readCache(cacheFile)).filter(([k]) => k.startsWith(`${bootId()} `)));
  all[key] = choice;
  fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
  fs.writeFileSync(cacheFile, JSON.stringify(all, null, 2));
  return choice;
}

function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown-boot';
  }
}

function readCache(file: string): Record<string, AccelChoice> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}

export async function probeKvm(arch: GuestArch, kernel: string): Promise<{ ok: boolean; ms: number; detail: string }> {
  const m = MACHINES[arch];
  const args = [
    '-machine',
    m.machine('kvm'),
    ...accelArgs('kvm'),
    '-cpu',
    m.cpu('kvm'),
    '-m',
    '256',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-kernel',
    kernel,
    '-append',
    `console=${m.console} panic=-1 root=/dev/nonexistent`,
    '-no-reboot',
  ];
  const started = Date.now();
  try {
    const r = await run([m.binary, ...args], { noStdin: true, timeoutMs: PROBE_TIMEOUT_MS });
    const ms = Date.now() - started;
    const panicked = r.stdout.includes('Kernel panic');
    if (panicked && r.code === 0) return { ok: true, ms, detail: 'kernel ran' };
    if (r.signal) return { ok: false, ms, detail: `no kernel output within ${PROBE_TIMEOUT_MS / 1000} s` };
    return { ok: false, ms, detail: `qemu exited ${r.code}: ${r.stderr.trim().split('\n').at(-1) ?? ''}` };
  } catch (e) {
    return { ok: false, ms: Date.now() - started, detail: (e as Error).message };
  }
}
