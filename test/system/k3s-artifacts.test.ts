// The K3s release on the control machine: arch → file names, URLs, checksum files, download once
// per architecture into a cache keyed by the base URL, sha256 on every use, clear errors.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { airgapImagesFile, checksumFile, normalizeBaseUrl, parseChecksums, releaseArch, releaseFileUrl } from '../../lib/k3s/release.ts';
import { ArtifactError, cacheDirFor, prepareK3sArtifacts } from '../../lib/k3s/artifacts.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';

const V = 'v1.31.4+k3s1';
let mirror: K3sMirror;
let cache: string;

test.before(async () => {
  mirror = await startK3sMirror({ versions: [V], arches: ['amd64', 'arm64'], airgapImages: true });
});
test.after(async () => {
  await mirror?.close();
});
test.before.each(() => {
  cache = mkdtempSync(path.join(os.tmpdir(), 'clusterseed-k3s-cache-'));
});
test.after.each(() => {
  rmSync(cache, { recursive: true, force: true });
});

test("uname -m maps to the installer's file names", () => {
  assert.equal(releaseArch('x86_64'), { machine: 'x86_64', arch: 'amd64', binary: 'k3s' });
  assert.equal(releaseArch('aarch64'), { machine: 'aarch64', arch: 'arm64', binary: 'k3s-arm64' });
  assert.equal(releaseArch('armv7l'), { machine: 'armv7l', arch: 'arm', binary: 'k3s-armhf' });
  assert.is(checksumFile('arm'), 'sha256sum-arm.txt');
  assert.is(airgapImagesFile('arm64'), 'k3s-airgap-images-arm64.tar.zst');
  assert.throws(() => releaseArch('riscv64'), /no release for the architecture "riscv64"/);
});

test('release URLs: <base>/download/<version>/<file>, + encoded, base checked', () => {
  assert.is(
    releaseFileUrl('https://github.com/k3s-io/k3s/releases/', 'v1.31.4+k3s1', 'k3s-arm64'),
    'https://github.com/k3s-io/k3s/releases/download/v1.31.4%2Bk3s1/k3s-arm64',
  );
  assert.throws(() => normalizeBaseUrl('ftp://mirror/k3s'), /must be an http/);
  assert.throws(() => normalizeBaseUrl('not a url'), /is not a URL/);
});

test('checksum files: both sha256sum formats; a malformed hash is an error', () => {
  const h = 'a'.repeat(64);
  const sums = parseChecksums(`${h}  k3s\n${'B'.repeat(64)} *k3s-airgap-images-amd64.tar.zst\n\n# comment\n`);
  assert.is(sums.get('k3s'), h);
  assert.is(sums.get('k3s-airgap-images-amd64.tar.zst'), 'b'.repeat(64));
  assert.throws(() => parseChecksums('abc  k3s\n'), /malformed sha256/);
});

test('each architecture is downloaded once, verified, cached; the cache needs no network', async () => {
  const arches = ['x86_64', 'aarch64', 'x86_64'].map(releaseArch);
  const start = mirror.requests.length;
  const got = await prepareK3sArtifacts({ baseUrl: mirror.url, version: V, arches, airgapImages: true, cacheRoot: cache });
  const requested = mirror.requests.slice(start).map((r) => r.split('/').pop());
  assert.equal(requested.sort(), [
    'k3s',
    'k3s-airgap-images-amd64.tar.zst',
    'k3s-airgap-images-arm64.tar.zst',
    'k3s-arm64',
    'sha256sum-amd64.txt',
    'sha256sum-arm64.txt',
  ]);
  assert.ok(
    mirror.requests.slice(start).every((r) => r.includes('/download/v1.31.4%2Bk3s1/')),
    'the version is URL-encoded',
  );
  const arm = got.get('arm64')!;
  assert.is(arm.binary.name, 'k3s-arm64');
  // the stand-in for arm64 is a real aarch64 ELF (e_machine 183)
  assert.is(readFileSync(arm.binary.path).readUInt16LE(18), 183);
  assert.is(readFileSync(got.get('amd64')!.binary.path).readUInt16LE(18), 62);
  assert.ok(arm.images?.path.endsWith('k3s-airgap-images-arm64.tar.zst'));

  const again = mirror.requests.length;
  const cached = await prepareK3sArtifacts({ baseUrl: mirror.url, version: V, arches, airgapImages: true, cacheRoot: cache });
  assert.is(mirror.requests.length, again, 'served from the cache');
  assert.is(cached.get('amd64')!.binary.sha256, got.get('amd64')!.binary.sha256);
});

test('the cache is keyed by the base URL', async () => {
  const other = mirror.url.replace('127.0.0.1', 'localhost');
  assert.is.not(cacheDirFor(cache, mirror.url, V), cacheDirFor(cache, other, V));
  await prepareK3sArtifacts({ baseUrl: mirror.url, version: V, arches: [releaseArch('x86_64')], cacheRoot: cache });
  const before = mirror.requests.length;
  await prepareK3sArtifacts({ baseUrl: other, version: V, arches: [releaseArch('x86_64')], cacheRoot: cache });
  assert.is(mirror.requests.length - before, 2, 'another base URL downloads its own copy');
  assert.is(readdirSync(cache).length, 2);
});

test('a cached file that no longer matches its checksum is downloaded again', async () => {
  const first = await prepareK3sArtifacts({ baseUrl: mirror.url, version: V, arches: [releaseArch('x86_64')], cacheRoot: cache });
  const file = first.get('amd64')!.binary.path;
  writeFileSync(file, 'tampered');
  const before = mirror.requests.length;
  const again = await prepareK3sArtifacts({ baseUrl: mirror.url, version: V, arches: [releaseArch('x86_64')], cacheRoot: cache });
  assert.is(mirror.requests.length - before, 1);
  assert.is(again.get('amd64')!.binary.sha256, first.get('amd64')!.binary.sha256);
});

test('a wrong checksum is an error and leaves nothing in the cache', async () => {
  const bad = await startK3sMirror({ versions: [V] });
  try {
    bad.corrupt(V, 'k3s');
    const err = await prepareK3sArtifacts({ baseUrl: bad.url, version: V, arches: [releaseArch('x86_64')], cacheRoot: cache }).catch(
      (e) => e,
    );
    assert.instance(err, ArtifactError);
    assert.match(err.message, /checksum mismatch for http:\/\/127\.0\.0\.1:\d+\/k3s-io\/k3s\/releases\/download\/v1\.31\.4%2Bk3s1\/k3s/);
    const dir = cacheDirFor(cache, bad.url, V);
    assert.equal(readdirSync(dir), ['sha256sum-amd64.txt'], 'no binary and no partial file cached');
  } finally {
    await bad.close();
  }
});

test('an unreachable release names --k3s-mirror and the inventory key', async () => {
  const err = await prepareK3sArtifacts({
    baseUrl: 'http://127.0.0.1:9/k3s',
    version: V,
    arches: [releaseArch('x86_64')],
    cacheRoot: cache,
  }).catch((e) => e);
  assert.instance(err, ArtifactError);
  assert.match(err.message, /cannot download http:\/\/127\.0\.0\.1:9\/k3s\/download\/v1\.31\.4%2Bk3s1\/sha256sum-amd64\.txt/);
  assert.match(err.message, /--k3s-mirror URL/);
  assert.match(err.message, /k3s_mirror: URL under cluster:/);
});

test("a checksum file without the binary's entry is an error", async () => {
  const dir = cacheDirFor(cache, mirror.url, V);
  await prepareK3sArtifacts({ baseUrl: mirror.url, version: V, arches: [releaseArch('x86_64')], cacheRoot: cache });
  writeFileSync(path.join(dir, 'sha256sum-amd64.txt'), `${'c'.repeat(64)}  something-else\n`);
  const err = await prepareK3sArtifacts({ baseUrl: mirror.url, version: V, arches: [releaseArch('x86_64')], cacheRoot: cache }).catch(
    (e) => e,
  );
  assert.match(err.message, /sha256sum-amd64\.txt of K3s v1\.31\.4\+k3s1 .* has no checksum for k3s/);
});

test.run();
