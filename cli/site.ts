// scripts/site.mjs: flags in, the site pipeline, exit code out.
//   0 all went well · 1 bad input (inventory, flags) · 2 a host failed or was unreachable
//   3 with --check: changes are pending (drift)
import path from 'node:path';
import { parseFlags, verbosity, nameList, UsageError } from './args.ts';
import { consoleLogger } from '../lib/report/logger.ts';
import { runSiteCommand } from './site/pipeline.ts';
import { formatUserError } from './errors.ts';
import { normalizeBaseUrl } from '../lib/k3s/release.ts';

export const USAGE = `Usage: npx zx scripts/site.mjs [options]

  -i, --inventory FILE        inventory file (default ./inventory.yaml)
      --check                 change nothing; report what would change (exit 3 when changes are pending)
      --diff                  show unified diffs of file changes (secrets masked)
      --limit HOSTS           comma-separated host and group names
      --tags TAGS             run only tasks with these tags (role names are tags too)
      --forks N               hosts in parallel (default 10)
      --json FILE             write a machine-readable report
      --accept-new-host-keys  trust and record unknown SSH host keys (changed keys are always refused)
      --skip-hosts            do not connect to hosts: render, validate and publish the repo only
      --skip-push             do not publish the repo nor bootstrap Argo CD: hosts only
      --remote URL            publish to this git remote instead of the inventory's gitops.repo
      --repo-url URL          the URL Argo CD clones the repo from, when it differs from the push URL
      --force                 overwrite files of the repo that someone else changed
      --k3s-mirror URL        download K3s from this mirror (air-gapped installs; overrides cluster.k3s_mirror)
      --lab                   bring up the local VM lab (scripts/lab.mjs up) if needed and converge it
  -v, -vv                     more output (-vv shows the commands run)
  -h, --help                  this text

Exit codes: 0 ok, 1 bad input, 2 a host failed or was unreachable, 3 (--check) changes pending.`;

export async function main(argv: string[]): Promise<number> {
  const { level, rest } = verbosity(argv);
  const log = consoleLogger({ verbosity: level });
  try {
    const { values } = parseFlags(rest, {
      inventory: { type: 'string', short: 'i', default: 'inventory.yaml' },
      check: { type: 'boolean', default: false },
      diff: { type: 'boolean', default: false },
      limit: { type: 'string' },
      tags: { type: 'string' },
      forks: { type: 'string', default: '10' },
      json: { type: 'string' },
      'accept-new-host-keys': { type: 'boolean', default: false },
      'skip-hosts': { type: 'boolean', default: false },
      'skip-push': { type: 'boolean', default: false },
      remote: { type: 'string' },
      'repo-url': { type: 'string' },
      force: { type: 'boolean', default: false },
      'k3s-mirror': { type: 'string' },
      lab: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const forks = Number(values.forks);
    if (!Number.isInteger(forks) || forks < 1) throw new UsageError(`--forks must be a positive integer (got ${values.forks})`);
    let k3sMirror: string | undefined;
    if (values['k3s-mirror'] !== undefined) {
      try {
        k3sMirror = normalizeBaseUrl(values['k3s-mirror']);
      } catch (err) {
        throw new UsageError(`--k3s-mirror: ${(err as Error).message}`);
      }
    }
    let inventoryFile = path.resolve(values.inventory!);
    if (values.lab) {
      // the no-hardware quick start: VMs first (cached images; a running lab is reused)
      const { labUp } = await import('../lib/lab/index.ts');
      log.info('lab: bringing up the local VM lab (first time: builds the images, several minutes)');
      const lab = await labUp({ log: (line) => log.info(`lab: ${line}`) });
      inventoryFile = lab.inventoryFile;
      log.info(`lab: ${lab.hosts.map((h) => `${h.name} (${h.arch}, ssh 127.0.0.1:${h.port})`).join(', ')}; inventory ${inventoryFile}`);
    }
    return await runSiteCommand({
      inventoryFile,
      check: values.check!,
      diff: values.diff!,
      limit: nameList('--limit', values.limit),
      tags: nameList('--tags', values.tags),
      forks,
      json: values.json ? path.resolve(values.json) : undefined,
      acceptNewHostKeys: values['accept-new-host-keys']!,
      skipHosts: values['skip-hosts'],
      skipPush: values['skip-push'],
      remote: values.remote,
      repoUrl: values['repo-url'],
      force: values.force,
      k3sMirror,
      verbosity: level,
      log,
    });
  } catch (err) {
    const text = formatUserError(err);
    if (text) {
      console.error(text);
      if (err instanceof UsageError) console.error(`\n${USAGE}`);
      return 1;
    }
    throw err;
  }
}
