// Where the lab keeps things: built images in the user's cache (they survive fresh clones and CI
// runs), lab state (pids, ports, keys, disks, inventory) in a folder of the working tree.
import os from 'node:os';
import path from 'node:path';

export function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'clusterseed');
}

export function labImagesRoot(): string {
  return path.join(cacheRoot(), 'lab-images');
}

/** `.clusterseed/lab` under the current directory (git-ignored in the clusterseed repo). */
export function defaultLabDir(cwd = process.cwd()): string {
  return path.resolve(cwd, '.clusterseed', 'lab');
}

/** Files of one lab folder. */
export function labFiles(dir: string) {
  return {
    state: path.join(dir, 'lab.json'),
    inventory: path.join(dir, 'inventory.yaml'),
    key: path.join(dir, 'id_ed25519'),
    publicKey: path.join(dir, 'id_ed25519.pub'),
    knownHosts: path.join(dir, 'known_hosts'),
    vmsDir: path.join(dir, 'vms'),
    lock: path.join(dir, '.lock'),
  };
}

/** Files of one VM inside a lab folder. */
export function vmFiles(dir: string, name: string) {
  const vmDir = path.join(dir, 'vms', name);
  return {
    dir: vmDir,
    spec: path.join(vmDir, 'vm.json'),
    disk: path.join(vmDir, 'disk.qcow2'),
    configDisk: path.join(vmDir, 'config.img'),
    console: path.join(vmDir, 'console.log'),
    supervisorLog: path.join(vmDir, 'supervisor.log'),
    supervisorPid: path.join(vmDir, 'supervisor.pid'),
    qemuPid: path.join(vmDir, 'qemu.pid'),
    qmpSocket: path.join(vmDir, 'qmp.sock'),
    events: path.join(vmDir, 'events.jsonl'),
  };
}
