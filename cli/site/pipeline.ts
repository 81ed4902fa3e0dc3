// The site pipeline: inventory → render + validate the GitOps repo (nothing touched yet) →
// roles on the hosts → publish the repo → bootstrap Argo CD on the first server.
// --check runs the same pipeline and changes nothing: one plan for the hosts and the repo.
import os from 'node:os';
import path from 'node:path';
import type { Logger, RunReport } from '../../lib/runner/types.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { runSite, exitCode } from '../../lib/runner/run-site.ts';
import { formatRecap } from '../../lib/runner/recap.ts';
import { writeJsonReport } from '../../lib/runner/json-report.ts';
import { siteRoles } from '../../roles/index.ts';
import { baseDefaults } from '../../roles/base/index.ts';
import { checkAdminKeysKeepLogin } from '../../roles/base/login-keys.ts';
import type { BootstrapSource } from '../../roles/argocd-bootstrap/index.ts';
import { preflight } from '../preflight.ts';
import { prepareGitops, formatPublish, type PublishSummary } from './gitops-step.ts';
import { acquireStateLock } from '../../lib/locks/state-lock.ts';
import { INTERRUPT_EXIT_CODE, watchInterrupts } from '../../lib/runner/interrupt.ts';

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
  /** what the run locks name as the command (default: built from the options) */
  command?: string;
}

/** The command line the locks show (flags that select what runs; nothing secret). */
function describeCommand(cmd: SiteCommand): string {
  const parts = ['site.mjs', '-i', cmd.inventoryFile];
  if (cmd.check) parts.push('--check');
  if (cmd.limit?.length) parts.push('--limit', cmd.limit.join(','));
  if (cmd.tags?.length) parts.push('--tags', cmd.tags.join(','));
  if (cmd.skipHosts) parts.push('--skip-hosts');
  if (cmd.skipPush) parts.push('--skip-push');
  return parts.join(' ');
}

export const DEFAULT_KNOWN_HOSTS = path.join(os.homedir(), '.ssh', 'known_hosts');

/** Stands for the rendered repo in the preflight's role list: only the role's name is read there (--tags). */
const PREFLIGHT_BOOTSTRAP = {} as BootstrapSource;

export async function runSiteCommand(cmd: SiteCommand): Promise<number> {
  // bad input (inventory, role vars of every host, --limit/--tags names, --json path, key and
  // known_hosts files) is refused here, before anything is rendered, written or contacted
  const { inventory } = await preflight({
    inventoryFile: cmd.inventoryFile,
    roles: siteRoles({ bootstrap: cmd.skipPush ? undefined : PREFLIGHT_BOOTSTRAP }),
    limit: cmd.limit,
    tags: cmd.tags,
    json: cmd.json,
    connect: !cmd.skipHosts,
    acceptNewHostKeys: cmd.acceptNewHostKeys,
    defaultKnownHosts: DEFAULT_KNOWN_HOSTS,
    writesState: true,
  });
  // admin_keys_exclusive without a key this machine holds would lock the run out: refused here (exit 1)
  if (!cmd.skipHosts) await checkAdminKeysKeepLogin(inventory, baseDefaults);
  for (const w of inventory.warnings ?? []) cmd.log.warn(w);
  // one run at a time per state dir; --check takes it too: it reads (and on a first run creates)
  // the keys, tokens and sealed-secret cache a converging run writes
  const lock = acquireStateLock(path.join(inventory.dir, '.clusterseed'), {
    command: cmd.command ?? describeCommand(cmd),
    warn: (m) => cmd.log.warn(m),
  });
  const interrupts = watchInterrupts(cmd.log);
  try {
    return await runLocked(cmd, inventory, lock.holder, interrupts);
  } finally {
    interrupts.dispose();
    lock.release();
  }
}

async function runLocked(
  cmd: SiteCommand,
  inventory: Inventory,
  owner: { pid: number; host: string; command: string; startedAt: string },
  interrupts: ReturnType<typeof watchInterrupts>,
): Promise<number> {
  let published: PublishSummary | undefined;
  const gitops = cmd.skipPush
    ? undefined
    : await prepareGitops({
        inventory,
        check: cmd.check,
        remote: cmd.remote,
        repoUrl: cmd.repoUrl,
        force: cmd.force,
        log: cmd.log,
        onPublished: (s) => (published = s),
      });

  let report: RunReport | undefined;
  if (!cmd.skipHosts) {
    const shared = new Map<string, unknown>();
    if (cmd.k3sMirror) shared.set('k3s.mirror', cmd.k3sMirror);
    report = await runSite({
      inventory,
      roles: siteRoles({ bootstrap: gitops, hostedRepo: gitops?.hostedRepo }),
      options: {
        check: cmd.check,
        diff: cmd.diff,
        tags: cmd.tags,
        verbosity: cmd.verbosity,
        forks: cmd.forks,
        limit: cmd.limit,
        hostLock: { pid: owner.pid, host: owner.host, command: owner.command, startedAt: owner.startedAt },
      },
      connect: (host) =>
        createTransport(host, {
          knownHostsFile: host.knownHostsFile ?? DEFAULT_KNOWN_HOSTS,
          acceptNewHostKeys: cmd.acceptNewHostKeys,
          log: (line) => cmd.log.debug(`[${host.name}] ${line}`),
        }),
      log: cmd.log,
      shared,
      interrupt: interrupts,
    });
  } else if (gitops && !interrupts.stop.aborted) {
    // no hosts: publish (or plan) the repo on its own
    await gitops.publish(cmd.check);
  }

  if (report) cmd.log.info(formatRecap(report));
  if (published) cmd.log.info(formatPublish(published));
  // built clusters register during the host run (roles/cluster-registration): without it they stay out
  if (cmd.skipHosts && published?.unregistered?.length) {
    cmd.log.warn(`clusters not registered with Argo CD: ${published.unregistered.join(', ')}; run without --skip-hosts to register them`);
  }
  const interrupted = interrupts.reason();
  if (cmd.json) {
    writeJsonReport(cmd.json, report ?? { startedAt: new Date().toISOString(), durationMs: 0, check: cmd.check, hosts: [] }, {
      inventory: inventory.file,
      gitops: published ?? null,
      ...(interrupted && !report ? { interrupted } : {}),
    });
  }
  if (interrupted) {
    if (!report) cmd.log.warn(`INTERRUPTED (${interrupted}) before any host was contacted`);
    return INTERRUPT_EXIT_CODE;
  }
  const hostCode = report ? exitCode(report) : 0;
  if (hostCode === 2) return 2;
  // an adopted cluster that could not be registered: Argo CD cannot deploy there, the run is not done
  if (published?.registrationFailed?.length) return 2;
  const repoPending = !!published && published.check && !published.unchanged;
  return hostCode === 3 || repoPending ? 3 : 0;
}
