// Fresh test hosts for one benchmark run: a lab from the test harness (nspawn containers with real
// systemd and sshd), made ready for BOTH tools before anything is timed. Ansible needs python3 on
// its targets and the harness image has none, so every host gets it here, for both tools alike:
// the hosts a tool starts from are then identical, and the package lists apt fetched for it are as
// fresh for one tool as for the other.
import { readFileSync, writeFileSync } from 'node:fs';
import { startLab, type TestLab } from '../test/harness/hosts.ts';

export interface BenchLab {
  lab: TestLab;
  /** inventory.yaml for clusterseed: h1 server, the others agents (every host is a K3s node) */
  inventory: string;
  /** seconds the lab took to start and to get python3, for the log only */
  startSeconds: number;
  setupSeconds: number;
}

/** The untimed setup: python3 for Ansible. apt runs through the lab's mirror relay. */
export const PYTHON_SETUP =
  'export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends python3 >/dev/null';

/** apt on many hosts at once saturates 2 cores and the relay: this many at a time. */
const SETUP_PARALLEL = 6;
const SETUP_TIMEOUT_MS = 300_000;

const INOTIFY_INSTANCES = '/proc/sys/fs/inotify/max_user_instances';

/**
 * Every container's systemd, journald, logind and login sessions hold inotify instances (≈ 8 per
 * idle host, more with logins), all counted against root's fs.inotify.max_user_instances, which
 * is 128 on Debian: beyond ≈ 12 hosts systemd inside fails with "Too many open files" and the
 * harness reports that nspawn exited at start. Raised (never lowered) for the lab's size.
 */
export function ensureInotifyInstances(hosts: number, log: (line: string) => void): void {
  const want = Math.max(1024, 32 * hosts + 256);
  const have = Number(readFileSync(INOTIFY_INSTANCES, 'utf8').trim());
  if (have >= want) return;
  writeFileSync(INOTIFY_INSTANCES, `${want}\n`);
  log(`raised fs.inotify.max_user_instances from ${have} to ${want} for ${hosts} systemd containers`);
}

export async function startBenchLab(
  count: number,
  prefix: string,
  log: (line: string) => void = () => undefined,
  opts: { pythonSetup?: boolean } = {},
): Promise<BenchLab> {
  ensureInotifyInstances(count, log);
  const t0 = Date.now();
  const lab = await startLab({ count, prefix });
  const t1 = Date.now();
  try {
    const queue = [...lab.hosts];
    const worker = async () => {
      for (let host = queue.shift(); host; host = queue.shift()) {
        const r = await lab.sh(host.name, PYTHON_SETUP, { timeoutMs: SETUP_TIMEOUT_MS });
        if (r.code !== 0)
          throw new Error(`bench setup: python3 on ${host.name} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-400)}`);
      }
    };
    // without Ansible (bench --without-ansible) no lab of the run gets it: the hosts stay alike
    if (opts.pythonSetup ?? true) await Promise.all(Array.from({ length: Math.min(SETUP_PARALLEL, count) }, worker));
    const [server, ...agents] = lab.hosts.map((h) => h.name);
    const inventory = lab.writeInventory({ servers: [server], agents });
    return { lab, inventory, startSeconds: (t1 - t0) / 1000, setupSeconds: (Date.now() - t1) / 1000 };
  } catch (err) {
    await lab.stop();
    throw err;
  }
}
