// The site pipeline: inventory → render + validate the GitOps repo (nothing touched yet) →
// roles on the hosts → publish the repo → bootstrap Argo CD on the first server.
// --check runs the same pipeline and changes nothing: one plan for the hosts and the repo.
import os from 'node:os';
import path from 'node:path';
import type { Logger, RunReport } from '../runner/types.ts';
import { loadInventory, checkConnectionFiles } from '../inventory/load.ts';
import { createTransport } from '../ssh/index.ts';
import { runSite, exitCode } from '../runner/run-site.ts';
import { formatRecap } from '../report/recap.ts';
import { writeJsonReport } from '../report/json.ts';
import { siteRoles } from '../../roles/index.ts';
import { checkInventoryVars } from '../../roles/vars-specs.ts';
import { prepareGitops, formatPublish, type PublishSummary } from './gitops-step.ts';

export interface SiteCommand {
  inventoryFile: string;
  check: boolean;
  diff: boolean;
  limit?: string[];
  tags?: string[];
  forks: number;
  json?: string;
  acceptNewHostKeys: boolean;
  verbosity: number;
  log: Logger;
  skipHosts?: boolean;
  skipPush?: boolean;
  remote?: string;
  repoUrl?: string;
  force?: boolean;
  k3sMirror?: string;
}

export const DEFAULT_KNOWN_HOSTS = path.join(os.homedir(), '.ssh', 'known_hosts');

export async function runSiteCommand(cmd: SiteCommand): Promise<number> {
  const inventory = await loadInventory(cmd.inventoryFile);
  // every role var known and of the right type, before anything is rendered or touched
  checkInventoryVars(inventory);
  for (const w of inventory.warnings ?? []) cmd.log.warn(w);
  let published: PublishSummary | undefined;
  const gitops = cmd.skipPush
    ? undefined
    : await prepareGitops({ inventory, remote: cmd.remote, repoUrl: cmd.repoUrl, force: cmd.force, log: cmd.log, onPublished: (s) => (published = s) });

  let report: RunReport | undefined;
  if (!cmd.skipHosts) {
    checkConnectionFiles(inventory);
    const shared = new Map<string, unknown>();
    if (cmd.k3sMirror) shared.set('k3s.mirror', cmd.k3sMirror);
    report = await runSite({
      inventory,
      roles: siteRoles({ bootstrap: gitops, hostedRepo: gitops?.hostedRepo }),
      options: { check: cmd.check, diff: cmd.diff, tags: cmd.tags, verbosity: cmd.verbosity, forks: cmd.forks, limit: cmd.limit },
      connect: (host) =>
        createTransport(host, {
          knownHostsFile: host.knownHostsFile ?? DEFAULT_KNOWN_HOSTS,
          acceptNewHostKeys: cmd.acceptNewHostKeys,
          log: (line) => cmd.log.debug(`[${host.name}] ${line}`),
        }),
      log: cmd.log,
      shared,
    });
  } else if (gitops) {
    // no hosts: publish (or plan) the repo on its own
    await gitops.publish(cmd.check);
  }

  if (report) cmd.log.info(formatRecap(report));
  if (published) cmd.log.info(formatPublish(published));
  if (cmd.json) {
    writeJsonReport(cmd.json, report ?? { startedAt: new Date().toISOString(), durationMs: 0, check: cmd.check, hosts: [] }, {
      inventory: inventory.file,
      gitops: published ?? null,
    });
  }
  const hostCode = report ? exitCode(report) : 0;
  if (hostCode === 2) return 2;
  const repoPending = !!published && published.check && !published.unchanged;
  return hostCode === 3 || repoPending ? 3 : 0;
}
