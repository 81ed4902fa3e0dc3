// GitOps repository generation: the inventory in, a validated file tree out.
//   renderRepo(inventory, opts)   -> Map<path, content>, in memory, validated (throws if invalid)
//   writeRepo(files, dir)         -> the directory holds exactly that tree
//   renderRepoWithSecrets(...)    -> seals the secrets the repo needs (stable across runs), then renders
import type { Inventory } from '../inventory/model.ts';
import { buildModel, type ModelOptions, type RepoModel } from './model.ts';
import { renderFiles, type SealedSecretSet } from './render.ts';
import {
  clusterAccessFile,
  prepareSecrets,
  recordedAccess,
  sealingKeyDir,
  type PreparedSecrets,
  type PrepareSecretsOptions,
} from './secrets.ts';
import { clustersNeedingSealingKey } from './model.ts';
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
): Promise<{ files: Map<string, string>; model: RepoModel; secrets: PreparedSecrets; unregistered: string[] }> {
  const model = await buildModelWithAccess(inventory, opts);
  const secrets = await prepareSecrets(model, { stateDir: opts.stateDir, sealingKeyOptions: opts.sealingKeyOptions });
  const files = renderModel(model, { ...opts, sealedSecrets: secrets.sealed });
  return { files, model, secrets, unregistered: [...model.unregistered] };
}

/** buildModel with the access recorded in the state directory (which clusters are registered, adopted servers) */
export async function buildModelWithAccess(inventory: Inventory, opts: ModelOptions & { stateDir: string }): Promise<RepoModel> {
  return buildModel(inventory, { ...opts, clusterAccess: opts.clusterAccess ?? (await recordedAccess(inventory, opts.stateDir)) });
}

/**
 * Where each cluster's Sealed Secrets key pair must be installed before its SealedSecrets sync:
 * every cluster whose repository holds SealedSecrets or that runs the controller, the management
 * cluster (the bootstrap installs it) included. `built`: through the K3s manifests directory of its first server;
 * otherwise (adopted) through its API. The key is the kube-system Secret
 * sealingKeySecretManifest(loadOrCreateSealingKeys(sealingKeyDir), 'kube-system') makes.
 */
export interface SealingKeyInstall {
  cluster: string;
  sealingKeyDir: string;
  management: boolean;
  built: boolean;
}

export function sealingKeyInstalls(model: RepoModel, stateDir: string): SealingKeyInstall[] {
  const sealed = clustersNeedingSealingKey(model.clusters);
  return model.clusters
    .filter((c) => sealed.has(c.name))
    .map((c) => ({ cluster: c.name, sealingKeyDir: sealingKeyDir(stateDir, c.name), management: c.isManagement, built: !c.adopted }));
}

export {
  buildModel,
  requiredSecrets,
  registrationPath,
  clustersWithSealedSecrets,
  clustersNeedingSealingKey,
  REGISTRATIONS_COMPONENT,
  ModelError,
  type RepoModel,
  type ClusterModel,
  type ComponentModel,
} from './model.ts';
export { clusterConfigProblems, clusterSecretData } from './cluster-secret.ts';
export { writeRepo, type WriteResult } from './write.ts';
export { validateTree, assertValidTree, RepoValidationError, formatIssue, type ValidationIssue } from './validate.ts';
export { MissingSecretsError, defaultTemplateDir, type SealedSecretSet } from './render.ts';
export { prepareSecrets, recordedAccess, sealingKeyDir, clusterAccessFile, type PreparedSecrets } from './secrets.ts';
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
    /** each cluster with SealedSecrets and where its key pair is: install it there before its SealedSecrets sync */
    sealingKeyInstalls: sealingKeyInstalls(model, stateDir),
    /** where registration records each remote cluster's access (server as Argo CD reaches it); the next render seals it */
    clusterAccess: model.clusters
      .filter((c) => !c.isManagement)
      .map((c) => ({ cluster: c.name, server: c.server, adopted: c.adopted, file: clusterAccessFile(stateDir, c.name) })),
    /** clusters not registered yet: no cluster Secret is rendered for them */
    unregistered: [...model.unregistered],
  };
}
