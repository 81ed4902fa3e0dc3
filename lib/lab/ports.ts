// Free TCP ports on 127.0.0.1 for the VMs' SSH forwards, counted up from 2222 so a lab's ports are
// predictable. A port can still be taken between this check and QEMU binding it: lab.ts retries.
import dgram from 'node:dgram';
import net from 'node:net';

export const FIRST_SSH_PORT = 2222;
/** First host port tried for a UDP forward (away from the SSH and API ranges). */
export const FIRST_UDP_PORT = 25820;

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function freePorts(count: number, exclude: Set<number> = new Set(), start = FIRST_SSH_PORT): Promise<number[]> {
  const ports: number[] = [];
  for (let port = start; ports.length < count && port < 65536; port++) {
    if (!exclude.has(port) && (await isFree(port))) ports.push(port);
  }
  if (ports.length < count) throw new Error(`found only ${ports.length} of ${count} free TCP ports on 127.0.0.1 from ${start}`);
  return ports;
}

function isFreeUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => {
      try {
        socket.close();
      } catch {
        // never bound: nothing to close
      }
      resolve(false);
    });
    socket.bind({ address: '127.0.0.1', port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

/** Free UDP ports on 127.0.0.1 (UDP forwards to the VMs), counted up from `start`. */
export async function freeUdpPorts(count: number, exclude: Set<number> = new Set(), start = FIRST_UDP_PORT): Promise<number[]> {
  const ports: number[] = [];
  for (let port = start; ports.length < count && port < 65536; port++) {
    if (!exclude.has(port) && (await isFreeUdp(port))) ports.push(port);
  }
  if (ports.length < count) throw new Error(`found only ${ports.length} of ${count} free UDP ports on 127.0.0.1 from ${start}`);
  return ports;
}
