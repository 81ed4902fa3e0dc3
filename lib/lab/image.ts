// Base disk images for lab VMs: the cached rootfs turned into an ext4 image (mkfs.ext4 -d, no loop
// mount) plus the kernel and initramfs for direct boot. Cached beside the rootfs cache, keyed by the
// rootfs (whose key already covers packages, setup script and mirror) and the image parameters.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ensureRootfs, rootfsPath, withFileLock } from './rootfs.ts';
import { APT_PROXY_ENV, imageRecipe, type GuestArch } from './recipe.ts';
import { startAptProxy, type AptProxy } from './apt-proxy.ts';
import { labImagesRoot } from './paths.ts';
import { runOk } from '../process/index.ts';

/** Bump when the steps below change the produced image. */
const IMAGE_VERSION = 1;
export const IMAGE_SIZE = '3G';
const ROOT_LABEL = 'clusterseed-root';

export interface BaseImage {
  arch: GuestArch;
  dir: string;
  /** raw ext4 image; read-only, the backing file of every VM clone */
  disk: string;
  kernel: string;
  initrd: string;
  /** seconds the build took, when this call built it (undefined when it came from the cache) */
  builtInSeconds?: number;
}

function imageFiles(dir: string, arch: GuestArch): BaseImage {
  return { arch, dir, disk: path.join(dir, 'base.ext4'), kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.img') };
}

export async function ensureBaseImage(arch: GuestArch, log: (line: string) => void = () => {}): Promise<BaseImage> {
  const started = Date.now();
  const rootfs = await ensureLabRootfs(arch);
  const key = createHash('sha256')
    .update(JSON.stringify({ v: IMAGE_VERSION, rootfs: path.basename(rootfs), size: IMAGE_SIZE }))
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(labImagesRoot(), `${arch}-${key}`);
  const image = imageFiles(dir, arch);
  if (fs.existsSync(dir)) return image;
  fs.mkdirSync(labImagesRoot(), { recursive: true });
  return withFileLock(`${dir}.lock`, 'exclusive', async () => {
    if (fs.existsSync(dir)) return image;
    log(`building the ${arch} base image ${dir}`);
    const tmp = `${dir}.building`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
    const staged = imageFiles(tmp, arch);
    const boot = findKernel(rootfs);
    fs.copyFileSync(boot.kernel, staged.kernel);
    fs.copyFileSync(boot.initrd, staged.initrd);
    await runOk(['mkfs.ext4', '-q', '-F', '-L', ROOT_LABEL, '-d', rootfs, staged.disk, IMAGE_SIZE]);
    // clones open it as their backing file; nothing may ever write to it
    fs.chmodSync(staged.disk, 0o444);
    fs.renameSync(tmp, dir);
    return { ...image, builtInSeconds: Math.round((Date.now() - started) / 1000) };
  });
}

/** ensureRootfs with the lab recipe; while a build may run, apt in its chroot gets the mirror proxy. */
async function ensureLabRootfs(arch: GuestArch): Promise<string> {
  const recipe = imageRecipe(arch);
  const opts = { arch: recipe.debArch, packages: recipe.packages, setup: recipe.setup };
  if (fs.existsSync(rootfsPath(opts))) return rootfsPath(opts);
  await acquireProxy();
  try {
    return await ensureRootfs(opts);
  } finally {
    await releaseProxy();
  }
}

// One proxy for all builds of this process (x86_64 and arm64 build in parallel): the chroot
// inherits this process's environment at every build step, so the variable stays set while any
// build may still need it.
let proxy: { users: number; ready: Promise<AptProxy> } | undefined;

async function acquireProxy(): Promise<void> {
  if (!proxy) proxy = { users: 0, ready: startAptProxy() };
  proxy.users++;
  process.env[APT_PROXY_ENV] = (await proxy.ready).url;
}

async function releaseProxy(): Promise<void> {
  const p = proxy!;
  if (--p.users > 0) return;
  proxy = undefined;
  delete process.env[APT_PROXY_ENV];
  await (await p.ready).close();
}

/** The newest kernel installed in the rootfs and its initramfs. */
export function findKernel(rootfs: string): { kernel: string; initrd: string } {
  const bootDir = path.join(rootfs, 'boot');
  const versions = fs
    .readdirSync(bootDir)
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const version = versions.at(-1);
  if (!version) throw new Error(`no kernel (vmlinuz-*) in ${bootDir}: is linux-image installed in the rootfs?`);
  const initrd = path.join(bootDir, `initrd.img-${version}`);
  if (!fs.existsSync(initrd)) throw new Error(`kernel ${version} in ${bootDir} has no initramfs (initrd.img-${version})`);
  return { kernel: path.join(bootDir, `vmlinuz-${version}`), initrd };
}
