// SSH to lab VMs (ssh2): the host key must be one the lab generated for that VM, so even the first
// connection is verified. While a VM boots, sshd accepts and drops connections, and QEMU's port
// forward accepts TCP before the guest listens at all: so wait for the SSH banner first, then log in
// once with a long timeout, instead of hammering with logins.
import net from 'node:net';
import ssh2 from 'ssh2';
import { sleep } from './proc.ts';

export interface LabSshTarget {
  port: number;
  user: string;
  /** private key (OpenSSH format) */
  privateKey: string;
  /** accepted host keys, "type base64" */
  hostKeys: string[];
}

export interface RemoteResult {
  code: number;
  stdout: string;
  stderr: string;
}

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

/** Resolves once 127.0.0.1:port sends an SSH banner; rejects at the deadline. */
export async function waitForBanner(port: number, deadline: number, alive: () => boolean = () => true): Promise<void> {
  for (;;) {
    if (await bannerSeen(port, 3000)) return;
    if (!alive()) throw new Error(`the VM behind port ${port} stopped while waiting for SSH`);
    if (Date.now() > deadline) throw new Error(`no SSH banner on 127.0.0.1:${port} before the deadline`);
    await sleep(1000);
  }
}

function bannerSeen(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('data', (d) => {
      data += d.toString('latin1');
      if (data.startsWith('SSH-')) done(true);
      else if (data.length >= 4) done(false);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(data.startsWith('SSH-')));
  });
}

/** Runs one command over a fresh connection. */
export function sshExec(
  target: LabSshTarget,
  command: string,
  opts: { readyTimeoutMs?: number; timeoutMs?: number } = {},
): Promise<RemoteResult> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    const finish = (err: Error | null, result?: RemoteResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end();
      if (err) reject(err);
      else resolve(result!);
    };
    const timer = setTimeout(() => finish(new Error(`ssh 127.0.0.1:${target.port}: "${command}" timed out`)), opts.timeoutMs ?? 180_000);
    client.on('ready', () => {
      client.exec(command, (err, stream) => {
        if (err) return finish(err);
        let stdout = '';
        let stderr = '';
        stream.on('data', (d: Buffer) => (stdout += d));
        stream.stderr.on('data', (d: Buffer) => (stderr += d));
        stream.on('close', (code: number | null) => finish(null, { code: code ?? -1, stdout, stderr }));
      });
    });
    client.on('error', (err) => finish(err));
    client.on('close', () => finish(new Error(`ssh 127.0.0.1:${target.port}: connection closed`)));
    client.connect(connectConfig(target, opts.readyTimeoutMs ?? 90_000));
  });
}

/** Banner first, then a login (`true`) with a long handshake timeout, retried until the deadline. */
export async function waitForSsh(target: LabSshTarget, deadline: number, alive: () => boolean = () => true): Promise<void> {
  let lastError = '';
  for (;;) {
    await waitForBanner(target.port, deadline, alive);
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
