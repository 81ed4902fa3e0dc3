// The GitOps half of a site run: render + validate + scan (before any host is touched), then the
// publish that the argocd-bootstrap role triggers, or its plan in --check.
import path from 'node:path';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { Logger } from '../../lib/runner/types.ts';
import { bootstrapPlan, ARGOCD_CHART, ARGOCD_NAMESPACE } from '../../lib/gitops/index.ts';
import { renderAndAnalyze } from '../../lib/gitops/bringup/pipeline.ts';
import { BringupError, formatFindings as formatBringupFindings } from '../../lib/gitops/bringup/index.ts';
import { scanFiles } from '../gitops.ts';
import { formatFindings } from '../../lib/gitops/secret-scan.ts';
import { loadOrCreateSealingKeys, sealingKeySecretManifest } from '../../lib/gitops/sealing-keys.ts';
import { publish, planPublish, type PublishOptions } from '../../lib/publish/index.ts';
import { registerSecret } from '../../lib/report/mask.ts';
import { existsSync } from 'node:fs';
import { checkRepoCredentialFiles } from '../../lib/publish/repo-credential-files.ts';
import { repoHostKeys } from '../../lib/publish/repo-host-keys.ts';
import { credentialSource, loadRepoCredential, pushAuth, type CredentialTarget } from '../../lib/publish/credentials.ts';
import { deployKeyPath } from '../../lib/publish/deploy-key.ts';
import { credentialSecrets } from '../../lib/publish/repo-credential.ts';
import os from 'node:os';
import { bootstrapOfRender, type BootstrapSource } from '../../roles/argocd-bootstrap/index.ts';
import type { GitopsRepoSource } from '../../roles/gitops-repo/index.ts';
import {
  hostedRepoOf,
  hostedRepoUrl,
  inventoryEndpoint,
  knownHostsLines,
  type HostedRepo,
  type SshEndpoint,
} from '../../lib/gitops/hosted-repo.ts';
import type { HostContext } from '../../lib/runner/types.ts';
import type { HostSpec } from '../../lib/inventory/model.ts';
import { readKnownHosts, entryMatches } from '../../lib/ssh/known-hosts.ts';
import { loadOrCreateReadKey } from '../../lib/publish/read-key.ts';
import { restoreMirror, syncHostRepo } from '../../lib/publish/host-repo.ts';
import { accessSnapshot, changedAccess, registerAdoptedClusters } from './registrations.ts';
import { UserError } from '../../lib/report/user-error.ts';

export interface GitopsStepOptions {
  inventory: Inventory;
  /** --check: adopted clusters are only read (their registration is planned, not made) */
  check?: boolean;
  /** --remote: push here instead of the inventory's gitops.repo */
  remote?: string;
  /** --repo-url: the URL Argo CD clones from, when it differs from where we push */
  repoUrl?: string;
  force?: boolean;
  log: Logger;
  /** the outcome of the publish step, for the recap and the exit code */
  onPublished?: (summary: PublishSummary) => void;
}

export interface PublishSummary {
  target: string;
  check: boolean;
  /** pending or made changes */
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: boolean;
  commit?: string;
  foreignChanges: string[];
  /** the repository on the cluster (roles/gitops-repo), brought to the local mirror's head */
  hosted?: { where: string; changed: boolean; head?: string; skipped?: string };
  /** clusters whose access to Argo CD was recorded anew in this run (registered, or a rotated token) */
  registered?: string[];
  /** clusters the published repository has no cluster Secret for yet (never registered, or stale) */
  unregistered?: string[];
  /** adopted clusters whose registration failed in this run (the run exits 2) */
  registrationFailed?: string[];
}

export class RepoNotSafeError extends UserError {}

export function publishTarget(inventory: Inventory, remote?: string): Omit<PublishOptions, 'files' | 'workDir'> {
  if (remote) return { remote, branch: inventory.gitops.branch };
  const r = inventory.gitops.repo;
  if (r.kind === 'github') {
    // CLUSTERSEED_GITHUB_API: a GitHub Enterprise (or test) API base URL
    const baseUrl = process.env.CLUSTERSEED_GITHUB_API;
    return {
      github: { owner: r.owner, repo: r.name, private: r.private, org: r.org, ...(baseUrl ? { baseUrl } : {}) },
      branch: inventory.gitops.branch,
    };
  }
  if (r.kind === 'remote') return { remote: r.url, branch: inventory.gitops.branch };
  const defaultLocal = path.join(inventory.dir, '.clusterseed', 'gitops.git');
  return path.resolve(r.path) === defaultLocal ? { branch: inventory.gitops.branch } : { remote: r.path, branch: inventory.gitops.branch };
}

/** Which repository the credential is for: the --remote, or the inventory's gitops.repo. */
export function credentialTarget(inventory: Inventory, remote?: string): CredentialTarget {
  const r = inventory.gitops.repo;
  const auth = r.kind === 'remote' ? r.auth : undefined;
  if (remote) return { url: remote, auth };
  if (r.kind === 'github') return { github: true };
  if (r.kind === 'remote') return { url: r.url, auth };
  return publishTarget(inventory).remote ? { url: r.path } : {};
}

/** The URL Argo CD reads when it is not the hosted repository: --repo-url, --remote, or gitops.repo.url. */
export function argocdReadsUrl(inventory: Inventory, opts: Pick<GitopsStepOptions, 'remote' | 'repoUrl'>): string | undefined {
  const r = inventory.gitops.repo;
  return opts.repoUrl ?? opts.remote ?? (r.kind === 'remote' ? r.url : undefined);
}

/** The host keys clusterseed checked for `host` (its known_hosts), as Argo CD's lines for `at`; undefined when none is known yet. */
export function pinnedHostKeys(host: HostSpec, at: SshEndpoint): string | undefined {
  // the same default as the site's transport (cli/site/pipeline.ts DEFAULT_KNOWN_HOSTS)
  const file = host.knownHostsFile ?? path.join(os.homedir(), '.ssh', 'known_hosts');
  const keys = readKnownHosts(file)
    .filter((e) => !e.marker && entryMatches(e, host.address, host.port))
    .map((e) => ({ type: e.keyType, key: e.key.toString('base64') }));
  return keys.length ? knownHostsLines(at, keys) : undefined;
}

export type GitopsSource = BootstrapSource & {
  fileCount: number;
  /** set when the repository is hosted on the first server (roles/gitops-repo) */
  hostedRepo?: GitopsRepoSource;
};

/** Renders, validates and scans the repo; returns the bootstrap source for the argocd-bootstrap role. */
export async function prepareGitops(opts: GitopsStepOptions): Promise<GitopsSource> {
  const { inventory, log } = opts;
  const stateDir = path.join(inventory.dir, '.clusterseed');
  // a missing deploy key or token stops the run here, before anything is rendered or touched
  checkRepoCredentialFiles(inventory);
  const credentials = credentialSource(credentialTarget(inventory, opts.remote), inventory.dir);
  const auth = pushAuth(credentials);
  registerSecret(auth?.password);
  // no remote named: the repository lives on the first server, Argo CD reads it over SSH there
  const hosted: HostedRepo | undefined = opts.remote || opts.repoUrl ? undefined : hostedRepoOf(inventory);
  // an SSH remote Argo CD reads: its host key from a verified known_hosts, or the run stops here
  const remoteKnownHosts = hosted ? undefined : repoHostKeys(inventory, argocdReadsUrl(inventory, opts));
  const render = async (at?: SshEndpoint) => {
    // with --remote, Argo CD reads from where we push unless --repo-url says otherwise
    const repoUrl = opts.repoUrl ?? opts.remote ?? (hosted && at ? hostedRepoUrl(hosted, at) : undefined);
    const sshKnownHosts = hosted ? (at ? pinnedHostKeys(hosted.host, at) : undefined) : remoteKnownHosts;
    const r = await renderAndAnalyze(inventory, { stateDir, repoUrl, sshKnownHosts, bootstrap: bootstrapOfRender });
    // a repository that would not come up stops the run before any host is touched (issue 15)
    if (r.findings.length) throw new BringupError(r.findings);
    const findings = scanFiles(r.files);
    if (findings.length)
      throw new RepoNotSafeError(`refusing to publish: the rendered repository contains secrets\n${formatFindings(findings)}`);
    return r;
  };
  // adopted clusters are registered through their API before the first render (no host needed);
  // built ones by roles/cluster-registration during the host run, before the publish below
  const accessAtStart = await accessSnapshot(inventory, stateDir);
  const adoptedRun = await registerAdoptedClusters(inventory, stateDir, !!opts.check, log);
  let accessRendered = await accessSnapshot(inventory, stateDir);
  // before any host is contacted: node_ip and the inventory's port, the host key if already known
  let endpoint = hosted ? inventoryEndpoint(hosted.host) : undefined;
  // the latest render: rendered again once the host run settled the endpoint or registered clusters
  let rendered = await render(endpoint);
  let model = rendered.model;
  const files = rendered.files;
  if (rendered.warnings.length) log.warn(`gitops: accepted risks (bring-up analysis)\n${formatBringupFindings(rendered.warnings)}`);
  log.info(`gitops: rendered ${files.size} files for ${model.clusters.map((c) => c.name).join(', ')}; valid, no plaintext secrets`);
  if (model.repoUrl.startsWith('file://')) {
    log.warn(`Argo CD cannot clone ${model.repoUrl} from inside the cluster; set gitops.repo to a remote it can reach, or pass --repo-url`);
  }
  const plan = bootstrapPlan(model, stateDir);
  const mgmt = plan.sealingKeys.find((k) => k.cluster === plan.managementCluster)!;
  const keys = await loadOrCreateSealingKeys(mgmt.dir);
  const sealingKeyManifest = sealingKeySecretManifest(keys, 'kube-system');
  registerSecret(keys.privateKeyPem);
  const readKey = hosted ? await loadOrCreateReadKey(inventory.dir, log) : undefined;
  registerSecret(readKey?.privateKey);
  const target = publishTarget(inventory, opts.remote);

  /**
   * What Argo CD needs is known for sure only once the first server is connected: the port its
   * sshd really listens on (facts: differs from the inventory's behind a port forward) and its
   * host key, which the transport has checked against known_hosts by then. When either differs
   * from the first render, the repository is rendered again (same inventory and sealed secrets:
   * only repoURL and Argo CD's known hosts change) before it is published.
   */
  async function settleEndpoint(server: HostContext | undefined): Promise<boolean> {
    if (!server || !hosted || !endpoint) return false;
    const at = { address: endpoint.address, port: server.facts.sshdPorts?.[0] ?? endpoint.port };
    const url = hostedRepoUrl(hosted, at);
    if (url === model.repoUrl && pinnedHostKeys(hosted.host, at) === model.sshKnownHosts) return false;
    endpoint = at;
    log.verbose(`gitops: rendering again for ${url} with its host key pinned`);
    return true;
  }

  /**
   * The host run registered clusters (roles/cluster-registration records their access): a
   * repository rendered before that seals no or an old token for them, so it is rendered again
   * (same keys and sealed secrets: only their cluster Secrets change) before it is published.
   */
  async function settleAccess(): Promise<boolean> {
    const now = await accessSnapshot(inventory, stateDir);
    const changed = changedAccess(accessRendered, now);
    if (!changed.length) return false;
    accessRendered = now;
    log.verbose(`gitops: rendering again with the access recorded for ${changed.join(', ')}`);
    return true;
  }

  async function settle(server: HostContext | undefined): Promise<void> {
    const moved = await settleEndpoint(server);
    const registered = await settleAccess();
    if (!moved && !registered) return;
    const again = await render(endpoint);
    rendered = again;
    model = again.model;
    files.clear();
    for (const [p, c] of again.files) files.set(p, c);
  }

  /** What the recap says of the registrations: recorded in this run, and still missing. */
  async function registrations(): Promise<Pick<PublishSummary, 'registered' | 'unregistered' | 'registrationFailed'>> {
    const registered = changedAccess(accessAtStart, await accessSnapshot(inventory, stateDir));
    // the render's own list: the clusters it left the cluster Secret out for
    const unregistered = rendered.unregistered;
    const failed = adoptedRun.failed;
    return {
      ...(registered.length ? { registered } : {}),
      ...(unregistered.length ? { unregistered } : {}),
      ...(failed.length ? { registrationFailed: failed } : {}),
    };
  }

  return {
    fileCount: files.size,
    argocdChart: ARGOCD_CHART,
    argocdNamespace: ARGOCD_NAMESPACE,
    argocdValuesPath: plan.argocd.valuesFile,
    rootApplicationPath: plan.rootApplication,
    files,
    sealingKeyManifest,
    ...(readKey ? { hostedRepo: { readPublicKey: readKey.publicKey, branch: inventory.gitops.branch } } : {}),
    async publish(check: boolean, server?: HostContext) {
      await settle(server);
      const regs = await registrations();
      const common = { ...target, ...(auth ? { auth } : {}), files, workDir: inventory.dir, force: opts.force, log } as PublishOptions;
      let keyPath: string | undefined;
      // a lost mirror is filled from the cluster's copy first: publishing into it anew would cut
      // the history Argo CD follows (and the host would refuse the new root commit)
      if (hosted && server) {
        const target = {
          conn: server.conn,
          user: hosted.user,
          home: hosted.home,
          repoPath: hosted.repoPath,
          branch: inventory.gitops.branch,
        };
        await restoreMirror({ localRepo: path.resolve((inventory.gitops.repo as { path: string }).path), target, check, log });
      }
      if (check) {
        const p = await planPublish(common);
        const h = hosted ? await syncHosted(check, server, !p.unchanged) : undefined;
        opts.onPublished?.({
          target: p.target.label,
          check,
          added: p.added,
          changed: p.changed,
          removed: p.removed,
          unchanged: p.unchanged && !h?.changed,
          foreignChanges: p.foreignChanges,
          ...(h ? { hosted: h } : {}),
          ...regs,
        });
        const gh = common.github;
        const existing = gh ? deployKeyPath(inventory.dir, gh.owner, gh.repo) : undefined;
        keyPath = existing && existsSync(existing) ? existing : undefined;
      } else {
        const r = await publish(common);
        const h = hosted ? await syncHosted(check, server, false) : undefined;
        opts.onPublished?.({
          target: r.target.label,
          check,
          added: r.added,
          changed: r.changed,
          removed: r.removed,
          unchanged: r.unchanged && !h?.changed,
          commit: r.commit,
          foreignChanges: r.foreignChanges,
          ...(h ? { hosted: h } : {}),
          ...regs,
        });
        keyPath = r.deployKey?.privateKeyPath;
      }
      // hosted on the cluster: Argo CD reads with the read-only key; else the credential of the
      // target just published to (switching targets switches the Secret)
      const credential = readKey
        ? { type: 'ssh' as const, sshPrivateKey: readKey.privateKey }
        : await loadRepoCredential(credentials, { url: model.repoUrl, create: !check, log, deployKeyPath: keyPath });
      for (const secret of credentialSecrets(credential)) registerSecret(secret);
      return { repoUrl: model.repoUrl, ...(credential ? { credential } : {}) };
    },
  };

  /** The local mirror's head onto the first server (check: whether it would change). */
  async function syncHosted(
    check: boolean,
    server: HostContext | undefined,
    localPending: boolean,
  ): Promise<NonNullable<PublishSummary['hosted']>> {
    const repo = hosted!;
    const where = `${repo.host.name}:${repo.repoPath}`;
    if (!server) {
      log.warn(`gitops: ${repo.host.name} is not part of this run: the repository Argo CD reads there (${repo.repoPath}) was not updated`);
      return { where, changed: false, skipped: 'first server not in this run' };
    }
    // check mode with a commit pending: the host differs from what would be published
    if (check && localPending) return { where, changed: true };
    const mirror = path.resolve((inventory.gitops.repo as { path: string }).path);
    const s = await syncHostRepo({
      localRepo: mirror,
      target: { conn: server.conn, user: repo.user, home: repo.home, repoPath: repo.repoPath, branch: inventory.gitops.branch },
      check,
      log,
    });
    return { where, changed: s.changed, head: s.head };
  }
}

export function formatPublish(s: PublishSummary): string {
  const lines = [`GITOPS ${s.target}${s.check ? ' (check mode: nothing was pushed)' : ''}`];
  if (s.unchanged) lines.push('  repository up to date: no commit');
  else {
    for (const f of s.added) lines.push(`  + ${f}`);
    for (const f of s.changed) lines.push(`  ~ ${f}`);
    for (const f of s.removed) lines.push(`  - ${f}`);
    if (s.commit) lines.push(`  committed ${s.commit.slice(0, 12)}`);
  }
  for (const f of s.foreignChanges) lines.push(`  changed by someone else (kept): ${f}`);
  if (s.registered?.length) lines.push(`  registered with Argo CD (access sealed into the repository): ${s.registered.join(', ')}`);
  if (s.registrationFailed?.length)
    lines.push(`  FAILED to register (unreachable or refused, see the warning above): ${s.registrationFailed.join(', ')}`);
  if (s.unregistered?.length)
    lines.push(`  not registered yet (no cluster Secret, Argo CD cannot deploy there): ${s.unregistered.join(', ')}`);
  if (s.hosted) {
    const h = s.hosted;
    lines.push(
      h.skipped
        ? `  on the cluster ${h.where}: not updated (${h.skipped})`
        : `  on the cluster ${h.where}: ${h.changed ? (s.check ? 'would be brought to the new head' : `brought to ${h.head?.slice(0, 12)}`) : 'up to date'}`,
    );
  }
  return lines.join('\n');
}
