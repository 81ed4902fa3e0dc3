// Waiting for a server's SSH identification line ("SSH-2.0-..."). While a host boots, sshd accepts and
// drops connections (and QEMU's port forward accepts TCP before the guest listens at all): probing
// the banner first avoids burning a full login attempt. The transport, the lab and the test harness
// all wait through here.
import net from 'node:net';
import type { Duplex } from 'node:stream';

/** Resolves with the SSH identification line the stream sends; rejects on timeout, close or error. */
export function readBanner(open: () => Promise<Duplex>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let stream: Duplex | undefined;
    let seen = '';
    let settled = false;
    const done = (err?: Error, banner?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream?.destroy();
      if (err) reject(err);
      else resolve(banner!);
    };
    const timer = setTimeout(
      () => done(new Error(`no SSH banner within ${timeoutMs} ms${seen ? ` (got ${JSON.stringify(seen)})` : ''}`)),
      timeoutMs,
    );
    open().then(
      (s) => {
        stream = s;
        if (settled) s.destroy();
        s.on('data', (chunk: Buffer) => {
          seen += chunk.toString('latin1');
          const line = /^SSH-[^\r\n]*\r?\n/m.exec(seen);
          if (line) done(undefined, line[0].trim());
          else if (seen.length > 8192) done(new Error('no SSH banner in the first 8 KiB'));
        });
        s.on('error', (e: Error) => done(e));
        s.on('close', () => {
          const partial = /^SSH-[^\r\n]*/m.exec(seen);
          if (partial) done(undefined, partial[0]);
          else done(new Error('connection closed before the SSH banner'));
        });
      },
      (e: Error) => done(e),
    );
  });
}

/** Wait until the server sends its SSH identification line. */
export async function waitForBanner(open: () => Promise<Duplex>, timeoutMs: number): Promise<void> {
  await readBanner(open, timeoutMs);
}

/** A TCP stream to address:port, resolved once connected. */
export function tcpStream(address: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: address, port });
    sock.once('connect', () => {
      sock.off('error', reject);
      resolve(sock);
    });
    sock.once('error', reject);
  });
}

/**
 * Probes address:port until it sends an SSH banner: each probe is bounded by probeMs, a failed one is
 * retried after intervalMs until the deadline (epoch ms). `stop` may end the wait early with a reason
 * (the host died). Rejects naming the last failure.
 */
export async function pollBanner(
  address: string,
  port: number,
  opts: { deadline: number; probeMs: number; intervalMs: number; stop?: () => string | undefined },
): Promise<void> {
  for (;;) {
    const why = await readBanner(() => tcpStream(address, port), Math.max(100, Math.min(opts.probeMs, opts.deadline - Date.now()))).then(
      () => undefined,
      (e: Error) => (e as NodeJS.ErrnoException).code ?? e.message,
    );
    if (why === undefined) return;
    const stopped = opts.stop?.();
    if (stopped) throw new Error(stopped);
    if (Date.now() > opts.deadline) throw new Error(`no SSH banner on ${address}:${port} before the deadline (last: ${why})`);
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
}
