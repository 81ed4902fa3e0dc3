// One timed clusterseed run for the benchmark, in its own process like `ansible-playbook` is:
// the inventory in, the roles the Ansible playbook mirrors (base, harden, k3s-prereq, and
// k3s-artifacts, which prepares the K3s release on the control machine) over every host, the JSON
// report out. It does what cli/site/pipeline.ts runSiteCommand does, except that the
// role list is fixed to the compared roles: the site's later roles (K3s install, GitOps) have no
// counterpart in the playbook.
//   node --import tsx bench/clusterseed-run.ts --inventory FILE --json FILE --forks N
//        [--k3s-mirror URL] [--k3s-cache DIR]
import { parseArgs } from 'node:util';
import { loadInventory } from '../lib/inventory/load.ts';
import { createTransport } from '../lib/ssh/index.ts';
import { runSite, exitCode } from '../lib/runner/run-site.ts';
import { writeJsonReport } from '../lib/runner/json-report.ts';
import { formatRecap } from '../lib/runner/recap.ts';
import { consoleLogger } from '../lib/report/logger.ts';
import type { Role, SharedState } from '../lib/runner/types.ts';
import { hostRoles } from '../roles/index.ts';

/** The roles the playbook mirrors; k3s-artifacts works on the control machine only (no host). */
export const COMPARED = ['base', 'harden', 'k3s-artifacts', 'k3s-prereq'];

/** The compared roles as the site registers them (roles/index.ts), in site order. */
export function comparedRoles(): Role[] {
  const roles = hostRoles().filter((r) => COMPARED.includes(r.name));
  const missing = COMPARED.filter((name) => !roles.some((r) => r.name === name));
  if (missing.length) throw new Error(`clusterseed-run: roles/index.ts registers no role ${missing.join(', ')}`);
  return roles;
}

/** Where a run's wall time goes, in seconds since the process started (written into the report). */
export interface Phases {
  /** node start-up, tsx, and loading every module (static imports resolve before main runs) */
  startup: number;
  inventory: number;
  runSite: number;
  /** CPU seconds (user + system) of this process in each phase: the tool's own cost per host */
  cpu?: { startup: number; inventory: number; runSite: number };
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(argv: string[]): Promise<number> {
  const atMain = performance.now();
  const cpuAtMain = cpuSeconds();
  const { values } = parseArgs({
    args: argv,
    options: {
      inventory: { type: 'string' },
      json: { type: 'string' },
      forks: { type: 'string', default: '10' },
      'k3s-mirror': { type: 'string' },
      'k3s-cache': { type: 'string' },
    },
  });
  if (!values.inventory || !values.json) throw new Error('clusterseed-run: --inventory and --json are required');
  const log = consoleLogger({ verbosity: 0 });
  const inventory = await loadInventory(values.inventory);
  const atInventory = performance.now();
  const cpuAtInventory = cpuSeconds();
  const shared: SharedState = new Map();
  if (values['k3s-mirror']) shared.set('k3s.mirror', values['k3s-mirror']);
  if (values['k3s-cache']) shared.set('k3s.cacheDir', values['k3s-cache']);
  const report = await runSite({
    inventory,
    roles: comparedRoles(),
    options: { check: false, diff: false, verbosity: 0, forks: Number(values.forks) },
    connect: (host) => {
      if (!host.knownHostsFile) throw new Error(`host ${host.name}: the bench inventory must name a known_hosts file`);
      return createTransport(host, { knownHostsFile: host.knownHostsFile, acceptNewHostKeys: false });
    },
    log,
    shared,
  });
  const atReport = performance.now();
  const cpuAtReport = cpuSeconds();
  const phases: Phases = {
    startup: atMain / 1000,
    inventory: (atInventory - atMain) / 1000,
    runSite: (atReport - atInventory) / 1000,
    cpu: { startup: cpuAtMain, inventory: cpuAtInventory - cpuAtMain, runSite: cpuAtReport - cpuAtInventory },
  };
  log.info(formatRecap(report));
  writeJsonReport(values.json, report, { inventory: inventory.file, phases });
  return exitCode(report);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
