// The bring-up simulation: what the API server and Argo CD would do with the rendered repository
// on this inventory's cluster, phase by phase:
//   k3s        what K3s ships (k3s-ships.ts), minus what the inventory disables
//   bootstrap  the K3s HelmChart that installs Argo CD with platform/argocd/values.yaml, the
//              Sealed Secrets key, the root Application (roles/argocd-bootstrap)
//   root       the root Application syncs bootstrap/*.yaml
//   wave N     the per-cluster app-of-apps syncs clusters/<c>/apps/*.yaml wave by wave; Argo CD
//              waits for every Application of a wave to be Healthy before the next wave, so a
//              finding in wave N stalls every later wave.
// Argo CD semantics modelled (argoproj/gitops-engine master @ 5baed5604d2dd970619fc9b91e8d31724662ab3e,
// pkg/sync/sync_context.go and sync_tasks.go): the dry run of a resource whose kind the API
// server does not know fails the whole sync unless the CRD is part of the same sync or the object
// says `argocd.argoproj.io/sync-options: SkipDryRunOnMissingResource=true`; within a sync,
// objects are applied by wave, then kind (Namespace, ResourceQuota, LimitRange, ... first);
// `CreateNamespace=true` creates the destination namespace before the sync.
import YAML from 'yaml';
import { clustersNeedingSealingKey, type ClusterModel, type RepoModel } from '../model.ts';
import type { NodeModel } from '../placement.ts';
import type { Capacity } from '../quota.ts';
import { ARGOCD_NAMESPACE, CATALOG } from '../catalog.ts';
import { K3S_SERVICELB } from './k3s-ships.ts';
import { appView, hasSyncOption, parseDocs, valueFileLayers, waveOf, type AppView, type K8sObject } from './objects.ts';
import { chartPods, expandName, fromPath, manifestPods, type PodGroup } from './pods.ts';
import { packagesFor } from './host-side.ts';
import { registeredNodes } from './node-labels.ts';
import { operatorCreated, serviceOfHost } from './operators.ts';
import { fmtCpu, fmtMem, memoryMi, milliCpu } from './quantity.ts';
import { candidateNodes } from './scheduling.ts';
import { CLUSTER_SCOPED, ClusterState, crdNameOf, objectKey } from './state.ts';
import type { ChartFacts, FactsLookup, Finding } from './types.ts';
import { getPath, isMap, keyKnown, leafPaths, truthy, type Values } from './values.ts';

export interface BringupInput {
  model: RepoModel;
  files: Map<string, string>;
  facts: FactsLookup;
  /** K3s packaged components each cluster disables (`disable:` of its server config) */
  k3sDisable?: Record<string, string[]>;
  /** clusters whose servers run embedded etcd (K3s labels them node-role.kubernetes.io/etcd) */
  embeddedEtcd?: Record<string, boolean>;
  /** Debian packages the roles install on a node */
  hostPackages?: (node: string) => string[];
  /** capacity of the nodes whose inventory gives one (vars.capacity) */
  nodeCapacity?: Record<string, Capacity>;
  /** bootstrap facts (roles/argocd-bootstrap): the HelmChart release that installs Argo CD */
  bootstrap?: {
    argocdRelease: string;
    argocdValuesFile: string;
    argocdChart: { chart: string; version: string };
    /** false when the bootstrap removes (or hands over) its HelmChart once Argo CD runs; default true */
    helmChartRemains?: boolean;
    /** the Application the HelmChart is handed over to (only it may then own the release) */
    adoptedBy?: string;
  };
  /**
   * objects the bootstrap role writes into K3s' manifests directory before Argo CD's HelmChart
   * (e.g. the PriorityClasses Argo CD's own pods use): they exist when Argo CD's pods are admitted
   */
  bootstrapObjects?: K8sObject[];
  /**
   * clusters whose Sealed Secrets key is installed before their SealedSecrets sync (the bootstrap
   * for the management cluster, registration for the others: lib/gitops sealingKeyInstalls);
   * default: every cluster that list names
   */
  sealingKeysInstalled?: string[];
}

/** what one pod group needs: per-pod requests and limits after LimitRange defaults */
export interface PodNeeds {
  group: PodGroup;
  pods: number;
  nodes: NodeModel[];
  requests: Capacity;
  limits: Capacity;
}

export interface BringupResult {
  findings: Finding[];
  /** every pod group with its peak pod count, per cluster: what quota.ts sizes quotas from */
  needs: Map<string, PodNeeds[]>;
}

const KIND_ORDER = [
  'Namespace',
  'NetworkPolicy',
  'ResourceQuota',
  'LimitRange',
  'PodDisruptionBudget',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'StorageClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'CustomResourceDefinition',
];

function kindRank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
}

/** collects findings with the phase they were found in */
class Findings {
  readonly list: Finding[] = [];
  private seen = new Set<string>();
  constructor(public phase = '') {}
  add(f: Omit<Finding, 'phase'>): void {
    const key = JSON.stringify([f.check, f.component, f.object, f.field, f.reason]);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push({ ...f, phase: this.phase });
  }
}

interface Release {
  component: string;
  namespace: string;
  chart: string;
  version: string;
  release: string;
  values: Values;
  layers: { file: string; values: Values }[];
  facts?: ChartFacts;
}

interface SyncUnit {
  component: string;
  app: AppView;
  releases: Release[];
  objects: K8sObject[];
  pods: PodGroup[];
}

function componentOf(app: K8sObject | AppView, cluster: string): string {
  const name = 'metadata' in app ? (app.metadata.labels?.['clusterseed.io/component'] ?? app.metadata.name) : app.name;
  return name.startsWith(`${cluster}-`) ? name.slice(cluster.length + 1) : name;
}

export function analyze(input: BringupInput): BringupResult {
  const out = new Findings();
  const needs = new Map<string, PodNeeds[]>();
  const imagePlatforms = new Map<string, { platforms: string[]; missing?: string }>();
  // images the catalog's manifests use outside charts (plain-images.yaml): known like a chart's
  for (const i of input.facts.plainImages?.() ?? []) imagePlatforms.set(i.ref, { platforms: i.platforms });
  const factsCache = new Map<string, ChartFacts | undefined>();
  const factsOf = (chart: string, version: string): ChartFacts | undefined => {
    const k = `${chart}@${version}`;
    if (!factsCache.has(k)) {
      const f = input.facts(chart, version);
      factsCache.set(k, f);
      for (const i of f?.images ?? []) imagePlatforms.set(i.ref, { platforms: i.platforms, missing: i.missing });
    }
    return factsCache.get(k);
  };

  const keysInstalled = new Set(input.sealingKeysInstalled ?? clustersNeedingSealingKey(input.model.clusters));
  for (const cluster of input.model.clusters) {
    const state = cluster.adopted
      ? ClusterState.managed(providedByInventory(cluster))
      : ClusterState.afterK3s(input.k3sDisable?.[cluster.name] ?? []);
    // the key pair the controller decrypts with: the bootstrap installs the management cluster's
    // (below), registration the others' (K3s manifests directory or the API) before any sync
    if (!cluster.isManagement && keysInstalled.has(cluster.name))
      state.objects.set(objectKey('Secret', 'sealed-secrets-key', 'kube-system'), { owner: 'registration (active sealing key)' });
    const clusterNeeds: PodNeeds[] = [];
    needs.set(cluster.name, clusterNeeds);
    const nodes = registeredNodes(cluster, input.embeddedEtcd?.[cluster.name] ?? false);
    const ctx: Ctx = {
      input,
      cluster,
      nodes,
      state,
      out,
      factsOf,
      imagePlatforms,
      needs: clusterNeeds,
      deferred: [],
      final: false,
      unknownNs: new Set(),
      sealedSecretsController: false,
      keysInstalled,
    };

    if (cluster.isManagement) {
      out.phase = `${cluster.name}: bootstrap (K3s HelmChart installs Argo CD)`;
      bootstrap(ctx);
      out.phase = `${cluster.name}: root Application (bootstrap/)`;
      rootSync(ctx);
    }
    const apps = [...input.files]
      .filter(([f]) => f.startsWith(`clusters/${cluster.name}/apps/`) && f.endsWith('.yaml'))
      .flatMap(([f, c]) => parseDocs(f, c))
      .filter((o) => o.kind === 'Application')
      .map((o) => appView(input.files, o))
      .sort((a, b) => a.wave - b.wave || (a.name < b.name ? -1 : 1));
    const waves = [...new Set(apps.map((a) => a.wave))];
    for (const w of waves) {
      out.phase = `${cluster.name}: wave ${w}`;
      const units = apps.filter((a) => a.wave === w).map((a) => unitOf(ctx, a, componentOf(a, cluster.name)));
      // a wave's Applications sync in parallel: their objects exist before any of them must be Healthy
      for (const u of units) applyObjects(ctx, u);
      for (const u of units) checkUnit(ctx, u);
    }
    out.phase = `${cluster.name}: after the last wave`;
    clusterWideChecks(ctx);
  }
  return { findings: out.list, needs };
}

/** what the inventory says an adopted cluster's provider has: its StorageClass, a RuntimeClass components name */
function providedByInventory(cluster: ClusterModel): { kind: string; name: string; why: string }[] {
  const out = [{ kind: 'StorageClass', name: cluster.storageClass, why: 'vars.storageClass' }];
  for (const c of cluster.components) {
    const rc = c.settings.runtimeClassName;
    if (typeof rc === 'string' && rc) out.push({ kind: 'RuntimeClass', name: rc, why: `components.${c.name}.runtimeClassName` });
  }
  return out;
}

interface Ctx {
  input: BringupInput;
  cluster: ClusterModel;
  /** the cluster's nodes with the labels they carry once registered (node-labels.ts) */
  nodes: NodeModel[];
  state: ClusterState;
  out: Findings;
  factsOf: (chart: string, version: string) => ChartFacts | undefined;
  imagePlatforms: Map<string, { platforms: string[]; missing?: string }>;
  needs: PodNeeds[];
  /** references checked once every wave has synced */
  deferred: { component: string; object: string; field: string; kind: string; name: string; ns?: string; phase: string }[];
  final: boolean;
  /** namespaces of releases without facts */
  unknownNs: Set<string>;
  /** the Sealed Secrets controller was deployed on this cluster by now (a release of its chart) */
  sealedSecretsController: boolean;
  keysInstalled: Set<string>;
}

// ---------------------------------------------------------------- phases

function bootstrap(ctx: Ctx): void {
  const { input, state } = ctx;
  const b = input.bootstrap ?? {
    argocdRelease: 'argocd',
    argocdValuesFile: 'platform/argocd/values.yaml',
    argocdChart: input.model.argocd.chart,
  };
  const text = input.files.get(b.argocdValuesFile);
  if (text === undefined) {
    ctx.out.add({
      check: 'facts',
      component: 'argocd',
      object: b.argocdValuesFile,
      field: '',
      reason: 'the bootstrap values file is not in the rendered repository',
    });
    return;
  }
  // helm-controller creates the target namespace (createNamespace: true in the HelmChart)
  state.objects.set(objectKey('Namespace', ARGOCD_NAMESPACE), { owner: 'bootstrap' });
  for (const o of input.bootstrapObjects ?? []) {
    state.objects.set(objectKey(o.kind, o.metadata.name, o.metadata.namespace), { owner: 'bootstrap (K3s manifests directory)', obj: o });
  }
  const app: AppView = {
    file: b.argocdValuesFile,
    name: 'argocd',
    namespace: ARGOCD_NAMESPACE,
    wave: 0,
    syncOptions: [],
    helm: [],
    objects: [],
  };
  const parsed = YAML.parse(text) as unknown;
  const values: Values = isMap(parsed) ? parsed : {};
  const unit = unitFromReleases(ctx, 'argocd', app, [
    {
      component: 'argocd',
      namespace: ARGOCD_NAMESPACE,
      chart: b.argocdChart.chart,
      version: b.argocdChart.version,
      release: b.argocdRelease,
      values,
      layers: [{ file: b.argocdValuesFile, values }],
    },
  ]);
  applyObjects(ctx, unit, 'bootstrap HelmChart argocd');
  checkUnit(ctx, unit);
  // the Sealed Secrets key pair the bootstrap installs before the controller starts; the controller
  // takes any Secret labelled sealedsecrets.bitnami.com/sealed-secrets-key=active, so it stands
  // for the chart's `secretName` (default sealed-secrets-key)
  // (roles/argocd-bootstrap always installs the management cluster's key)
  if (!input.sealingKeysInstalled || ctx.keysInstalled.has(ctx.cluster.name))
    state.objects.set(objectKey('Secret', 'sealed-secrets-key', 'kube-system'), { owner: 'bootstrap (active sealing key)' });
  if (!unit.releases[0].facts) {
    // keep simulating with Argo CD's own CRDs, whose absence the facts finding already reports
    for (const c of ['applications.argoproj.io', 'applicationsets.argoproj.io', 'appprojects.argoproj.io'])
      state.crds.set(c, 'bootstrap (assumed)');
  }
  if (!state.crds.has('applications.argoproj.io')) {
    ctx.out.add({
      check: 'dry-run',
      component: 'argocd',
      object: 'Application argocd/root',
      field: 'kind',
      reason: 'the root Application needs the CRD applications.argoproj.io, which the Argo CD chart does not install with these values',
    });
  }
}

function rootSync(ctx: Ctx): void {
  const { input } = ctx;
  const root = parseDocs('bootstrap/root.yaml', input.files.get('bootstrap/root.yaml') ?? '').find((o) => o.kind === 'Application');
  if (!root) {
    ctx.out.add({
      check: 'facts',
      component: 'argocd',
      object: 'bootstrap/root.yaml',
      field: '',
      reason: 'no root Application in the rendered repository',
    });
    return;
  }
  const view = appView(input.files, root);
  const unit = unitOf(ctx, view, 'argocd');
  // Argo CD owned twice: the bootstrap HelmChart stays in K3s' manifests directory (helm-controller
  // keeps reconciling it) while an Application manages the same release
  const b = input.bootstrap ?? { argocdRelease: 'argocd', argocdChart: input.model.argocd.chart };
  const helmChartRemains = input.bootstrap?.helmChartRemains ?? true;
  const adoptedBy = input.bootstrap?.adoptedBy;
  // a handed-over HelmChart is inert once its adopter runs: that Application is the one owner
  const secondOwner = (o: K8sObject) => helmChartRemains || (adoptedBy !== undefined && o.metadata.name !== adoptedBy);
  for (const o of unit.objects.filter((x) => x.kind === 'Application' && secondOwner(x))) {
    const v = appView(input.files, o);
    for (const h of v.helm) {
      if (h.chart === b.argocdChart.chart && h.releaseName === b.argocdRelease && v.namespace === ARGOCD_NAMESPACE) {
        ctx.out.add({
          check: 'ownership',
          component: 'argocd',
          object: `Application ${ARGOCD_NAMESPACE}/${o.metadata.name} (${o.file})`,
          field: 'spec.sources',
          reason: `Argo CD is owned twice: the bootstrap's K3s HelmChart "${b.argocdRelease}" and this Application both install chart ${h.chart} as release ${h.releaseName} in ${ARGOCD_NAMESPACE}; helm-controller and Argo CD would revert each other`,
        });
      }
    }
  }
  applyObjects(ctx, unit);
  checkUnit(ctx, unit);
}

// ---------------------------------------------------------------- one Application

function unitOf(ctx: Ctx, app: AppView, component: string): SyncUnit {
  const releases: Release[] = app.helm.map((h) => ({
    component,
    namespace: app.namespace,
    chart: h.chart,
    version: h.version,
    release: h.releaseName,
    values: h.values,
    layers: valueFileLayers(ctx.input.files, h),
  }));
  return unitFromReleases(ctx, component, app, releases);
}

function unitFromReleases(ctx: Ctx, component: string, app: AppView, releases: Release[]): SyncUnit {
  const pods: PodGroup[] = [];
  for (const r of releases) {
    r.facts = ctx.factsOf(r.chart, r.version);
    if (!r.facts) {
      ctx.unknownNs.add(r.namespace);
      ctx.out.add({
        check: 'facts',
        component,
        object: `chart ${r.chart}@${r.version}`,
        field: 'targetRevision',
        reason: `no facts file lib/gitops/chart-facts/${r.chart}@${r.version}.yaml: this pin was not read from upstream (unknown pin), nothing it creates can be checked`,
      });
      continue;
    }
    pods.push(...chartPods(component, r.namespace, r.facts, r.release, r.values));
  }
  pods.push(...manifestPods(component, app.namespace, app.objects));
  return { component, app, releases, objects: app.objects, pods };
}

function objNs(o: K8sObject, app: AppView): string | undefined {
  return CLUSTER_SCOPED.has(o.kind) ? undefined : (o.metadata.namespace ?? app.namespace);
}

/** dry run, namespaces, then the objects (chart-created and manifests) enter the state */
function applyObjects(ctx: Ctx, u: SyncUnit, ownerOverride?: string): void {
  const { state, out } = ctx;
  const owner = ownerOverride ?? `Application ${u.app.name}`;
  const createNs = u.app.syncOptions.includes('CreateNamespace=true');
  if (u.app.namespace && !state.has('Namespace', u.app.namespace) && !ownerOverride) {
    if (createNs) state.objects.set(objectKey('Namespace', u.app.namespace), { owner: `${owner} (CreateNamespace)` });
  }
  const syncCrds = new Set<string>();
  for (const r of u.releases)
    for (const c of r.facts?.crds ?? []) if (truthy(r.values, c.when, r.facts?.values.defaults)) syncCrds.add(c.name);
  for (const o of u.objects) {
    if (o.kind === 'CustomResourceDefinition') syncCrds.add(o.metadata.name);
  }
  const syncNs = new Set(u.objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
  const ordered = [...u.objects].sort((a, b) => waveOf(a) - waveOf(b) || kindRank(a.kind) - kindRank(b.kind));
  for (const o of ordered) {
    const object = `${o.kind} ${objNs(o, u.app) ? `${objNs(o, u.app)}/` : ''}${o.metadata.name}`;
    const crd = crdNameOf(o.apiVersion, o.kind);
    if (crd && !state.crds.has(crd) && !syncCrds.has(crd) && !hasSyncOption(o, 'SkipDryRunOnMissingResource=true')) {
      out.add({
        check: 'dry-run',
        component: u.component,
        object: `${object} (${o.file})`,
        field: 'apiVersion',
        reason: `CRD ${crd} is not installed before this sync and not part of it: the dry run fails the whole sync (mark it argocd.argoproj.io/sync-options: SkipDryRunOnMissingResource=true or install the CRD in an earlier wave)`,
      });
    }
    const ns = objNs(o, u.app);
    if (ns && !state.has('Namespace', ns) && !syncNs.has(ns)) {
      out.add({
        check: 'namespace',
        component: u.component,
        object: `${object} (${o.file})`,
        field: 'metadata.namespace',
        reason: `namespace ${ns} does not exist when this object is applied (no CreateNamespace=true, no earlier Namespace object)`,
      });
    }
  }
  for (const o of ordered) {
    const ns = objNs(o, u.app);
    if (o.kind === 'CustomResourceDefinition') state.crds.set(o.metadata.name, owner);
    addObject(
      ctx,
      u.component,
      owner,
      o.kind,
      o.metadata.name,
      ns,
      o,
      o.kind === 'StorageClass' ? o.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true' : undefined,
    );
    if (o.kind === 'SealedSecret') addObject(ctx, u.component, owner, 'Secret', o.metadata.name, ns, o);
    // operators of this or an earlier wave create these once they reconcile the resource
    for (const c of operatorCreated(o)) addObject(ctx, u.component, owner, c.kind, c.name, ns);
    if (o.kind === 'Namespace') syncNs.add(o.metadata.name);
  }
  for (const c of syncCrds) if (!state.crds.has(c)) state.crds.set(c, owner);
  if (u.releases.some((r) => r.chart === SEALED_SECRETS_CHART)) ctx.sealedSecretsController = true;
  for (const r of u.releases) {
    if (!r.facts) continue;
    for (const s of r.facts.services ?? [])
      if (truthy(r.values, s.when, r.facts.values.defaults))
        addObject(
          ctx,
          u.component,
          owner,
          'Service',
          expandName(s.name, r.release, r.chart, r.values, r.facts.values.defaults),
          r.namespace,
        );
    for (const o of r.facts.objects ?? []) {
      if (!truthy(r.values, o.when, r.facts.values.defaults)) continue;
      addObject(
        ctx,
        u.component,
        owner,
        o.kind,
        expandName(o.name, r.release, r.chart, r.values, r.facts.values.defaults),
        r.namespace,
        undefined,
        o.default,
      );
    }
  }
}

function addObject(
  ctx: Ctx,
  component: string,
  owner: string,
  kind: string,
  name: string,
  ns: string | undefined,
  obj?: K8sObject,
  isDefault?: boolean,
): void {
  const key = objectKey(kind, name, ns);
  const prev = ctx.state.objects.get(key);
  if (prev && prev.owner !== owner && kind !== 'Namespace') {
    ctx.out.add({
      check: 'collision',
      component,
      object: `${kind} ${ns ? `${ns}/` : ''}${name}`,
      field: 'metadata.name',
      reason: `already exists, created by ${prev.owner}: two owners would fight over it (${owner} and ${prev.owner})`,
    });
  }
  if (!prev || kind !== 'Namespace') ctx.state.objects.set(key, { owner, obj, default: isDefault });
}

/** the chart of the Sealed Secrets controller (bitnami-labs/sealed-secrets) */
const SEALED_SECRETS_CHART = 'sealed-secrets';

function checkUnit(ctx: Ctx, u: SyncUnit): void {
  checkSealing(ctx, u);
  for (const r of u.releases) if (r.facts) checkRelease(ctx, u, r);
  for (const p of u.pods) checkPods(ctx, u, p);
  for (const o of u.objects) checkObjectRefs(ctx, u, o);
}

/**
 * A SealedSecret is decrypted on the cluster it is synced to, by that cluster's controller with
 * that cluster's key: Argo CD reports it Healthy only once decrypted (argoproj/argo-cd
 * resource_customizations/bitnami.com/SealedSecret/health.lua @ 09762a2d72d37831e532d7c8182d2e2293ea5baa:
 * Progressing until condition Synced=True, Degraded when decryption fails), so without either its
 * Application (and every later wave) never becomes Healthy, and its Secret never exists.
 */
function checkSealing(ctx: Ctx, u: SyncUnit): void {
  const sealed = u.objects.filter((o) => o.kind === 'SealedSecret');
  if (!sealed.length) return;
  const { cluster, state } = ctx;
  for (const o of sealed) {
    const object = `SealedSecret ${objNs(o, u.app) ?? ''}/${o.metadata.name} (${o.file})`;
    if (!ctx.sealedSecretsController) {
      ctx.out.add({
        check: 'sealing',
        component: u.component,
        object,
        field: 'kind',
        reason: `no Sealed Secrets controller is deployed on cluster ${cluster.name} by this wave: nothing decrypts it (enable sealed-secrets there, in an earlier wave)`,
      });
    }
    if (!state.has('Secret', 'sealed-secrets-key', 'kube-system')) {
      ctx.out.add({
        check: 'sealing',
        component: u.component,
        object,
        field: 'spec.encryptedData',
        reason: `cluster ${cluster.name}'s own Sealed Secrets key is not installed there before this sync: its controller would make a new key and cannot decrypt what was sealed for ${cluster.name}`,
      });
    }
  }
}

function checkRelease(ctx: Ctx, u: SyncUnit, r: Release): void {
  const f = r.facts!;
  const obj = `chart ${r.chart}@${r.version}`;
  for (const use of f.uses ?? []) {
    // PriorityClasses are checked per pod at admission (checkPods), which names the pod
    if (use.kind === 'PriorityClass' || !truthy(r.values, use.when, f.values.defaults)) continue;
    const name = fromPath<string>(r.values, use.name);
    if (typeof name !== 'string' || !name) continue;
    const expanded = expandName(name, r.release, r.chart, r.values, f.values.defaults);
    // a Service may be named by its in-cluster host (name.namespace.svc.cluster.local)
    const svc = use.kind === 'Service' ? serviceOfHost(expanded, r.namespace) : undefined;
    if (use.kind === 'Service' && !svc) continue; // a host outside the cluster
    need(ctx, u.component, obj, use.name.path ?? 'uses', use.kind, svc?.name ?? expanded, svc?.namespace ?? r.namespace);
  }
  if (f.maintained !== true) {
    // a component the catalog keeps knowingly (with its reason) is a warning; any other is an error
    const accepted = CATALOG.find((d) => d.name === u.component)?.acceptsUnmaintained;
    ctx.out.add({
      check: 'maintained',
      component: u.component,
      object: obj,
      field: 'repoURL',
      reason: `source is not maintained: ${f.maintained}${accepted ? `; accepted by the catalog: ${accepted}` : ''}`,
      ...(accepted ? { severity: 'warning' as const } : {}),
    });
  }
  for (const layer of r.layers) {
    for (const key of leafPaths(layer.values)) {
      if (!keyKnown(f, key))
        ctx.out.add({
          check: 'values',
          component: u.component,
          object: `${obj} (${layer.file})`,
          field: key,
          reason: `the chart's values.yaml at ${f.source?.tag ?? r.version} has no such key and no template reads it: dead configuration`,
        });
    }
  }
  for (const rv of f.requiredValues ?? []) {
    const v = getPath(r.values, rv.path);
    if (JSON.stringify(v) !== JSON.stringify(rv.value))
      ctx.out.add({
        check: 'values',
        component: u.component,
        object: obj,
        field: rv.path,
        reason: `must be ${JSON.stringify(rv.value)} (is ${JSON.stringify(v)}): ${rv.why}`,
      });
  }
  // references in values: secrets, storage classes, ingress classes, issuers, in-cluster service hosts
  walkValues(r.values, '', (p, v) => {
    const leaf = p.split('.').pop()!;
    if (typeof v !== 'string' || v === '') return;
    if (/^existingSecret(Name)?$/.test(leaf)) need(ctx, u.component, obj, p, 'Secret', v, r.namespace);
    else if (/^storageClass(Name)?$/.test(leaf) && v !== '-') need(ctx, u.component, obj, p, 'StorageClass', v);
    else if (leaf === 'ingressClassName') need(ctx, u.component, obj, p, 'IngressClass', v);
    else if (p.endsWith('cert-manager.io/cluster-issuer')) need(ctx, u.component, obj, p, 'ClusterIssuer', v);
    for (const m of v.matchAll(/\b([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?\b/g))
      need(ctx, u.component, obj, p, 'Service', m[1], m[2]);
  });
}

function walkValues(v: unknown, p: string, fn: (path: string, v: unknown) => void): void {
  if (isMap(v)) for (const [k, x] of Object.entries(v)) walkValues(x, p ? `${p}.${k}` : k, fn);
  else if (Array.isArray(v)) v.forEach((x, i) => walkValues(x, `${p}[${i}]`, fn));
  else fn(p, v);
}

// Ingress classes and cert-manager issuers are read by controllers that retry: a reference to one
// created in a later wave resolves then and blocks no sync, so these are checked after the last wave
const EVENTUAL = new Set(['IngressClass', 'ClusterIssuer', 'Issuer']);

function need(ctx: Ctx, component: string, object: string, field: string, kind: string, name: string, ns?: string): void {
  // installed CRDs are kept apart from objects (state.crds: what the API server serves)
  if (kind === 'CustomResourceDefinition' ? ctx.state.crds.has(name) : ctx.state.has(kind, name, CLUSTER_SCOPED.has(kind) ? undefined : ns))
    return;
  // what a chart without facts creates is unknown: its missing facts are the finding, not this
  if (ns && !CLUSTER_SCOPED.has(kind) && ctx.unknownNs.has(ns)) return;
  if (EVENTUAL.has(kind) && !ctx.final) {
    ctx.deferred.push({ component, object, field, kind, name, ns, phase: ctx.out.phase });
    return;
  }
  if (ctx.final) {
    ctx.out.add({
      check: 'reference',
      component,
      object,
      field,
      reason: `${kind} ${ns && !CLUSTER_SCOPED.has(kind) ? `${ns}/` : ''}${name} is never created (no component of this cluster creates it)`,
    });
    return;
  }
  ctx.out.add({
    check: 'reference',
    component,
    object,
    field,
    reason: `${kind} ${ns && !CLUSTER_SCOPED.has(kind) ? `${ns}/` : ''}${name} does not exist when this wave syncs (nothing earlier or in the same wave creates it)`,
  });
}

function checkObjectRefs(ctx: Ctx, u: SyncUnit, o: K8sObject): void {
  const ns = objNs(o, u.app);
  const object = `${o.kind} ${ns ? `${ns}/` : ''}${o.metadata.name} (${o.file})`;
  if (o.kind === 'Ingress') {
    const cls = o.spec?.ingressClassName;
    if (typeof cls === 'string') need(ctx, u.component, object, 'spec.ingressClassName', 'IngressClass', cls);
    const issuer = o.metadata.annotations?.['cert-manager.io/cluster-issuer'];
    if (issuer) need(ctx, u.component, object, 'metadata.annotations.cert-manager.io/cluster-issuer', 'ClusterIssuer', issuer);
    walkValues(o.spec, 'spec', (p, v) => {
      if (p.endsWith('.service.name') && typeof v === 'string') need(ctx, u.component, object, p, 'Service', v, ns);
    });
  }
  if (o.kind === 'PersistentVolumeClaim' && typeof o.spec?.storageClassName === 'string')
    need(ctx, u.component, object, 'spec.storageClassName', 'StorageClass', o.spec.storageClassName);
  if (o.kind === 'Certificate' && isMap(o.spec?.issuerRef)) {
    const ref = o.spec.issuerRef as Values;
    need(ctx, u.component, object, 'spec.issuerRef', String(ref.kind ?? 'Issuer'), String(ref.name), ns);
  }
}

// ---------------------------------------------------------------- pods

function resourcesAfterLimitRange(
  ctx: Ctx,
  ns: string,
  c: PodGroup['containers'][number],
): { req: Capacity; lim: Capacity; missing: string[] } {
  const lr = ctx.state
    .list('LimitRange', ns)
    .map(([, e]) => e.obj)
    .find(Boolean);
  const item = ((lr?.spec?.limits as Values[]) ?? []).find((l) => isMap(l) && l.type === 'Container') as Values | undefined;
  const dReq = (item?.defaultRequest ?? {}) as Values;
  const dLim = (item?.default ?? {}) as Values;
  const req = (c.resources.requests ?? {}) as Values;
  const lim = (c.resources.limits ?? {}) as Values;
  const missing: string[] = [];
  const pick = (res: 'cpu' | 'memory', parse: (v: unknown) => number | undefined) => {
    const l = parse(lim[res]) ?? parse(dLim[res]);
    // the API server defaults a missing request to the limit the container sets, else the LimitRange's
    const r = parse(req[res]) ?? (lim[res] !== undefined ? parse(lim[res]) : parse(dReq[res]));
    if (l === undefined) missing.push(`limits.${res}`);
    if (r === undefined) missing.push(`requests.${res}`);
    return { r: r ?? 0, l: l ?? 0 };
  };
  const cpu = pick('cpu', milliCpu);
  const mem = pick('memory', memoryMi);
  return { req: { milliCpu: cpu.r, memoryMi: mem.r }, lim: { milliCpu: cpu.l, memoryMi: mem.l }, missing };
}

function checkPods(ctx: Ctx, u: SyncUnit, p: PodGroup): void {
  const { state, out } = ctx;
  if (p.priorityClassName && !state.has('PriorityClass', p.priorityClassName)) {
    out.add({
      check: 'priority-class',
      component: p.component,
      object: p.object,
      field: p.priorityField,
      reason: `PriorityClass ${p.priorityClassName} does not exist when this pod is created: admission rejects it${p.hook ? ` (Helm hook ${p.hook})` : ''}`,
    });
  }
  if (p.namespace && !state.has('Namespace', p.namespace)) {
    out.add({
      check: 'namespace',
      component: p.component,
      object: p.object,
      field: 'metadata.namespace',
      reason: `namespace ${p.namespace} does not exist when the pods are created`,
    });
  }
  const { nodes, excluded } = candidateNodes(p, ctx.nodes);
  if (nodes.length === 0) {
    out.add({
      check: 'scheduling',
      component: p.component,
      object: p.object,
      field: p.schedulingField,
      reason: `no node can run these pods: ${excluded.join('; ')}`,
    });
  }
  for (const c of p.containers) {
    if (!c.image) continue;
    const known = ctx.imagePlatforms.get(c.image);
    if (!known) {
      out.add({
        check: 'facts',
        component: p.component,
        object: p.object,
        field: `containers.${c.name}.image`,
        reason: `image ${c.image} is in no facts file: whether it exists and for which architectures is unknown`,
      });
      continue;
    }
    const platforms = known.platforms;
    if (known.missing || platforms.length === 0) {
      out.add({
        check: 'facts',
        component: p.component,
        object: p.object,
        field: `containers.${c.name}.image`,
        reason: `image ${c.image} cannot be pulled: ${known.missing ?? 'published for no platform'}`,
      });
      continue;
    }
    for (const n of nodes) {
      if (n.arch && !platforms.includes(`linux/${n.arch}`)) {
        out.add({
          check: 'image-arch',
          component: p.component,
          object: p.object,
          field: `containers.${c.name}.image`,
          reason: `image ${c.image} is published for ${platforms.join(', ')}, not linux/${n.arch}, but the pods may land on ${n.name}`,
        });
      }
    }
  }
  // host prerequisites on every node the pods may land on
  const prereqs = new Map<string, string>();
  for (const r of u.releases) {
    for (const h of r.facts?.hostPrerequisites ?? []) prereqs.set(h.package, h.why);
    for (const h of r.facts?.hostRequirements ?? []) {
      if (!truthy(r.values, h.when, r.facts?.values.defaults)) continue;
      const names = h.workloads.map((w) => expandName(w, r.release, r.chart, r.values, r.facts?.values.defaults));
      if (!names.some((n) => p.object.endsWith(`/${n}`) || (n.includes('<') && p.object.includes(`/${n.split('<')[0]}`)))) continue;
      const pkgs = packagesFor(h.what);
      if (!pkgs.length) {
        if (!ctx.cluster.adopted)
          out.add({
            check: 'host-prerequisite',
            component: p.component,
            object: p.object,
            field: 'hostRequirements',
            reason: `needs "${h.what}" on its nodes (${h.why}), which no role is known to provide`,
          });
        continue;
      }
      for (const pkg of pkgs) prereqs.set(pkg, h.why);
    }
  }
  for (const h of p.hostPrerequisites) prereqs.set(h, 'the workload needs it on its node');
  // an adopted cluster's nodes are the provider's: what is installed on them is not the roles' doing
  if (ctx.cluster.adopted) prereqs.clear();
  for (const [pkg, why] of prereqs) {
    const lacking = nodes.filter((n) => !(ctx.input.hostPackages?.(n.name) ?? []).includes(pkg));
    if (lacking.length)
      out.add({
        check: 'host-prerequisite',
        component: p.component,
        object: p.object,
        field: 'nodes',
        reason: `needs ${pkg} on ${lacking.map((n) => n.name).join(', ')} (${why}), which no role installs there`,
      });
  }
  for (const ref of p.refs) {
    if (ref.optional) continue;
    need(ctx, p.component, p.object, ref.field, ref.kind, ref.name, ref.kind === 'StorageClass' ? undefined : p.namespace);
  }
  // resources: LimitRange defaults, request <= limit
  let req: Capacity = { milliCpu: 0, memoryMi: 0 };
  let lim: Capacity = { milliCpu: 0, memoryMi: 0 };
  const quota = state
    .list('ResourceQuota', p.namespace)
    .map(([, e]) => e.obj)
    .find(Boolean);
  for (const c of p.containers) {
    const r = resourcesAfterLimitRange(ctx, p.namespace, c);
    if (r.req.milliCpu > r.lim.milliCpu && r.lim.milliCpu > 0)
      out.add({
        check: 'resources',
        component: p.component,
        object: p.object,
        field: `${c.field}.requests.cpu`,
        reason: `request ${fmtCpu(r.req.milliCpu)} > limit ${fmtCpu(r.lim.milliCpu)} (after LimitRange defaults): the API server rejects the pod`,
      });
    if (r.req.memoryMi > r.lim.memoryMi && r.lim.memoryMi > 0)
      out.add({
        check: 'resources',
        component: p.component,
        object: p.object,
        field: `${c.field}.requests.memory`,
        reason: `request ${fmtMem(r.req.memoryMi)} > limit ${fmtMem(r.lim.memoryMi)} (after LimitRange defaults): the API server rejects the pod`,
      });
    if (quota && r.missing.length)
      out.add({
        check: 'resources',
        component: p.component,
        object: p.object,
        field: c.field,
        reason: `container ${c.name} sets no ${r.missing.join(', ')} and no LimitRange defaults them: the ResourceQuota of ${p.namespace} rejects the pod`,
      });
    req = { milliCpu: req.milliCpu + r.req.milliCpu, memoryMi: req.memoryMi + r.req.memoryMi };
    lim = { milliCpu: lim.milliCpu + r.lim.milliCpu, memoryMi: lim.memoryMi + r.lim.memoryMi };
  }
  const pods = p.perNode ? nodes.length : p.replicas + p.surge;
  ctx.needs.push({ group: p, pods, nodes, requests: req, limits: lim });
  // a pod larger than every node it may land on never schedules
  const caps = nodes.map((n) => ctx.input.nodeCapacity?.[n.name] ?? n.capacity).filter((c): c is Capacity => !!c);
  if (caps.length && caps.length === nodes.length && !caps.some((c) => c.milliCpu >= req.milliCpu && c.memoryMi >= req.memoryMi)) {
    out.add({
      check: 'capacity',
      component: p.component,
      object: p.object,
      field: 'resources.requests',
      reason: `one pod requests ${fmtCpu(req.milliCpu)} CPU / ${fmtMem(req.memoryMi)}, more than any node it may land on has (${nodes.map((n) => n.name).join(', ')})`,
    });
  }
}

// ---------------------------------------------------------------- cluster-wide

function clusterWideChecks(ctx: Ctx): void {
  const { state, out, cluster, input } = ctx;
  ctx.final = true;
  for (const d of ctx.deferred) need(ctx, d.component, `${d.object} (${d.phase})`, d.field, d.kind, d.name, d.ns);
  // quotas: every pod at its peak (replicas + surge, hooks, DaemonSet x nodes, HPA maxima)
  const byNs = new Map<string, PodNeeds[]>();
  for (const n of ctx.needs) byNs.set(n.group.namespace, [...(byNs.get(n.group.namespace) ?? []), n]);
  for (const [ns, list] of byNs) {
    const quota = state
      .list('ResourceQuota', ns)
      .map(([, e]) => e.obj)
      .find(Boolean);
    const hard = (quota?.spec?.hard ?? {}) as Values;
    if (!quota) continue;
    const sum = (f: (n: PodNeeds) => number) => list.reduce((s, n) => s + f(n) * n.pods, 0);
    const used: Record<string, number> = {
      'requests.cpu': sum((n) => n.requests.milliCpu),
      'limits.cpu': sum((n) => n.limits.milliCpu),
      'requests.memory': sum((n) => n.requests.memoryMi),
      'limits.memory': sum((n) => n.limits.memoryMi),
      pods: list.reduce((s, n) => s + n.pods, 0),
    };
    for (const [res, amount] of Object.entries(used)) {
      if (hard[res] === undefined) continue;
      const cap = res.endsWith('cpu')
        ? (milliCpu(hard[res]) ?? 0)
        : res.endsWith('memory')
          ? (memoryMi(hard[res]) ?? 0)
          : Number(hard[res]);
      if (amount <= cap) continue;
      const fmt = (x: number) => (res.endsWith('cpu') ? fmtCpu(x) : res.endsWith('memory') ? fmtMem(x) : String(x));
      const top = [...list]
        .sort((a, b) => per(b, res) * b.pods - per(a, res) * a.pods)
        .slice(0, 4)
        .map((n) => `${n.group.object}${n.group.hook ? ` [hook]` : ''} ${n.pods}x${fmt(per(n, res))}`);
      out.add({
        check: 'quota',
        component: list[0].group.component,
        object: `ResourceQuota ${ns}/${quota.metadata.name}`,
        field: `spec.hard.${res}`,
        reason: `${fmt(amount)} needed at the peak of a rollout (replicas + surge, hooks, DaemonSet pods x nodes, HPA maxima) > quota ${String(hard[res])}: the last pods are rejected; largest: ${top.join(', ')}`,
      });
    }
  }
  // two default StorageClasses: PVCs without a class get either (Kubernetes picks the newest)
  const defaults = state.list('StorageClass').filter(([, e]) => e.default);
  if (defaults.length > 1) {
    out.add({
      check: 'collision',
      component: defaults.map(([, e]) => e.owner).join(' + '),
      object: defaults.map(([k]) => k).join(', '),
      field: 'metadata.annotations.storageclass.kubernetes.io/is-default-class',
      reason: `${defaults.length} default StorageClasses: only one may be the default (disable local-path's default or the chart's)`,
    });
  }
  // MetalLB next to K3s' ServiceLB: both answer LoadBalancer Services
  const disabled = input.k3sDisable?.[cluster.name] ?? [];
  const metallb = [...state.crds].find(([c]) => c.endsWith('.metallb.io'));
  if (metallb && !cluster.adopted && !disabled.includes(K3S_SERVICELB)) {
    out.add({
      check: 'collision',
      component: 'metallb',
      object: `cluster ${cluster.name}`,
      field: 'vars.k3s.disable',
      reason:
        "MetalLB is installed but K3s' ServiceLB is not disabled: both would serve LoadBalancer Services (add servicelb to the cluster's k3s disable list)",
    });
  }
  // the whole cluster: requests of every pod against the nodes' capacity, where the inventory gives it
  const caps: Record<string, Capacity> = {
    ...Object.fromEntries(cluster.nodes.filter((n) => n.capacity).map((n) => [n.name, n.capacity!])),
    ...(input.nodeCapacity ?? {}),
  };
  if (cluster.nodes.length && cluster.nodes.every((n) => caps[n.name])) {
    const total = cluster.nodes.reduce(
      (s, n) => ({ milliCpu: s.milliCpu + caps[n.name].milliCpu, memoryMi: s.memoryMi + caps[n.name].memoryMi }),
      { milliCpu: 0, memoryMi: 0 },
    );
    const reqCpu = ctx.needs.reduce((s, n) => s + n.requests.milliCpu * n.pods, 0);
    const reqMem = ctx.needs.reduce((s, n) => s + n.requests.memoryMi * n.pods, 0);
    if (reqCpu > total.milliCpu || reqMem > total.memoryMi) {
      out.add({
        check: 'capacity',
        component: '*',
        object: `cluster ${cluster.name}`,
        field: 'hosts.*.vars.capacity',
        reason: `the enabled components request ${fmtCpu(reqCpu)} CPU / ${fmtMem(reqMem)}, the nodes have ${fmtCpu(total.milliCpu)} / ${fmtMem(total.memoryMi)}`,
      });
    }
  }
}

function per(n: PodNeeds, res: string): number {
  if (res === 'pods') return 1;
  const side = res.startsWith('requests') ? n.requests : n.limits;
  return res.endsWith('cpu') ? side.milliCpu : side.memoryMi;
}
