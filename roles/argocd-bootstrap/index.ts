// roles/argocd-bootstrap: the last step of a site run. Its `prepare` publishes the rendered repo
// (or plans the publish in --check), then the tasks write the HelmChart manifests for Argo CD and
// the root Application, the repository credential and the Sealed Secrets key into K3s' manifests
// directory on the first server of the management cluster. K3s applies them; Argo CD takes over.
import path from 'node:path';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { HostContext, Role, Task } from '../../lib/runner/types.ts';
import { command, file } from '../../lib/blocks/index.ts';
import { q } from '../../lib/blocks/shell.ts';
import { validateTree, formatIssue } from '../../lib/gitops/validate.ts';
import { argocdHelmChart, repoCredentialManifest, rootAppHelmChart, type BootstrapInput } from './manifests.ts';

/**
 * Fixed parts of the bootstrap, not inventory settings (the role has no vars: `vars.argocd-bootstrap`
 * is an inventory error). K3s applies every file in its auto-deploy directory and keeps re-applying
 * it when it changes; its place follows K3s' data-dir, which clusterseed owns. argocd-apps renders
 * the root Application (the one object the repository cannot create for itself); its pin moves with
 * clusterseed's releases like the Argo CD chart in the GitOps catalog.
 */
export const defaults: { manifests_dir: string; argocd_apps_chart: BootstrapInput['appsChart'] } = {
  manifests_dir: '/var/lib/rancher/k3s/server/manifests',
  argocd_apps_chart: { repo: 'https://argoproj.github.io/argo-helm', chart: 'argocd-apps', version: '2.0.2' },
};

/** What the pipeline hands the role: rendered files and how to publish them. */
export interface BootstrapSource {
  argocdChart: BootstrapInput['argocdChart'];
  argocdNamespace: string;
  argocdValuesPath: string;
  rootApplicationPath: string;
  files: Map<string, string>;
  /** the Secret manifest installing the management cluster's Sealed Secrets key (secret) */
  sealingKeyManifest: string;
  /** publish (or plan, in check mode); resolves to the repo URL Argo CD reads and the deploy key, if any */
  publish(check: boolean): Promise<{ repoUrl: string; sshPrivateKey?: string }>;
}

export function firstServer(inventory: Inventory): string | undefined {
  return inventory.clusters[0]?.servers[0];
}

/** The bootstrap files by path, validated against their schemas before anything is written. */
export function bootstrapFiles(src: BootstrapSource, published: { repoUrl: string; sshPrivateKey?: string }, dir = defaults.manifests_dir) {
  const input: BootstrapInput = {
    argocdChart: src.argocdChart,
    argocdNamespace: src.argocdNamespace,
    argocdValues: src.files.get(src.argocdValuesPath) ?? '',
    rootApplication: src.files.get(src.rootApplicationPath) ?? '',
    appsChart: defaults.argocd_apps_chart,
  };
  if (!input.rootApplication) throw new Error(`the rendered repo has no ${src.rootApplicationPath}`);
  const files = new Map<string, { content: string; secret: boolean }>([
    [`${dir}/clusterseed-argocd.yaml`, { content: argocdHelmChart(input), secret: false }],
    [`${dir}/clusterseed-argocd-root.yaml`, { content: rootAppHelmChart(input), secret: false }],
    [`${dir}/clusterseed-sealing-key.yaml`, { content: src.sealingKeyManifest, secret: true }],
  ]);
  if (published.sshPrivateKey) {
    files.set(`${dir}/clusterseed-repo-credentials.yaml`, {
      content: repoCredentialManifest(src.argocdNamespace, published.repoUrl, published.sshPrivateKey),
      secret: true,
    });
  }
  const issues = validateTree(new Map([...files].map(([p, f]) => [p.replace(/^\//, ''), f.content])));
  if (issues.length) throw new Error(`bootstrap manifests are invalid:\n${issues.map(formatIssue).join('\n')}`);
  return files;
}

export function argocdBootstrapRole(src: BootstrapSource): Role {
  let files: Map<string, { content: string; secret: boolean }> | undefined;
  return {
    name: 'argocd-bootstrap',
    appliesTo: (host, inventory) => host.name === firstServer(inventory),
    async prepare({ options, log }) {
      const published = await src.publish(options.check);
      files = bootstrapFiles(src, published);
      log.verbose(`argocd-bootstrap: Argo CD will read ${published.repoUrl}`);
    },
    tasks(_ctx: HostContext): Task[] {
      if (!files) throw new Error('argocd-bootstrap ran without its prepare step');
      const dir = defaults.manifests_dir;
      return [
        command({ name: 'K3s manifests directory', probe: `test -d ${q(dir)}`, run: `mkdir -p -m 0700 ${q(dir)}` }),
        ...[...files].map(([p, f]) => file({ path: p, content: f.content, mode: '0600', secret: f.secret, name: `bootstrap ${path.basename(p)}` })),
      ];
    },
  };
}
