// SSH to lab VMs (ssh2): the host key must be one the lab generated for that VM, so even the first
// connection is verified. While a VM boots, sshd accepts and drops connections, and QEMU's port
// forward accepts TCP before the guest listens at all: so wait for the SSH banner first, then log in
// once with a long timeout, instead of hammering with logins.
import type ssh2 from 'ssh2';
import { pollBanner } from '../ssh/banner.ts';
import { execOnce, type RemoteResult } from '../ssh/exec-once.ts';
import { sleep } from './proc.ts';

export interface LabSshTarget {
  port: number;
  user: string;
  /** private key (OpenSSH format) */
  privateKey: string;
  /** accepted host keys, "type base64" */
  hostKeys: string[];
}

export type { RemoteResult };

/** ssh2 settings for a lab VM: key login, and only the host keys the lab generated for it. */
export function connectConfig(target: LabSshTarget, readyTimeout: number): ssh2.ConnectConfig {
  return {
    host: '127.0.0.1',
    port: target.port,
    username: target.user,
    privateKey: target.privateKey,
    readyTimeout,
    hostVerifier: (key: Buffer) => target.hostKeys.some((k) => k.split(' ')[1] === key.toString('base64')),
  };
}

/** Runs one command over a fresh connection. */
export function sshExec(
  target: LabSshTarget,
  command: string,
  opts: { readyTimeoutMs?: number; timeoutMs?: number } = {},
): Promise<RemoteResult> {
  return execOnce(connectConfig(target, opts.readyTimeoutMs ?? 90_000), command, { timeoutMs: opts.timeoutMs });
}

/** Banner first, then a login (`true`) with a long handshake timeout, retried until the deadline. */
export async function waitForSsh(target: LabSshTarget, deadline: number, alive: () => boolean = () => true): Promise<void> {
  let lastError = '';
  for (;;) {
    await pollBanner('127.0.0.1', target.port, {
      deadline,
      probeMs: 3000,
      intervalMs: 1000,
      stop: () => (alive() ? undefined : `the VM behind port ${target.port} stopped while waiting for SSH`),
    });
    try {
      const r = await sshExec(target, 'true', { readyTimeoutMs: 60_000, timeoutMs: 90_000 });
      if (r.code === 0) return;
      lastError = `"true" exited ${r.code}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (!alive()) throw new Error(`the VM behind port ${target.port} stopped while waiting for SSH`);
    if (Date.now() > deadline) throw new Error(`SSH login on 127.0.0.1:${target.port} kept failing: ${lastError}`);
    await sleep(2000);
  }
}
