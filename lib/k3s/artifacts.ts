// The K3s release files a run needs, fetched ONCE per architecture on the control machine before any
// host is touched, cached, and checked with sha256 on every use. A wrong checksum or an unreachable
// release stops the run here, so nothing is installed on any host.
//
// Cache: ${XDG_CACHE_HOME:-~/.cache}/clusterseed/k3s/<sha256(base URL)[0:16]>/<version>/<file>.
// The cache is keyed by the base URL, so files from one mirror are never taken for another's.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { airgapImagesFile, checksumFile, normalizeBaseUrl, parseChecksums, releaseFileUrl, type ReleaseArch } from './release.ts';
import { UserError } from '../report/user-error.ts';

export interface Artifact {
  /** file name in the release, e.g. k3s-arm64 */
  name: string;
  url: string;
  /** cached copy on the control machine */
  path: string;
  sha256: string;
  size: number;
}

export interface ArchArtifacts {
  arch: ReleaseArch;
  binary: Artifact;
  images?: Artifact;
}

export interface ArtifactRequest {
  baseUrl: string;
  version: string;
  arches: ReleaseArch[];
  airgapImages?: boolean;
  /** default: ${XDG_CACHE_HOME:-~/.cache}/clusterseed/k3s */
  cacheRoot?: string;
  log?: (line: string) => void;
  /** a download that receives nothing for this long fails (default 60 s) */
  idleTimeoutMs?: number;
}

/** A release problem the user must fix (mirror, network, checksums): printed without a stack. */
export class ArtifactError extends UserError {}

export function defaultCacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'clusterseed', 'k3s');
}

export function cacheDirFor(cacheRoot: string, baseUrl: string, version: string): string {
  const key = createHash('sha256').update(normalizeBaseUrl(baseUrl)).digest('hex').slice(0, 16);
  return path.join(cacheRoot, key, version);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Resolves, downloads where needed and verifies the files of every requested architecture. */
export async function prepareK3sArtifacts(req: ArtifactRequest): Promise<Map<ReleaseArch['arch'], ArchArtifacts>> {
  const base = normalizeBaseUrl(req.baseUrl);
  const dir = cacheDirFor(req.cacheRoot ?? defaultCacheRoot(), base, req.version);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fetcher = new ReleaseFetcher(base, req.version, dir, req.idleTimeoutMs ?? 60_000, req.log ?? (() => undefined));
  const out = new Map<ReleaseArch['arch'], ArchArtifacts>();
  for (const arch of req.arches) {
    if (out.has(arch.arch)) continue;
    const sums = await fetcher.checksums(arch);
    const binary = await fetcher.verified(arch.binary, sums, checksumFile(arch.arch));
    const images = req.airgapImages ? await fetcher.verified(airgapImagesFile(arch.arch), sums, checksumFile(arch.arch)) : undefined;
    out.set(arch.arch, { arch, binary, images });
  }
  return out;
}

class ReleaseFetcher {
  constructor(
    private readonly base: string,
    private readonly version: string,
    private readonly dir: string,
    private readonly idleTimeoutMs: number,
    private readonly log: (line: string) => void,
  ) {}

  /** The architecture's checksum file: the cached copy, else downloaded (and then cached). */
  async checksums(arch: ReleaseArch): Promise<Map<string, string>> {
    const name = checksumFile(arch.arch);
    const cached = path.join(this.dir, name);
    if (!existsSync(cached)) {
      const tmp = await this.download(name);
      renameSync(tmp, cached);
    }
    try {
      return parseChecksums(readFileSync(cached, 'utf8'));
    } catch (err) {
      rmSync(cached, { force: true });
      throw new ArtifactError(`${releaseFileUrl(this.base, this.version, name)}: ${(err as Error).message}`);
    }
  }

  /** A release file whose sha256 matches the checksum file: cached, or downloaded and checked. */
  async verified(name: string, sums: Map<string, string>, sumsName: string): Promise<Artifact> {
    const url = releaseFileUrl(this.base, this.version, name);
    const expected = sums.get(name);
    if (!expected) {
      throw new ArtifactError(`${sumsName} of K3s ${this.version} (${this.base}) has no checksum for ${name}; is the mirror complete?`);
    }
    const cached = path.join(this.dir, name);
    if (existsSync(cached)) {
      const actual = await sha256File(cached);
      if (actual === expected) return { name, url, path: cached, sha256: actual, size: statSync(cached).size };
      this.log(`cached ${cached} does not match its checksum any more; downloading it again`);
      rmSync(cached, { force: true });
    }
    const tmp = await this.download(name);
    const actual = await sha256File(tmp);
    if (actual !== expected) {
      rmSync(tmp, { force: true });
      throw new ArtifactError(
        `checksum mismatch for ${url}: sha256 is ${actual}, but ${sumsName} says ${expected}. ` +
          `The download is corrupt or the mirror serves other files than the release; nothing was installed on any host.`,
      );
    }
    renameSync(tmp, cached);
    return { name, url, path: cached, sha256: actual, size: statSync(cached).size };
  }

  /** Downloads one file into a temp file next to its cache entry; returns the temp path. */
  private async download(name: string): Promise<string> {
    const url = releaseFileUrl(this.base, this.version, name);
    const tmp = path.join(this.dir, `.${name}.${randomBytes(4).toString('hex')}.part`);
    this.log(`downloading ${url}`);
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => abort.abort(new Error(`no data for ${this.idleTimeoutMs / 1000} s`)), this.idleTimeoutMs);
    };
    arm();
    try {
      const res = await fetch(url, { redirect: 'follow', signal: abort.signal });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
      const keepAlive = new Transform({
        transform(chunk, _enc, done) {
          arm();
          done(null, chunk);
        },
      });
      await pipeline(
        Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
        keepAlive,
        createWriteStream(tmp, { mode: 0o600 }),
      );
      return tmp;
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new ArtifactError(unreachableMessage(url, this.base, this.version, this.dir, describeFetchError(err)));
    } finally {
      clearTimeout(timer);
    }
  }
}

function describeFetchError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message}: ${cause}` : e.message;
}

function unreachableMessage(url: string, base: string, version: string, dir: string, detail: string): string {
  return [
    `cannot download ${url} (${detail}).`,
    `K3s ${version} is fetched from ${base}. Without internet access, serve the release from a mirror you`,
    `control (files <base>/download/<version>/k3s, k3s-arm64, k3s-armhf and sha256sum-<arch>.txt) and pass`,
    `--k3s-mirror URL on the command line, or set k3s_mirror: URL under cluster: in the inventory.`,
    `Files already present in ${dir} are used without downloading.`,
  ].join('\n');
}
