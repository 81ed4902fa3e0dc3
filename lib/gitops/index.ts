// GitOps repository generation: the inventory in, a validated file tree out.
//   renderRepo(inventory, opts)   -> Map<path, content>, in memory, validated (throws if invalid)
//   writeRepo(files, dir)         -> the directory holds exactly that tree
//   renderRepoWithSecrets(...)    -> seals the secrets the repo needs (stable across runs), then renders
import type { Inventory } from '../inventory/model.ts';
import { buildModel, type ModelOptions, type RepoModel } from './model.ts';
import { renderFiles, type SealedSecretSet } from './render.ts';
import { clusterAccessFile, prepareSecrets, sealingKeyDir, type PreparedSecrets, type PrepareSecretsOptions } from './secrets.ts';
import { ARGOCD_CHART, ARGOCD_NAMESPACE, PRIORITY_CLASSES } from './catalog.ts';
import { assertValidTree } from './validate.ts';

export interface RenderRepoOptions extends ModelOptions {
  /** template root, default gitops-template/ of this checkout */
  templateDir?: string;
  /** SealedSecrets by repo path (see prepareSecrets); rendering fails if one is missing */
  sealedSecrets?: SealedSecretSet;
  /** validate the tree before returning it (default true) */
  validate?: boolean;
}

export function renderRepo(inventory: Inventory, opts: RenderRepoOptions = {}): Map<string, string> {
  const model = buildModel(inventory, opts);
  return renderModel(model, opts);
}

export function renderModel(model: RepoModel, opts: RenderRepoOptions = {}): Map<string, string> {
  const files = renderFiles({ model, templateDir: opts.templateDir, sealedSecrets: opts.sealedSecrets });
  if (opts.validate !== false) assertValidTree(files);
  return files;
}

export interface RenderWithSecretsOptions extends Omit<RenderRepoOptions, 'sealedSecrets'> {
  /** the control machine's state directory, usually <inventory dir>/.clusterseed */
  stateDir: string;
  sealingKeyOptions?: PrepareSecretsOptions['sealingKeyOptions'];
}

export async function renderRepoWithSecrets(
  inventory: Inventory,
  opts: RenderWithSecretsOptions,
): Promise<{ files: Map<string, string>; model: RepoModel; secrets: PreparedSecrets }> {
  const model = buildModel(inventory, opts);
  const secrets = await prepareSecrets(model, { stateDir: opts.stateDir, sealingKeyOptions: opts.sealingKeyOptions });
  const files = renderModel(model, { ...opts, sealedSecrets: secrets.sealed });
  return { files, model, secrets };
}

export { buildModel, requiredSecrets, ModelError, type RepoModel, type ClusterModel, type ComponentModel } from './model.ts';
export { writeRepo, type WriteResult } from './write.ts';
export { validateTree, assertValidTree, RepoValidationError, formatIssue, type ValidationIssue } from './validate.ts';
export { MissingSecretsError, defaultTemplateDir, type SealedSecretSet } from './render.ts';
export { prepareSecrets, sealingKeyDir, clusterAccessFile, type PreparedSecrets } from './secrets.ts';
export { CATALOG, ARGOCD_CHART, ARGOCD_NAMESPACE } from './catalog.ts';

/**
 * What the bootstrap (site/publish) needs from the render: how to install Argo CD so that
 * bootstrap/argocd.yaml adopts it unchanged, which object to apply once, and, per cluster, where
 * the Sealed Secrets key pair lives that must be installed (as the kube-system Secret labelled
 * sealedsecrets.bitnami.com/sealed-secrets-key=active) before the controller starts.
 */
export function bootstrapPlan(model: RepoModel, stateDir: string) {
  return {
    managementCluster: model.management.name,
    argocd: {
      namespace: ARGOCD_NAMESPACE,
      releaseName: 'argocd',
      chart: ARGOCD_CHART,
      /** path inside the rendered repo */
      valuesFile: 'platform/argocd/values.yaml',
    },
    /** created by the bootstrap before Argo CD (K3s manifests dir), which needs infrastructure-critical */
    priorityClasses: PRIORITY_CLASSES.map((p) => p.name),
    /** path inside the rendered repo; applied once to the management cluster */
    rootApplication: 'bootstrap/root.yaml',
    sealingKeys: model.clusters.map((c) => ({ cluster: c.name, dir: sealingKeyDir(stateDir, c.name) })),
    /** files the bootstrap writes for remote clusters so the next render seals real credentials */
    clusterAccess: model.clusters.filter((c) => !c.isManagement).map((c) => ({ cluster: c.name, server: c.server, file: clusterAccessFile(stateDir, c.name) })),
  };
}
