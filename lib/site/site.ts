// The site pipeline: inventory → roles on the hosts → (later: render, validate, push, bootstrap).
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../runner/types.ts';
import { loadInventory } from '../inventory/load.ts';
import { createTransport } from '../ssh/index.ts';
import { runSite, exitCode } from '../runner/run-site.ts';
import { formatRecap } from '../report/recap.ts';
import { writeJsonReport } from '../report/json.ts';
import { siteRoles } from '../../roles/index.ts';

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
}

export const DEFAULT_KNOWN_HOSTS = path.join(os.homedir(), '.ssh', 'known_hosts');

export async function runSiteCommand(cmd: SiteCommand): Promise<number> {
  const inventory = await loadInventory(cmd.inventoryFile);
  const report = await runSite({
    inventory,
    roles: siteRoles(),
    options: { check: cmd.check, diff: cmd.diff, tags: cmd.tags, verbosity: cmd.verbosity, forks: cmd.forks, limit: cmd.limit },
    connect: (host) =>
      createTransport(host, {
        knownHostsFile: host.knownHostsFile ?? DEFAULT_KNOWN_HOSTS,
        acceptNewHostKeys: cmd.acceptNewHostKeys,
        log: (line) => cmd.log.debug(`[${host.name}] ${line}`),
      }),
    log: cmd.log,
  });
  cmd.log.info(formatRecap(report));
  if (cmd.json) writeJsonReport(cmd.json, report, { inventory: inventory.file });
  return exitCode(report);
}
