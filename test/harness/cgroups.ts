// A cgroup of its own for every container. With --keep-unit and --register=no, systemd-nspawn
// puts the container below the cgroup it was started in; here that is the root cgroup for every
// caller, so without this all containers (of every lab on the machine) would share one
// /payload/system.slice tree, and stopping ssh.service in one host would kill sshd in the others.
// We create <hierarchy>/clusterseed-test-hosts/<machine> in the hierarchies systemd tracks
// services with (cgroup2, and the v1 name=systemd one on hybrid hosts) and start nspawn inside.
import fs from 'node:fs';
import path from 'node:path';

const PARENT = 'clusterseed-test-hosts';

/** Mount points of the hierarchies systemd uses to track processes. */
function trackingHierarchies(): string[] {
  const mounts: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [before, after] = line.split(' - ');
    if (!after) continue;
    const mountPoint = before.split(' ')[4];
    const [fsType, , superOptions = ''] = after.split(' ');
    if (fsType === 'cgroup2' || (fsType === 'cgroup' && superOptions.split(',').includes('name=systemd'))) mounts.push(mountPoint);
  }
  return mounts;
}

export function containerCgroups(machine: string): string[] {
  return trackingHierarchies().map((mount) => path.join(mount, PARENT, machine));
}

export function createCgroups(dirs: string[]): void {
  for (const dir of dirs) fs.mkdirSync(dir, { recursive: true });
}

/** Removes the cgroups below `dir` (deepest first), and `dir` too unless keepTop; best effort. */
export function removeCgroupTree(dir: string, keepTop = false): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) if (entry.isDirectory()) removeCgroupTree(path.join(dir, entry.name));
  if (keepTop) return;
  try {
    fs.rmdirSync(dir);
  } catch {
    // still has processes (or already gone): teardown kills them first, stale cleanup retries
  }
}

/**
 * `sh -c` script that moves itself into the cgroups given as arguments ($1 = how many, then the
 * directories), then execs the rest of its arguments: nspawn starts inside them from its first
 * instruction.
 */
export const ENTER_CGROUPS_AND_EXEC =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; n=$((n - 1)); done; exec "$@"';
