// Builds Debian root filesystems with debootstrap and caches them, so that test hosts (nspawn
// containers) and VM images all start from the same bare Debian system.
//
// The cache lives outside the repository (`${XDG_CACHE_HOME:-~/.cache}/clusterseed/rootfs`) and is
// keyed by a hash of the recipe, so a fresh clone reuses it and a changed recipe builds anew.
// A build goes to a temporary directory that is renamed into place only when complete, and an
// flock(1) on a per-recipe lock file keeps concurrent test runs from building the same thing twice.
// Every chroot step runs in a private mount namespace (unshare -m), so a killed build never leaves
// /proc or /sys mounted inside a half-built tree. The arm64 image is built on x86_64 through
// debootstrap --foreign and a second stage under qemu-user (binfmt_misc).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runOk, start } from '../process/index.ts';

/** Bump when the build steps below change in a way that makes cached images stale (the finalize
 * script is part of the hash already). */
const RECIPE_VERSION = 1;
const SUITE = 'bookworm';
/** Longest wait for another process building the same recipe (a cold arm64 build takes ~5 min). */
const LOCK_WAIT_SECONDS = 30 * 60;
/** Longest a single build step may take before it is killed. */
const STEP_TIMEOUT_MS = 30 * 60_000;

export type RootfsArch = 'amd64' | 'arm64';

export interface RootfsOptions {
  arch: RootfsArch;
  /** extra packages installed by debootstrap (--include) */
  packages: string[];
  variant?: 'minbase';
  /** POSIX sh script run as root inside the finished tree (chroot with /proc), after the install */
  setup?: string;
}

/** The Debian mirror this machine uses: first `URIs:` of debian.sources, else the first `deb` line. */
export function debianMirror(): string {
  const sources = '/etc/apt/sources.list.d/debian.sources';
  if (fs.existsSync(sources)) {
    for (const stanza of fs.readFileSync(sources, 'utf8').split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(\S+)/im.exec(stanza);
      if (uris) return uris[1].replace(/\/+$/, '');
    }
  }
  const list = '/etc/apt/sources.list';
  if (fs.existsSync(list)) {
    for (const line of fs.readFileSync(list, 'utf8').split('\n')) {
      const deb = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line);
      if (deb) return deb[1].replace(/\/+$/, '');
    }
  }
  throw new Error(`no Debian mirror found: neither ${sources} (URIs:) nor ${list} (deb line) names one`);
}

export function rootfsCacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'clusterseed', 'rootfs');
}

/** Where the rootfs for these options is (or would be) cached. */
export function rootfsPath(opts: RootfsOptions): string {
  const recipe = {
    version: RECIPE_VERSION,
    suite: SUITE,
    arch: opts.arch,
    variant: opts.variant ?? 'minbase',
    packages: [...new Set(opts.packages)].sort(),
    setup: opts.setup ?? '',
    finalize: FINALIZE_SCRIPT,
    // the image's apt sources point at the mirror, so a different mirror is a different image
    mirror: debianMirror(),
  };
  const hash = createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 16);
  return path.join(rootfsCacheRoot(), `${opts.arch}-${hash}`);
}

/** Returns the path of a cached rootfs for `opts`, building it first when missing. */
export async function ensureRootfs(opts: RootfsOptions): Promise<string> {
  const final = rootfsPath(opts);
  if (fs.existsSync(final)) return final;
  fs.mkdirSync(path.dirname(final), { recursive: true });
  return withFileLock(`${final}.lock`, 'exclusive', async (lockFd) => {
    // someone else may have finished the same build while we waited for the lock
    if (fs.existsSync(final)) return final;
    await build(opts, final, lockFd);
    return final;
  });
}

async function build(opts: RootfsOptions, final: string, lockFd: number): Promise<void> {
  const mirror = debianMirror();
  const tmp = `${final}.building`;
  const log = `${final}.build.log`;
  // holding the lock, any leftover temp tree is from a killed build
  await removeTree(tmp);
  fs.writeFileSync(log, '');
  process.stderr.write(`clusterseed: building Debian ${SUITE} ${opts.arch} rootfs in ${final} (log: ${log})\n`);
  const started = Date.now();
  // Every build process inherits the lock, so it stays held while any of them runs, even if
  // this process dies (the step itself then gets SIGKILL through pdeathsig; what it started ends
  // soon after). A private mount namespace drops debootstrap's /proc and /sys mounts with it.
  const step = (what: string, args: string[], env?: NodeJS.ProcessEnv) =>
    runLogged(what, ['setpriv', '--pdeathsig', 'KILL', 'unshare', '--mount', '--propagation', 'private', ...args], log, lockFd, env);
  try {
    const foreign = opts.arch !== hostDebianArch();
    const debootstrapArgs = [
      `--variant=${opts.variant ?? 'minbase'}`,
      `--arch=${opts.arch}`,
      '--components=main',
      ...(opts.packages.length ? [`--include=${[...new Set(opts.packages)].join(',')}`] : []),
      ...(foreign ? ['--foreign'] : []),
      SUITE,
      tmp,
      mirror,
    ];
    await step('debootstrap', ['debootstrap', ...debootstrapArgs]);
    const script = [FINALIZE_SCRIPT, opts.setup ?? ''].join('\n');
    const chrootEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LC_ALL: 'C' };
    const inChroot = () => step('the setup in the chroot', ['sh', '-c', CHROOT_WRAPPER, 'sh', tmp, script], chrootEnv);
    if (foreign) {
      await withForeignBinfmt(opts.arch, async () => {
        await step('debootstrap --second-stage', ['chroot', tmp, '/debootstrap/debootstrap', '--second-stage'], chrootEnv);
        await inChroot();
      });
    } else {
      await inChroot();
    }
    fs.writeFileSync(`${final}.json`, JSON.stringify({ ...opts, suite: SUITE, mirror, builtAt: new Date().toISOString() }, null, 2));
    fs.renameSync(tmp, final);
    process.stderr.write(`clusterseed: rootfs ready after ${Math.round((Date.now() - started) / 1000)} s\n`);
  } catch (err) {
    await removeTree(tmp);
    const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-25).join('\n');
    throw new Error(`building the ${opts.arch} rootfs failed: ${(err as Error).message}\n--- last lines of ${log} ---\n${tail}`);
  }
}

/** sh -c script with $1 = tree, $2 = script: runs the script in a chroot with /proc mounted. */
const CHROOT_WRAPPER = 'mount -t proc proc "$1/proc" && exec chroot "$1" /bin/sh -c "$2"';

// Runs in every image: no services started by package scripts during the setup, no apt timers
// racing tests for the dpkg lock, and no machine identity baked into an image that gets cloned
// (machine-id and SSH host keys are made per host; the unit below covers hosts booted without them).
const FINALIZE_SCRIPT = String.raw`
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
for t in apt-daily.timer apt-daily-upgrade.timer; do ln -sf /dev/null /etc/systemd/system/$t; done
rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
if [ -d /etc/ssh ]; then
  cat > /etc/systemd/system/ssh-host-keys.service <<'UNIT'
[Unit]
Description=Generate SSH host keys missing on first boot
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
  ln -sf /etc/systemd/system/ssh-host-keys.service /etc/systemd/system/multi-user.target.wants/ssh-host-keys.service
fi
: > /etc/machine-id
: > /etc/resolv.conf
[ -e /etc/hosts ] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts
rm -f /var/lib/dbus/machine-id
apt-get clean
`;

function hostDebianArch(): RootfsArch | string {
  return ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
}

const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

/**
 * Runs `fn` with the qemu-user binfmt handler of `arch` registered (fix-binary flag: the kernel
 * opens the interpreter at registration, so it works inside a chroot). Registers it when missing;
 * afterwards the last of our builds using it (shared flock) unregisters it if one of ours
 * registered it (marker file), leaving a handler someone else installed alone.
 */
async function withForeignBinfmt<T>(arch: RootfsArch, fn: () => Promise<T>): Promise<T> {
  const qemuName = ({ arm64: 'qemu-aarch64', amd64: 'qemu-x86_64' } as const)[arch];
  // binfmt_misc is machine-wide: so are its lock and marker, whatever cache directory a build uses
  const lockDir = fs.existsSync('/run/lock') ? '/run/lock' : rootfsCacheRoot();
  const lockPath = path.join(lockDir, `clusterseed-binfmt-${qemuName}.lock`);
  const ourMarker = path.join(lockDir, `clusterseed-binfmt-${qemuName}.registered`);
  const handler = path.join(BINFMT_DIR, qemuName);
  const result = await withFileLock(lockPath, 'shared', async () => {
    if (!fs.existsSync(path.join(BINFMT_DIR, 'register'))) {
      await runOk(['mount', '-t', 'binfmt_misc', 'binfmt_misc', BINFMT_DIR]);
    }
    if (!fs.existsSync(handler)) {
      fs.writeFileSync(ourMarker, '');
      await runOk(['update-binfmts', '--enable', qemuName]).catch((err: Error) => {
        throw new Error(
          `cannot register ${qemuName} with binfmt_misc (packages qemu-user-static and binfmt-support needed): ${err.message}`,
        );
      });
    }
    return fn();
  });
  // -n: if another build still holds the shared lock, it does this when it is done
  const unregister = `[ -e '${ourMarker}' ] || exit 0; [ -e '${handler}' ] && echo -1 > '${handler}'; rm -f '${ourMarker}'`;
  await runOk(['flock', '-n', '-x', lockPath, '-c', unregister]).catch(() => undefined);
  return result;
}

/**
 * Holds an flock on `lockPath` while `fn` runs and hands `fn` the locked descriptor. flock(2)
 * locks belong to the open file, so processes that inherit the descriptor keep the lock alive
 * until the last of them exits, and the kernel drops it when they all are gone (no stale locks).
 */
export async function withFileLock<T>(lockPath: string, mode: 'exclusive' | 'shared', fn: (lockFd: number) => Promise<T>): Promise<T> {
  const fd = fs.openSync(lockPath, 'a');
  try {
    await runOk(['flock', mode === 'shared' ? '-s' : '-x', '-w', String(LOCK_WAIT_SECONDS), '3'], { noStdin: true, extraFds: [fd] }).catch(
      (err: Error) => {
        throw new Error(`could not lock ${lockPath} within ${LOCK_WAIT_SECONDS} s: ${err.message}`);
      },
    );
    return await fn(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** rm -rf that never crosses into another file system (a stray mount must not be emptied). */
async function removeTree(dir: string): Promise<void> {
  if (fs.existsSync(dir)) await runOk(['rm', '-rf', '--one-file-system', dir]);
}

/** Runs a build step with output appended to the log and `lockFd` inherited as fd 3. */
async function runLogged(what: string, argv: string[], logFile: string, lockFd: number, env?: NodeJS.ProcessEnv): Promise<void> {
  const out = fs.openSync(logFile, 'a');
  fs.writeSync(out, `\n$ ${argv.map((a) => (a.length > 80 ? '<script>' : a)).join(' ')}\n`);
  let step: ReturnType<typeof start>;
  try {
    // own process group, so a timeout can stop the step with everything it started
    step = start(argv, {
      stdio: ['ignore', out, out, lockFd],
      env: { ...process.env, ...env },
      detached: true,
      timeoutMs: STEP_TIMEOUT_MS,
    });
  } finally {
    fs.closeSync(out);
  }
  const r = await step.done.catch((err: Error) => {
    throw new Error(`${what}: ${err.message}`);
  });
  if (r.code === 0) return;
  throw new Error(`${what} failed (${r.timedOut ? `killed after ${STEP_TIMEOUT_MS / 60_000} min` : `exit ${r.signal ?? r.code}`})`);
}
