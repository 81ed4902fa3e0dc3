// Free TCP ports on 127.0.0.1 for the VMs' SSH forwards, counted up from 2222 so a lab's ports are
// predictable. A port can still be taken between this check and QEMU binding it: lab.ts retries.
import net from 'node:net';

export const FIRST_SSH_PORT = 2222;

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
