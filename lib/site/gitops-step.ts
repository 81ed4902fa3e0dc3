// The GitOps half of a site run: render + validate + scan (before any host is touched), then the
// publish that the argocd-bootstrap role triggers, or its plan in --check.
import path from 'node:path';
import type { Inventory } from '../inventory/model.ts';
import type { Logger } from '../runner/types.ts';
import { bootstrapPlan, ARGOCD_CHART, ARGOCD_NAMESPACE } from '../gitops/index.ts';
import { renderAndAnalyze } from '../gitops/bringup/pipeline.ts';
import { BringupError, formatFindings as formatBringupFindings } from '../gitops/bringup/index.ts';
import { scanFiles } from '../gitops/cli.ts';
import { formatFindings } from '../gitops/secret-scan.ts';
import { loadOrCreateSealingKeys, sealingKeySecretManifest } from '../gitops/sealing-keys.ts';
import { publish, planPublish, type PublishOptions } from '../publish/index.ts';
import { registerSecret } from '../report/mask.ts';
import { existsSync } from 'node:fs';
import { checkRepoCredentialFiles } from '../inventory/repo-credential-files.ts';
import { credentialSource, loadRepoCredential, pushAuth, type CredentialTarget } from '../publish/credentials.ts';
import { deployKeyPath } from '../publish/deploy-key.ts';
import { credentialSecrets } from '../publish/repo-credential.ts';
import { bootstrapOfRender, type BootstrapSource } from '../../roles/argocd-bootstrap/index.ts';

export interface GitopsStepOptions {
  inventory: Inventory;
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
}

export class RepoNotSafeError extends Error {
  readonly userError = true;
}

export function publishTarget(inventory: Inventory, remote?: string): Omit<PublishOptions, 'files' | 'workDir'> {
  if (remote) return { remote, branch: inventory.gitops.branch };
  const r = inventory.gitops.repo;
  if (r.kind === 'github') {
    // CLUSTERSEED_GITHUB_API: a GitHub Enterprise (or test) API base URL
    const baseUrl = process.env.CLUSTERSEED_GITHUB_API;
    return { github: { owner: r.owner, repo: r.name, private: r.private, org: r.org, ...(baseUrl ? { baseUrl } : {}) }, branch: inventory.gitops.branch };
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

/** Renders, validates and scans the repo; returns the bootstrap source for the argocd-bootstrap role. */
export async function prepareGitops(opts: GitopsStepOptions): Promise<BootstrapSource & { fileCount: number }> {
  const { inventory, log } = opts;
  const stateDir = path.join(inventory.dir, '.clusterseed');
  // a missing deploy key or token stops the run here, before anything is rendered or touched
  checkRepoCredentialFiles(inventory);
  const credentials = credentialSource(credentialTarget(inventory, opts.remote), inventory.dir);
  const auth = pushAuth(credentials);
  registerSecret(auth?.password);
  // with --remote, Argo CD reads from where we push unless --repo-url says otherwise
  const { files, model, findings: bringup, warnings } = await renderAndAnalyze(inventory, { stateDir, repoUrl: opts.repoUrl ?? opts.remote, bootstrap: bootstrapOfRender });
  // a repository that would not come up stops the run before any host is touched (issue 15)
  if (bringup.length) throw new BringupError(bringup);
  if (warnings.length) log.warn(`gitops: accepted risks (bring-up analysis)\n${formatBringupFindings(warnings)}`);
  const findings = scanFiles(files);
  if (findings.length) throw new RepoNotSafeError(`refusing to publish: the rendered repository contains secrets\n${formatFindings(findings)}`);
  log.info(`gitops: rendered ${files.size} files for ${model.clusters.map((c) => c.name).join(', ')}; valid, no plaintext secrets`);
  if (model.repoUrl.startsWith('file://')) {
    log.warn(`Argo CD cannot clone ${model.repoUrl} from inside the cluster; set gitops.repo to a remote it can reach, or pass --repo-url`);
  }
  const plan = bootstrapPlan(model, stateDir);
  const mgmt = plan.sealingKeys.find((k) => k.cluster === plan.managementCluster)!;
  const keys = await loadOrCreateSealingKeys(mgmt.dir);
  const sealingKeyManifest = sealingKeySecretManifest(keys, 'kube-system');
  registerSecret(keys.privateKeyPem);
  const target = publishTarget(inventory, opts.remote);
  return {
    fileCount: files.size,
    argocdChart: ARGOCD_CHART,
    argocdNamespace: ARGOCD_NAMESPACE,
    argocdValuesPath: plan.argocd.valuesFile,
    rootApplicationPath: plan.rootApplication,
    files,
    sealingKeyManifest,
    async publish(check: boolean) {
      const common = { ...target, ...(auth ? { auth } : {}), files, workDir: inventory.dir, force: opts.force, log } as PublishOptions;
      let keyPath: string | undefined;
      if (check) {
        const p = await planPublish(common);
        opts.onPublished?.({ target: p.target.label, check, added: p.added, changed: p.changed, removed: p.removed, unchanged: p.unchanged, foreignChanges: p.foreignChanges });
        const gh = common.github;
        const existing = gh ? deployKeyPath(inventory.dir, gh.owner, gh.repo) : undefined;
        keyPath = existing && existsSync(existing) ? existing : undefined;
      } else {
        const r = await publish(common);
        opts.onPublished?.({ target: r.target.label, check, added: r.added, changed: r.changed, removed: r.removed, unchanged: r.unchanged, commit: r.commit, foreignChanges: r.foreignChanges });
        keyPath = r.deployKey?.privateKeyPath;
      }
      // the credential of the target just published to: switching targets switches the Secret
      const credential = await loadRepoCredential(credentials, { url: model.repoUrl, create: !check, log, deployKeyPath: keyPath });
      for (const s of credentialSecrets(credential)) registerSecret(s);
      return { repoUrl: model.repoUrl, ...(credential ? { credential } : {}) };
    },
  };
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
  return lines.join('\n');
}
