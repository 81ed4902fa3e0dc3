// Renders the GitOps repository in memory: gitops-template/ + the model -> Map<path, content>.
// Template tree (each *.hbs file renders to the same path without .hbs; output that is only
// whitespace is dropped, so a template can decide it does not apply):
//   repo/**                       once                        -> <path>
//   cluster/**                    per cluster                 -> clusters/<cluster>/<path>
//   components/<c>/platform/**    once, if <c> is enabled     -> platform/<c>/<path>
//   components/<c>/apps/**        once, if <c> is enabled     -> apps/<c>/<path>
//   components/<c>/cluster/**     per cluster enabling <c>    -> clusters/<cluster>/<c>/<path>
//   application.yaml.hbs          per cluster and component   -> clusters/<cluster>/apps/<c>.yaml
//   cluster-registrations.yaml.hbs  once, when another cluster is registered
//                                  -> clusters/<management>/apps/cluster-registrations.yaml
//   partials/*.hbs                Handlebars partials
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChartRef } from './catalog.ts';
import type { ClusterModel, ComponentModel, RepoModel, RequiredSecret } from './model.ts';
import { REGISTRATIONS_COMPONENT, requiredSecrets } from './model.ts';
import { TemplateSet, toYaml } from './template.ts';

export const defaultTemplateDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'gitops-template');

/** a sealed secret object (bitnami.com/v1alpha1 SealedSecret) per RequiredSecret.path */
export type SealedSecretSet = Map<string, Record<string, unknown>>;

export class MissingSecretsError extends Error {
  constructor(readonly missing: RequiredSecret[]) {
    super(
      `no sealed secret for ${missing.map((s) => `${s.cluster}:${s.namespace}/${s.name}`).join(', ')}; ` +
        'seal them first (prepareSecrets) so that secrets never reach the repo in plaintext',
    );
    this.name = 'MissingSecretsError';
  }
}

interface HelmSource {
  repoURL: string;
  chart: string;
  targetRevision: string;
  helm: { releaseName: string; valueFiles: string[] };
}

/** the Argo CD sources of one component on one cluster, from what was rendered for it */
function sourcesFor(repo: RepoModel, cluster: ClusterModel, c: ComponentModel, files: Map<string, string>): unknown[] {
  const git = { repoURL: repo.repoUrl, targetRevision: repo.branch };
  const clusterDir = `clusters/${cluster.name}/${c.name}`;
  if (c.kustomize) return [{ ...git, path: clusterDir }];
  const sources: unknown[] = [];
  const mainChart = c.charts.find((ch) => ch.valuesFile === 'values.yaml') ?? c.charts[0];
  for (const ch of c.charts) {
    const valueFiles = [`platform/${c.name}/${ch.valuesFile}`, `${clusterDir}/${ch.valuesFile}`];
    if (ch === mainChart) valueFiles.push(`${clusterDir}/values-inventory.yaml`);
    const src: HelmSource = {
      repoURL: ch.repoURL,
      chart: ch.chart,
      targetRevision: ch.version,
      helm: { releaseName: ch.chart, valueFiles: valueFiles.filter((f) => files.has(f)).map((f) => `$values/${f}`) },
    };
    sources.push(src);
  }
  if (sources.length) sources.push({ ...git, ref: 'values' });
  for (const dir of [`platform/${c.name}/manifests`, `${clusterDir}/manifests`]) {
    if ([...files.keys()].some((f) => f.startsWith(`${dir}/`))) sources.push({ ...git, path: dir });
  }
  return sources;
}

function emit(files: Map<string, string>, out: string, content: string): void {
  if (content.trim() === '') return;
  if (files.has(out)) throw new Error(`two templates render to ${out}`);
  files.set(out, content.endsWith('\n') ? content : content + '\n');
}

function sealedSecretYaml(obj: Record<string, unknown>, s: RequiredSecret): string {
  const meta = (obj.metadata ?? {}) as Record<string, unknown>;
  const annotations = {
    ...((meta.annotations as Record<string, string>) ?? {}),
    // decrypted before the workloads of the same Application that read it
    'argocd.argoproj.io/sync-wave': '-1',
  };
  const doc = { ...obj, metadata: { ...meta, annotations } };
  return `# SealedSecret ${s.namespace}/${s.name}: encrypted for the ${s.cluster} cluster's Sealed Secrets key.\n` + toYaml(doc);
}

export interface RenderInput {
  model: RepoModel;
  templateDir?: string;
  sealedSecrets?: SealedSecretSet;
}

export function renderFiles({ model, templateDir = defaultTemplateDir, sealedSecrets = new Map() }: RenderInput): Map<string, string> {
  const t = new TemplateSet(templateDir);
  const files = new Map<string, string>();
  const strip = (p: string, prefix: string) => p.slice(prefix.length).replace(/\.hbs$/, '');
  const base = { repo: model };

  for (const f of t.list('repo')) emit(files, strip(f, 'repo/'), t.render(f, base));
  for (const cluster of model.clusters) {
    for (const f of t.list('cluster')) emit(files, `clusters/${cluster.name}/${strip(f, 'cluster/')}`, t.render(f, { ...base, cluster }));
  }
  for (const component of model.platformComponents) {
    const dir = `components/${component.name}`;
    for (const f of t.list(`${dir}/platform`))
      emit(files, `platform/${component.name}/${strip(f, `${dir}/platform/`)}`, t.render(f, { ...base, component }));
    for (const f of t.list(`${dir}/apps`))
      emit(files, `apps/${component.name}/${strip(f, `${dir}/apps/`)}`, t.render(f, { ...base, component }));
  }
  for (const cluster of model.clusters) {
    for (const component of cluster.components) {
      const dir = `components/${component.name}`;
      const ctx = { ...base, cluster, component };
      for (const f of t.list(`${dir}/cluster`))
        emit(files, `clusters/${cluster.name}/${component.name}/${strip(f, `${dir}/cluster/`)}`, t.render(f, ctx));
      if (component.overrides && Object.keys(component.overrides).length) {
        emit(
          files,
          `clusters/${cluster.name}/${component.name}/values-inventory.yaml`,
          `# chart values from the inventory (gitops.components.${component.name}.values), applied last\n` + toYaml(component.overrides),
        );
      }
    }
  }

  const needed = requiredSecrets(model);
  const missing = needed.filter((s) => !sealedSecrets.has(s.path));
  if (missing.length) throw new MissingSecretsError(missing);
  for (const s of needed) emit(files, s.path, sealedSecretYaml(sealedSecrets.get(s.path)!, s));

  // the registrations of the other clusters: in the management cluster's tree, one wave after its
  // Sealed Secrets controller (Argo CD waits for a wave to be Healthy before the next, so the
  // SealedSecret CRD is served by then; gitops-engine pkg/sync, see bringup/README.md)
  if (needed.some((s) => s.component === REGISTRATIONS_COMPONENT)) {
    const cluster = model.management;
    const controller = cluster.enabled['sealed-secrets'];
    if (!controller) throw new Error(`cluster ${cluster.name}: cluster registrations need its sealed-secrets component`);
    const ctx = {
      ...base,
      cluster,
      wave: controller.wave + 1,
      sealedSecretsWave: controller.wave,
      path: `clusters/${cluster.name}/${REGISTRATIONS_COMPONENT}`,
    };
    emit(files, `clusters/${cluster.name}/apps/${REGISTRATIONS_COMPONENT}.yaml`, t.render('cluster-registrations.yaml.hbs', ctx));
  }

  // Applications last: their sources depend on which values/manifests were rendered
  for (const cluster of model.clusters) {
    for (const component of cluster.components) {
      const sources = sourcesFor(model, cluster, component, files);
      if (sources.length === 0) throw new Error(`component ${component.name} rendered nothing for cluster ${cluster.name}`);
      emit(
        files,
        `clusters/${cluster.name}/apps/${component.name}.yaml`,
        t.render('application.yaml.hbs', { ...base, cluster, component, sources }),
      );
    }
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export type { ChartRef };
