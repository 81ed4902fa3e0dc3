// apt inside the hosts without NAT: a TCP relay listening on the bridge address forwards to the
// Debian mirror, and each host's /etc/hosts maps the mirror's host name to the bridge address.
import fs from 'node:fs';
import net from 'node:net';
import { debianMirror } from '../../lib/lab/rootfs.ts';
import { processRef, waitFor, type ProcessRef } from './exec.ts';
import { start } from '../../lib/process/index.ts';

export interface MirrorEndpoint {
  hostname: string;
  port: number;
}

export function mirrorEndpoint(): MirrorEndpoint {
  const url = new URL(debianMirror());
  return { hostname: url.hostname, port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80) };
}

/** Starts socat on listenAddress:mirror.port; resolves once it accepts connections. */
export async function startMirrorRelay(listenAddress: string, mirror: MirrorEndpoint, logFile: string): Promise<ProcessRef> {
  const log = fs.openSync(logFile, 'a');
  const child = start(
    ['socat', `TCP-LISTEN:${mirror.port},bind=${listenAddress},reuseaddr,fork`, `TCP:${mirror.hostname}:${mirror.port}`],
    { detached: true, stdio: ['ignore', log, log], unref: true },
  );
  fs.closeSync(log);
  let exitCode: number | null | undefined;
  let spawnError: Error | undefined;
  void child.done.then(
    // null when a signal ended socat (as node's 'exit' event gives it)
    ({ code, signal }) => (exitCode = signal ? null : code),
    (err: Error) => (spawnError = (err.cause as Error | undefined) ?? err),
  );
  const ref = child.pid ? processRef(child.pid) : undefined;
  if (!ref) throw new Error(`socat did not start (package socat; see ${logFile})`);
  await waitFor(`the mirror relay on ${listenAddress}:${mirror.port}`, 5_000, async () => {
    if (spawnError) throw new Error(`cannot run socat (package socat): ${spawnError.message}`);
    if (exitCode !== undefined) throw new Error(`socat exited with ${exitCode} (see ${logFile})`);
    return (await canConnect(listenAddress, mirror.port)) ? true : undefined;
  });
  return ref;
}

function canConnect(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    // connect and close at once: socat forks a child that connects to the mirror and ends
    const socket = net.connect({ host: address, port, timeout: 1_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
