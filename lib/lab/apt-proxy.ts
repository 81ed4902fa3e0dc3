// A loopback HTTP proxy that lets apt inside the image build's chroot reach the Debian mirror.
//
// Why: the lab installs the kernel in the rootfs *setup* step (after the initramfs is configured
// for MODULES=list) rather than through debootstrap, because debootstrap would configure
// linux-image with initramfs-tools' default MODULES=most: for arm64, thousands of module copies
// under qemu-user emulation (measured: over 25 min on a busy 2-core machine). The chroot shares the
// host's network but not its name resolution (the rootfs ships an empty resolv.conf), so apt gets
// this proxy at 127.0.0.1 and the proxy resolves and connects on the host side. Only the mirror's
// host is served; the proxy lives just as long as the build.
import http from 'node:http';
import net from 'node:net';
import { debianMirror } from './rootfs.ts';

export interface AptProxy {
  url: string;
  close(): Promise<void>;
}

export async function startAptProxy(mirrorUrl: string = debianMirror()): Promise<AptProxy> {
  const mirror = new URL(mirrorUrl);
  const allowedHost = mirror.hostname.toLowerCase();
  const sockets = new Set<net.Socket>();

  const server = http.createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute URL expected (proxy request)\n');
      return;
    }
    if (target.hostname.toLowerCase() !== allowedHost || target.protocol !== 'http:') {
      res.writeHead(403).end(`only ${allowedHost} over http is proxied\n`);
      return;
    }
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: target.host };
    delete headers['proxy-connection'];
    const upstream = http.request(target, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(`upstream: ${err.message}\n`);
    });
    req.pipe(upstream);
  });
  // https mirrors: apt tunnels with CONNECT
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const [host, port = '443'] = (req.url ?? '').split(':');
    if (host.toLowerCase() !== allowedHost) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
