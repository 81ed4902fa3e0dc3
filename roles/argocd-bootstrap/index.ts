// roles/argocd-bootstrap: the last step of a site run. Its `prepare` publishes the rendered repo
// (or plans the publish in --check), then the tasks write the HelmChart manifests for Argo CD and
// the root Application, the repository credential and the Sealed Secrets key into K3s' manifests
// directory on the first server of the management cluster. K3s applies them; Argo CD takes over:
// once its Applications `argocd` and `root` are Synced and Healthy, the two HelmCharts are marked
// unmanaged (helm-controller then never touches those releases again), so each object has one owner.
import path from 'node:path';
import YAML from 'yaml';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { HostContext, Role, Task } from '../../lib/runner/types.ts';
import { absent, command, file } from '../../lib/blocks/index.ts';
import { fileFact, textOf } from '../../lib/blocks/file.ts';
import { PRIORITY_CLASSES } from '../../lib/gitops/catalog.ts';
import { bootstrapPlan, type RepoModel } from '../../lib/gitops/index.ts';
import { q } from '../../lib/blocks/shell.ts';
import { validateTree, formatIssue } from '../../lib/gitops/validate.ts';
import type { RepoCredential } from '../../lib/publish/repo-credential.ts';
import {
  argocdHelmChart,
  HELM_UNMANAGED_ANNOTATION,
  priorityClassesManifest,
  repoCredentialManifest,
  rootAppHelmChart,
  type BootstrapInput,
} from './manifests.ts';
import { roleSettings } from '../../lib/settings/index.ts';

/** `vars.argocd-bootstrap`: defaults.yaml (none: any key is an inventory error; README "Settings") */
export const argocdBootstrapSettings = roleSettings('argocd-bootstrap', import.meta.url);

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
/** The publish step's answer: the URL Argo CD reads and the credential it reads it with (none: public). */
export interface Published {
  repoUrl: string;
  credential?: RepoCredential;
}

export interface BootstrapSource {
  argocdChart: BootstrapInput['argocdChart'];
  argocdNamespace: string;
  argocdValuesPath: string;
  rootApplicationPath: string;
  files: Map<string, string>;
  /** the Secret manifest installing the management cluster's Sealed Secrets key (secret) */
  sealingKeyManifest: string;
  /**
   * publish (or plan, in check mode); resolves to the repo URL Argo CD reads and its credential, if
   * any. `server`: the first server's context, where the on-cluster repository is brought up to date.
   */
  publish(check: boolean, server?: HostContext): Promise<Published>;
}

export function firstServer(inventory: Inventory): string | undefined {
  return inventory.clusters[0]?.servers[0];
}

export interface BootstrapFile {
  content: string;
  secret: boolean;
  /** for a HelmChart: the content once Argo CD runs the release itself (marked unmanaged) */
  handedOver?: string;
  /** the Argo CD Application that adopts the HelmChart's release */
  adoptedBy?: string;
}

/** The bootstrap files by path, validated against their schemas before anything is written. */
export function bootstrapFiles(src: BootstrapSource, published: Published, dir = defaults.manifests_dir): Map<string, BootstrapFile> {
  const files = bootstrapFileSet(src, published, dir);
  const variants = [...files].flatMap(
    ([p, f]) => [[p, f.content], ...(f.handedOver ? [[`${p}.handed-over`, f.handedOver]] : [])] as [string, string][],
  );
  const issues = validateTree(new Map(variants.map(([p, c]) => [p.replace(/^\//, ''), c])));
  if (issues.length) throw new Error(`bootstrap manifests are invalid:\n${issues.map(formatIssue).join('\n')}`);
  return files;
}

function bootstrapFileSet(src: Omit<BootstrapSource, 'publish'>, published: Published, dir: string): Map<string, BootstrapFile> {
  const input: BootstrapInput = {
    argocdChart: src.argocdChart,
    argocdNamespace: src.argocdNamespace,
    argocdValues: src.files.get(src.argocdValuesPath) ?? '',
    rootApplication: src.files.get(src.rootApplicationPath) ?? '',
    appsChart: defaults.argocd_apps_chart,
  };
  if (!input.rootApplication) throw new Error(`the rendered repo has no ${src.rootApplicationPath}`);
  const rootName = (YAML.parse(input.rootApplication) as { metadata: { name: string } }).metadata.name;
  const files = new Map<string, BootstrapFile>([
    // sorts first: K3s applies its manifests directory in name order
    [`${dir}/clusterseed-00-priority-classes.yaml`, { content: priorityClassesManifest(PRIORITY_CLASSES), secret: false }],
    [
      `${dir}/clusterseed-argocd.yaml`,
      { content: argocdHelmChart(input), secret: false, handedOver: argocdHelmChart(input, true), adoptedBy: 'argocd' },
    ],
    [
      `${dir}/clusterseed-argocd-root.yaml`,
      { content: rootAppHelmChart(input), secret: false, handedOver: rootAppHelmChart(input, true), adoptedBy: rootName },
    ],
    [`${dir}/clusterseed-sealing-key.yaml`, { content: src.sealingKeyManifest, secret: true }],
  ]);
  if (published.credential) {
    files.set(repoCredentialsPath(dir), {
      content: repoCredentialManifest(src.argocdNamespace, published.repoUrl, published.credential),
      secret: true,
    });
  }
  return files;
}

/** The repository Secret's manifest file: written when the published target has a credential, removed otherwise. */
export function repoCredentialsPath(dir = defaults.manifests_dir): string {
  return `${dir}/clusterseed-repo-credentials.yaml`;
}

/** What the bring-up analysis (lib/gitops/bringup, BringupInput.bootstrap*) must know of this role. */
export interface BootstrapForAnalysis {
  /** the public files K3s applies before Argo CD's HelmChart (its manifests directory, name order), as YAML */
  manifests: string;
  /** the HelmChart that installs Argo CD, as the role writes it */
  argocdRelease: string;
  argocdValuesFile: string;
  argocdChart: { chart: string; version: string };
  /** false when the role hands that HelmChart over (marks it unmanaged) once `adoptedBy` runs */
  helmChartRemains: boolean;
  /** the Application that takes the release over */
  adoptedBy?: string;
}

/**
 * Read from the files this role writes (the same code as the run), so the analysis follows the
 * role: a PriorityClass file moved after the HelmChart, or a HelmChart no longer handed over,
 * shows up as findings again.
 */
export function bootstrapForAnalysis(
  src: Omit<BootstrapSource, 'publish' | 'sealingKeyManifest'>,
  dir = defaults.manifests_dir,
): BootstrapForAnalysis {
  // the sealing key is modelled by the analysis itself; its content is a secret the render does not need
  const files = bootstrapFileSet({ ...src, sealingKeyManifest: '' }, { repoUrl: '' }, dir);
  const argocdPath = `${dir}/clusterseed-argocd.yaml`;
  const argocd = files.get(argocdPath);
  if (!argocd) throw new Error(`argocd-bootstrap writes no ${argocdPath}`);
  const chart = YAML.parse(argocd.content) as { metadata: { name: string }; spec: { chart: string; version: string } };
  const before = [...files]
    .filter(([p, f]) => !f.secret && path.basename(p) < path.basename(argocdPath) && !f.content.includes('kind: HelmChart'))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    manifests: before.map(([, f]) => f.content).join('---\n'),
    argocdRelease: chart.metadata.name,
    argocdValuesFile: src.argocdValuesPath,
    argocdChart: { chart: chart.spec.chart, version: chart.spec.version },
    helmChartRemains: !(argocd.handedOver && argocd.adoptedBy),
    adoptedBy: argocd.handedOver ? argocd.adoptedBy : undefined,
  };
}

/** The bootstrap of a rendered repository, as renderAndAnalyze's `bootstrap` option wants it (gitops.mjs, site.mjs). */
export function bootstrapOfRender(files: Map<string, string>, model: RepoModel): BootstrapForAnalysis {
  // the paths do not depend on the state directory
  const plan = bootstrapPlan(model, '');
  return bootstrapForAnalysis({
    argocdChart: plan.argocd.chart,
    argocdNamespace: plan.argocd.namespace,
    argocdValuesPath: plan.argocd.valuesFile,
    rootApplicationPath: plan.rootApplication,
    files,
  });
}

/** Prints `<app>=<sync>/<health>` per Application; nothing when K3s or Argo CD is not there yet. */
export function applicationStatusProbe(apps: string[], namespace: string): string {
  const get = (a: string) =>
    `k3s kubectl --request-timeout=10s -n ${q(namespace)} get applications.argoproj.io ${q(a)} -o jsonpath='{.status.sync.status}/{.status.health.status}' 2>/dev/null`;
  return `if command -v k3s >/dev/null 2>&1; then ${apps.map((a) => `printf '%s=%s\\n' ${q(a)} "$(${get(a)})"`).join('; ')}; fi; true`;
}

/** `<app>=Synced/Healthy` lines of the probe, as the set of apps that run their own release. */
export function runningApps(stdout: string): Set<string> {
  return new Set(
    stdout
      .split('\n')
      .map((l) => l.trim().split('='))
      .filter(([, st]) => st === 'Synced/Healthy')
      .map(([a]) => a),
  );
}

/**
 * A HelmChart file that installs a release until the Application of the same release runs it,
 * then marks it unmanaged, for good: once handed over (the file says so) it never goes back, or a
 * later K3s upgrade (new helm job image) would re-run the old chart version over Argo CD's.
 */
export function helmChartFile(p: string, f: BootstrapFile, namespace: string): Task {
  if (!f.handedOver || !f.adoptedBy) throw new Error(`${p} is not a HelmChart handed over to Argo CD`);
  const name = `bootstrap ${path.basename(p)}`;
  const installing = file({ path: p, content: f.content, mode: '0600', name });
  const inert = file({ path: p, content: f.handedOver, mode: '0600', name });
  return {
    name,
    probe: applicationStatusProbe([f.adoptedBy], namespace),
    files: [{ path: p, hash: true, content: true }],
    plan(state, ctx) {
      const current = fileFact(state, p);
      const handedOver =
        (current.exists && textOf(current).includes(HELM_UNMANAGED_ANNOTATION)) || runningApps(state.stdout).has(f.adoptedBy!);
      return (handedOver ? inert : installing).plan(state, ctx);
    },
  };
}

export function argocdBootstrapRole(src: BootstrapSource): Role {
  let files: Map<string, BootstrapFile> | undefined;
  return {
    name: 'argocd-bootstrap',
    appliesTo: (host, inventory) => host.name === firstServer(inventory),
    async prepare({ options, log, hosts }) {
      const published = await src.publish(options.check, hosts[0]);
      files = bootstrapFiles(src, published);
      log.verbose(`argocd-bootstrap: Argo CD will read ${published.repoUrl}`);
    },
    tasks(_ctx: HostContext): Task[] {
      if (!files) throw new Error('argocd-bootstrap ran without its prepare step');
      const dir = defaults.manifests_dir;
      const credentials = repoCredentialsPath(dir);
      return [
        command({ name: 'K3s manifests directory', probe: `test -d ${q(dir)}`, run: `mkdir -p -- ${q(dir)} && chmod 0700 -- ${q(dir)}` }),
        ...[...files].map(([p, f]) =>
          f.handedOver
            ? helmChartFile(p, f, src.argocdNamespace)
            : file({ path: p, content: f.content, mode: '0600', secret: f.secret, name: `bootstrap ${path.basename(p)}` }),
        ),
        // a target without a credential (public, file://): the previous target's credential file
        // goes. K3s does not delete what it applied from it: the role README says how to.
        ...(files.has(credentials)
          ? []
          : [absent(credentials, { name: `bootstrap ${path.basename(credentials)} (no credential for this target)` })]),
      ];
    },
  };
}
