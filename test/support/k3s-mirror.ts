// A K3s release mirror for tests: builds the STAND-IN binary (test/fixtures/k3s-standin, compiled
// at test time into a temp dir, never into the repo) for each requested version and architecture,
// lays the files out like a GitHub release (<base>/download/<version>/k3s, k3s-arm64,
// sha256sum-<arch>.txt, optional k3s-airgap-images-<arch>.tar.zst) and serves them over HTTP on
// 127.0.0.1 only. Tests hand its URL to the roles through the same option a user's air-gap mirror
// uses (ctx.shared 'k3s.mirror' = --k3s-mirror). Nothing outside test/ knows about it.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SOURCE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'k3s-standin', 'k3s-standin.c');

export type MirrorArch = 'amd64' | 'arm64';

/** compiler and release file name per architecture */
const TOOLCHAINS: Record<MirrorArch, { cc: string; binary: string; pkg: string }> = {
  amd64: { cc: 'gcc', binary: 'k3s', pkg: 'gcc' },
  arm64: { cc: 'aarch64-linux-gnu-gcc', binary: 'k3s-arm64', pkg: 'gcc-aarch64-linux-gnu' },
};

export interface MirrorOptions {
  versions: string[];
  arches?: MirrorArch[];
  /** also publish a small k3s-airgap-images-<arch>.tar.zst per architecture */
  airgapImages?: boolean;
}

export interface K3sMirror {
  /** base URL to pass as the mirror: http://127.0.0.1:PORT/k3s-io/k3s/releases */
  url: string;
  /** every path requested, in order */
  requests: string[];
  /** directory of one version's release files */
  releaseDir(version: string): string;
  /** serve other bytes for a file than its checksum says (the checksum file is left alone) */
  corrupt(version: string, file: string): void;
  close(): Promise<void>;
}

async function compile(arch: MirrorArch, version: string, out: string): Promise<void> {
  const tc = TOOLCHAINS[arch];
  try {
    await run(tc.cc, ['-O2', '-Wall', `-DSTANDIN_VERSION="${version}"`, '-o', out, SOURCE]);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`the K3s stand-in for ${arch} needs ${tc.cc} (Debian package ${tc.pkg})`);
    throw new Error(`compiling the K3s stand-in for ${arch} failed: ${e.stderr ?? e.message}`);
  }
}

export async function startK3sMirror(opts: MirrorOptions): Promise<K3sMirror> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'clusterseed-k3s-mirror-'));
  const arches = opts.arches ?? ['amd64'];
  const overrides = new Map<string, Buffer>();
  try {
    for (const version of opts.versions) {
      const dir = path.join(root, 'download', version);
      mkdirSync(dir, { recursive: true });
      for (const arch of arches) {
        const binary = path.join(dir, TOOLCHAINS[arch].binary);
        await compile(arch, version, binary);
        const files = [TOOLCHAINS[arch].binary];
        if (opts.airgapImages) {
          // not a real image bundle: only the bytes the roles copy and checksum
          writeFileSync(path.join(dir, `k3s-airgap-images-${arch}.tar.zst`), `stand-in air-gap images ${arch} ${version}\n`);
          files.push(`k3s-airgap-images-${arch}.tar.zst`);
        }
        const sums = files.map((f) => `${createHash('sha256').update(readFileSync(path.join(dir, f))).digest('hex')}  ${f}`);
        writeFileSync(path.join(dir, `sha256sum-${arch}.txt`), sums.join('\n') + '\n');
      }
    }
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }

  const requests: string[] = [];
  const prefix = '/k3s-io/k3s/releases/download/';
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(url);
    if (req.method !== 'GET' || !url.startsWith(prefix)) {
      res.writeHead(404).end();
      return;
    }
    const rel = url.slice(prefix.length).split('/').map(decodeURIComponent);
    if (rel.length !== 2 || rel.some((p) => !p || p === '..' || p.includes('/'))) {
      res.writeHead(404).end();
      return;
    }
    const file = path.join(root, 'download', rel[0], rel[1]);
    const body = overrides.get(file) ?? (existsSync(file) ? readFileSync(file) : undefined);
    if (!body) {
      res.writeHead(404).end('Not Found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/k3s-io/k3s/releases`,
    requests,
    releaseDir: (version) => path.join(root, 'download', version),
    corrupt(version, name) {
      const file = path.join(root, 'download', version, name);
      const good = readFileSync(file);
      const bad = Buffer.concat([good, Buffer.from('\n# tampered\n')]);
      overrides.set(file, bad);
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
