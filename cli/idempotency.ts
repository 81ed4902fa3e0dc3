// scripts/idempotency.mjs -i INVENTORY [site flags]: converge twice and fail unless the second run
// changed nothing on any host (and made no commit). Works against any inventory: the VM lab,
// Vagrant, Multipass or real hosts. Exit 0 idempotent, 1 bad input, 2 a run failed, 4 not idempotent.
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main as siteMain } from './site.ts';
import { acquireStateLock, stateDirOf } from '../lib/locks/state-lock.ts';
import { formatUserError } from './errors.ts';

export const USAGE = `Usage: npx zx scripts/idempotency.mjs -i INVENTORY [any site.mjs flag except --check and --json]

Runs the site twice; exits 4 and lists the tasks that changed if the second run changed anything.`;

interface Report {
  hosts: Array<{
    host: string;
    counts: { changed: number };
    tasks: Array<{ role: string; task: string; outcome: string; summary?: string }>;
  }>;
  gitops: { unchanged: boolean; commit?: string } | null;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  if (argv.includes('--check') || argv.some((a) => a === '--json' || a.startsWith('--json='))) {
    console.error(`error: idempotency.mjs runs the site itself; drop --check/--json\n\n${USAGE}`);
    return 1;
  }
  // both runs under one lock: no other run may change the hosts between them (each site run
  // takes the same lock again, shared within this process)
  const stateDir = stateDirOf(inventoryArg(argv));
  // a state dir only the lock created goes again when the first run refuses bad input: nothing may
  // be left next to the inventory then (README: bad input changes nothing)
  const stateDirExisted = existsSync(stateDir);
  let lock;
  let refused = false;
  try {
    lock = acquireStateLock(stateDir, { command: ['idempotency.mjs', ...argv].join(' '), warn: (m) => console.log(`WARNING: ${m}`) });
  } catch (err) {
    const text = formatUserError(err);
    if (!text) throw err;
    console.error(text);
    return 1;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-idempotency-'));
  try {
    const runs: Report[] = [];
    for (const n of [1, 2]) {
      console.log(`\n=== run ${n} of 2 ===`);
      const json = path.join(dir, `run${n}.json`);
      const code = await siteMain([...argv, '--json', json]);
      if (code !== 0) {
        console.error(`run ${n} failed with exit code ${code}`);
        refused = code === 1 && n === 1;
        return code === 1 ? 1 : 2;
      }
      runs.push(JSON.parse(readFileSync(json, 'utf8')));
    }
    const second = runs[1];
    const changed = second.hosts.flatMap((h) => h.tasks.filter((t) => t.outcome === 'changed').map((t) => ({ host: h.host, ...t })));
    const repoChanged = second.gitops !== null && !second.gitops.unchanged;
    if (changed.length === 0 && !repoChanged) {
      console.log(
        `\nIDEMPOTENT: the second run changed nothing on ${second.hosts.length} host(s)${second.gitops ? ' and made no commit' : ''}.`,
      );
      return 0;
    }
    console.error('\nNOT IDEMPOTENT: the second run changed:');
    for (const t of changed) console.error(`  ${t.host}: [${t.role}] ${t.task}${t.summary ? `: ${t.summary}` : ''}`);
    if (repoChanged) console.error(`  gitops: a new commit ${second.gitops!.commit ?? ''}`);
    return 4;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    lock.release();
    if (refused && !stateDirExisted) {
      try {
        rmdirSync(stateDir); // only if empty: never remove state a run wrote
      } catch {
        // not empty: kept
      }
    }
  }
}

/** the -i/--inventory value as site.mjs reads it (default ./inventory.yaml) */
function inventoryArg(argv: string[]): string {
  let file = 'inventory.yaml';
  argv.forEach((a, i) => {
    if ((a === '-i' || a === '--inventory') && argv[i + 1]) file = argv[i + 1];
    else if (a.startsWith('--inventory=')) file = a.slice('--inventory='.length);
  });
  return path.resolve(file);
}
