// The render model: everything the templates need, computed from the inventory once. Pure and
// deterministic: arrays are sorted, nothing depends on time or randomness.
import type { ClusterSpec, Inventory, NodePoolSpec } from '../inventory/model.ts';
import { remoteApiServerUrl } from '../inventory/sites.ts';
import {
  ARGOCD_CHART,
  ARGOCD_NAMESPACE,
  CATALOG,
  PRIORITY_CLASSES,
  TIER_PRIORITY_CLASS,
  TIER_WAVE,
  type ChartRef,
  type ComponentDef,
  type SecretDef,
  type Tier,
} from './catalog.ts';
import { affinityFor, kubeArch, nodeModel, placementFor, type NodeModel, type PlacementModel } from './placement.ts';
import { clusterCapacity, quotaFor, LIMIT_FACTOR, PODS_PER_WEIGHT, USABLE_FRACTION, type Capacity, type QuotaModel } from './quota.ts';
import { hostedRepoOf, hostedRepoUrl, inventoryEndpoint } from './hosted-repo.ts';

export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

export interface ComponentModel {
  name: string;
  description: string;
  tier: Tier;
  wave: number;
  namespace: string;
  priorityClassName: string;
  charts: ChartRef[];
  /** the chart whose values file is values.yaml (inventory `values:` overrides go there) */
  serverSideApply: boolean;
  kustomize: boolean;
  placement: PlacementModel;
  /** nodeSelector / affinity / tolerations ready for chart values and pod specs */
  scheduling: { nodeSelector: Record<string, string>; affinity?: Record<string, unknown>; tolerations: PlacementModel['tolerations'] };
  /** free-form settings from the inventory (everything but enabled/values), over the defaults */
  settings: Record<string, unknown>;
  /** inventory `values:`: raw chart values merged last */
  overrides?: Record<string, unknown>;
  hostname: string;
  secrets: SecretDef[];
}

export interface NamespaceModel {
  name: string;
  tier: Tier;
  priorityClassName: string;
  components: string[];
  weight: number;
  floor: Capacity;
  quota?: QuotaModel;
}

export interface ClusterModel {
  name: string;
  domain: string;
  isManagement: boolean;
  /** built elsewhere (`clusters.<name>.kubeconfig`): no hosts, nodes from its node pools, no K3s */
  adopted: boolean;
  /**
   * Argo CD can reach it: the management cluster, or a cluster whose recorded access
   * (.clusterseed/<name>/argocd-access.json) matches `server`; only these get a cluster Secret
   */
  registered: boolean;
  /** API server URL as Argo CD on the management cluster reaches it */
  server: string;
  nodes: NodeModel[];
  capacity: Capacity;
  storageClass: string;
  components: ComponentModel[];
  /** name -> component, for templates that look at other components */
  enabled: Record<string, ComponentModel>;
  namespaces: NamespaceModel[];
  k3sVersion: string;
  /** ClusterIssuer that signs ingress certificates, when cert-manager is enabled */
  issuer?: string;
  /** ingress hosts get TLS */
  tls: boolean;
}

export interface RepoModel {
  repoUrl: string;
  /** known_hosts lines Argo CD pins for the repository's SSH host (the on-cluster repository) */
  sshKnownHosts?: string;
  branch: string;
  management: ClusterModel;
  clusters: ClusterModel[];
  /** clusters Argo CD has no recorded access to yet (run without --skip-hosts to register them) */
  unregistered: string[];
  priorityClasses: typeof PRIORITY_CLASSES;
  argocd: { chart: ChartRef; namespace: string; scheduling: ComponentModel['scheduling'] };
  /** components enabled on at least one cluster, in catalog order (platform/<c>/ is rendered for these) */
  platformComponents: ComponentModel[];
  formula: { usableFraction: number; limitFactor: number; podsPerWeight: number };
}

export interface ModelOptions {
  /** URL Argo CD clones the generated repo from; defaults to the inventory's gitops.repo */
  repoUrl?: string;
  /** known_hosts lines for the repository's host, rendered into Argo CD's values (configs.ssh.extraHosts) */
  sshKnownHosts?: string;
  /**
   * the recorded access of each registered cluster (lib/clusters/access.ts readClusterAccess;
   * secrets.ts `recordedAccess` reads them all): only its server is used here, the token never
   * enters the model
   */
  clusterAccess?: Record<string, { server: string }>;
}

/** Per-component defaults for the settings templates read; the inventory overrides them. */
export const DEFAULT_SETTINGS: Record<string, Record<string, unknown>> = {
  'cert-manager': { issuer: 'selfsigned', acmeServer: 'https://acme-v02.api.letsencrypt.org/directory' },
  metallb: { addresses: [] },
  longhorn: { replicas: 2 },
  minio: { storage: '20Gi', buckets: ['mlflow', 'argo-artifacts'] },
  postgresql: { storage: '10Gi', database: 'mlflow', instances: 1 },
  // official image, multi-arch: docker-library/official-images library/redis @ 37079fb3
  redis: { storage: '2Gi', image: 'docker.io/library/redis:8.10.1-alpine' },
  registry: { storage: '20Gi' },
  jupyterhub: { adminUser: 'admin', storage: '5Gi' },
  'kube-prometheus-stack': { retention: '7d', storage: '10Gi' },
  loki: { storage: '10Gi', retention: '168h' },
  'iris-classifier': { replicas: 2, maxReplicas: 6, image: 'docker.io/library/python:3.12-slim' },
  traefik: { dashboard: false },
};

export function repoUrlOf(inv: Inventory, override?: string): string {
  if (override) return override;
  const r = inv.gitops.repo;
  // Argo CD reads the repo over SSH with the read-only deploy key the publish step registers
  if (r.kind === 'github') return `git@github.com:${r.owner}/${r.name}.git`;
  if (r.kind === 'remote') return r.url;
  // no other remote: the repository lives on the first server (roles/gitops-repo); the site run
  // passes the address and port it found on the host as the override
  const hosted = hostedRepoOf(inv);
  if (hosted) return hostedRepoUrl(hosted, inventoryEndpoint(hosted.host));
  return `file://${r.path}`;
}

/**
 * The API server URL Argo CD uses: in-cluster for the management cluster; for an adopted one the
 * recorded access' server, else the inventory's (the loader fills it from the kubeconfig); for a
 * built one where Argo CD reaches its first server (through the site link when it stands at
 * another site: lib/inventory/sites.ts) on K3s' port 6443.
 */
function serverUrl(inv: Inventory, c: ClusterSpec, isManagement: boolean, access: { server: string } | undefined): string {
  if (isManagement) return 'https://kubernetes.default.svc';
  if (c.adopted) {
    const server = access?.server ?? c.adopted.server;
    if (!server)
      throw new ModelError(`cluster ${c.name}: no API server URL: its kubeconfig context gives none; set clusters.${c.name}.server`);
    return server;
  }
  const url = remoteApiServerUrl(inv, c);
  if (!url) throw new ModelError(`cluster ${c.name}: no apiEndpoint and no server host to reach its API`);
  return url;
}

/**
 * The nodes of an adopted cluster, from its node pools: `<pool>-<i>` with the pool's arch,
 * labels, taints and capacity. They are all agents: a managed control plane runs no pods.
 */
function poolNodes(c: ClusterSpec, pools: NodePoolSpec[]): NodeModel[] {
  const nodes: NodeModel[] = [];
  for (const p of [...pools].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    for (let i = 1; i <= p.count; i++) {
      const name = `${p.name}-${i}`;
      const labels: Record<string, string> = { ...p.labels, 'kubernetes.io/hostname': name };
      const arch = kubeArch(p.arch);
      if (arch) labels['kubernetes.io/arch'] = arch;
      nodes.push({
        name,
        role: 'agent',
        arch,
        groups: p.gpus > 0 ? ['gpu'] : [],
        labels,
        inventoryLabels: { ...p.labels },
        taints: [...p.taints],
        gpu: p.gpus > 0,
        capacity: { milliCpu: Math.floor(p.cpu * 1000), memoryMi: p.memoryMi },
        pool: p.name,
      });
    }
  }
  if (nodes.length === 0)
    throw new ModelError(
      `cluster ${c.name}: adopted cluster without nodes: clusters.${c.name}.node_pools must list at least one pool with count > 0`,
    );
  return nodes;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function componentModel(def: ComponentDef, cluster: ClusterSpec, nodes: NodeModel[]): ComponentModel {
  const spec = cluster.components[def.name] ?? { enabled: def.defaultEnabled };
  const { enabled: _enabled, values, ...rest } = spec;
  if (values !== undefined && !isPlainObject(values)) {
    throw new ModelError(`cluster ${cluster.name}: components.${def.name}.values must be a mapping of chart values`);
  }
  const placement = placementFor(def.placement, nodes);
  if (placement.arm64Only && !def.multiArch) {
    throw new ModelError(`cluster ${cluster.name}: component ${def.name} would run on arm64 nodes but its images are not multi-arch`);
  }
  const affinity = affinityFor(placement);
  return {
    name: def.name,
    description: def.description,
    tier: def.tier,
    wave: TIER_WAVE[def.tier],
    namespace: def.namespace,
    priorityClassName: TIER_PRIORITY_CLASS[def.tier],
    charts: def.charts,
    serverSideApply: def.serverSideApply,
    kustomize: def.kustomize ?? false,
    placement,
    scheduling: { nodeSelector: placement.nodeSelector, ...(affinity ? { affinity } : {}), tolerations: placement.tolerations },
    settings: { ...(DEFAULT_SETTINGS[def.name] ?? {}), ...rest },
    overrides: values as Record<string, unknown> | undefined,
    hostname: `${def.name}.${cluster.domain}`,
    secrets: def.secrets,
  };
}

/**
 * The catalog entries enabled on a cluster: listed in the inventory with enabled: true, or on by
 * default, plus (transitively) what they require, e.g. mlflow pulls in postgresql and minio.
 * A requirement the inventory disables explicitly is an error.
 */
export function enabledDefs(cluster: ClusterSpec, isManagement: boolean): ComponentDef[] {
  // a K3s-only component is off by default on an adopted cluster (checkComponents refuses it there)
  const byDefault = (d: ComponentDef) => d.defaultEnabled && !(d.k3sOnly && cluster.adopted);
  const on = new Set(
    CATALOG.filter((d) => (cluster.components[d.name] ? cluster.components[d.name].enabled : byDefault(d))).map((d) => d.name),
  );
  const queue = [...on];
  while (queue.length) {
    const next = queue.shift();
    const def = CATALOG.find((d) => d.name === next);
    for (const r of def?.requires ?? []) {
      if (on.has(r)) continue;
      if (cluster.components[r] && !cluster.components[r].enabled) {
        throw new ModelError(
          `cluster ${cluster.name}: component ${def!.name} requires ${r}, which gitops.components.${r}.enabled turns off`,
        );
      }
      on.add(r);
      queue.push(r);
    }
  }
  return CATALOG.filter((d) => on.has(d.name) && (!d.managementOnly || isManagement));
}

function checkComponents(cluster: ClusterSpec, enabled: ComponentModel[]): void {
  const known = new Set(CATALOG.map((c) => c.name));
  for (const name of Object.keys(cluster.components).sort()) {
    if (!known.has(name)) {
      throw new ModelError(`cluster ${cluster.name}: unknown component "${name}" in gitops.components (known: ${[...known].join(', ')})`);
    }
  }
  const names = new Set(enabled.map((c) => c.name));
  for (const c of enabled) {
    const def = CATALOG.find((d) => d.name === c.name)!;
    for (const r of def.requires) {
      if (!names.has(r)) throw new ModelError(`cluster ${cluster.name}: component ${c.name} requires ${r}; enable gitops.components.${r}`);
    }
  }
  if (cluster.adopted) {
    for (const c of enabled) {
      const def = CATALOG.find((d) => d.name === c.name)!;
      if (def.k3sOnly)
        throw new ModelError(
          `cluster ${cluster.name}: component ${c.name} cannot run on an adopted cluster: ${def.k3sOnly} (remove gitops.components.${c.name}.enabled for it)`,
        );
    }
    // K3s' local-path StorageClass does not exist there: volumes need one of the cluster's own
    const storage = enabled.filter((c) => 'storage' in (DEFAULT_SETTINGS[c.name] ?? {}));
    if (storage.length && typeof cluster.vars.storageClass !== 'string' && !enabled.some((c) => c.name === 'longhorn')) {
      throw new ModelError(
        `cluster ${cluster.name}: ${storage.map((c) => c.name).join(', ')} need volumes and an adopted cluster has no K3s local-path: set clusters.${cluster.name}.vars.storageClass to one of its StorageClasses`,
      );
    }
  }
  const metallb = enabled.find((c) => c.name === 'metallb');
  if (metallb) {
    const a = metallb.settings.addresses;
    if (!Array.isArray(a) || a.length === 0 || a.some((x) => typeof x !== 'string')) {
      throw new ModelError(
        `cluster ${cluster.name}: components.metallb.addresses must list address ranges (e.g. 192.168.1.240-192.168.1.250)`,
      );
    }
  }
  const cm = enabled.find((c) => c.name === 'cert-manager');
  if (cm) {
    const issuer = cm.settings.issuer;
    if (issuer !== 'selfsigned' && issuer !== 'acme') {
      throw new ModelError(`cluster ${cluster.name}: components.cert-manager.issuer must be selfsigned or acme, got ${String(issuer)}`);
    }
    if (issuer === 'acme' && typeof cm.settings.acmeEmail !== 'string') {
      throw new ModelError(`cluster ${cluster.name}: components.cert-manager.acmeEmail is required with issuer acme`);
    }
  }
}

function namespacesOf(components: ComponentModel[], capacity: Capacity): NamespaceModel[] {
  const byName = new Map<string, NamespaceModel>();
  for (const c of components) {
    const def = CATALOG.find((d) => d.name === c.name)!;
    const ns = byName.get(c.namespace) ?? {
      name: c.namespace,
      tier: c.tier,
      priorityClassName: c.priorityClassName,
      components: [],
      weight: 0,
      floor: { milliCpu: 0, memoryMi: 0 },
    };
    ns.components.push(c.name);
    ns.weight += def.quotaWeight;
    ns.floor = {
      milliCpu: ns.floor.milliCpu + (def.quotaFloor?.milliCpu ?? 0),
      memoryMi: ns.floor.memoryMi + (def.quotaFloor?.memoryMi ?? 0),
    };
    byName.set(c.namespace, ns);
  }
  // kube-system and weightless namespaces get no quota: K3s' own pods live there
  const namespaces = [...byName.values()].filter((n) => n.name !== 'kube-system').sort((a, b) => (a.name < b.name ? -1 : 1));
  const total = namespaces.reduce((s, n) => s + n.weight, 0);
  for (const n of namespaces) if (n.weight > 0) n.quota = quotaFor(capacity, n.weight, total, n.floor);
  return namespaces;
}

function clusterModel(inv: Inventory, c: ClusterSpec, isManagement: boolean, opts: ModelOptions): ClusterModel {
  if (c.adopted && isManagement)
    throw new ModelError(
      `cluster ${c.name}: the first cluster runs Argo CD for all and is built by clusterseed; it cannot be adopted (kubeconfig:); list an adopted cluster after it`,
    );
  const hosts = inv.hosts.filter((h) => h.cluster === c.name).sort((a, b) => (a.name < b.name ? -1 : 1));
  let nodes: NodeModel[];
  let capacity: Capacity;
  if (c.adopted) {
    if (hosts.length)
      throw new ModelError(
        `cluster ${c.name}: adopted (kubeconfig:) but hosts ${hosts.map((h) => h.name).join(', ')} name it: clusterseed builds no host of an adopted cluster`,
      );
    nodes = poolNodes(c, c.adopted.nodePools);
    capacity = nodes.reduce((a, n) => ({ milliCpu: a.milliCpu + n.capacity!.milliCpu, memoryMi: a.memoryMi + n.capacity!.memoryMi }), {
      milliCpu: 0,
      memoryMi: 0,
    });
  } else {
    if (hosts.length === 0) throw new ModelError(`cluster ${c.name} has no hosts`);
    const servers = new Set(c.servers);
    nodes = hosts.map((h) => nodeModel(h, servers.has(h.name) ? 'server' : 'agent'));
    capacity = clusterCapacity(hosts);
  }
  const components = enabledDefs(c, isManagement).map((d) => componentModel(d, c, nodes));
  checkComponents(c, components);
  components.sort((a, b) => a.wave - b.wave || (a.name < b.name ? -1 : 1));
  const longhorn = components.some((x) => x.name === 'longhorn');
  const certManager = components.find((x) => x.name === 'cert-manager');
  const storageClass = typeof c.vars.storageClass === 'string' ? c.vars.storageClass : longhorn ? 'longhorn' : 'local-path';
  const access = opts.clusterAccess?.[c.name];
  const server = serverUrl(inv, c, isManagement, access);
  return {
    name: c.name,
    domain: c.domain,
    isManagement,
    adopted: !!c.adopted,
    // a built cluster's access recorded for another server (moved, re-addressed) is stale
    registered: isManagement || (!!access && access.server === server),
    server,
    nodes,
    capacity,
    storageClass,
    components,
    enabled: Object.fromEntries(components.map((x) => [x.name, x])),
    namespaces: namespacesOf(components, capacity),
    k3sVersion: c.k3sVersion,
    issuer: certManager ? (certManager.settings.issuer === 'acme' ? 'letsencrypt' : 'clusterseed-ca') : undefined,
    tls: !!certManager,
  };
}

/**
 * Clusters whose repository holds SealedSecrets: those with components that need secrets, and the
 * management cluster as soon as there is another cluster (its registration is sealed for it).
 */
export function clustersWithSealedSecrets(clusters: ClusterModel[]): Set<string> {
  const out = new Set<string>();
  for (const cl of clusters) if (cl.components.some((c) => c.secrets.length)) out.add(cl.name);
  if (clusters.some((c) => !c.isManagement)) out.add(clusters[0].name);
  return out;
}

/**
 * Clusters that get their own Sealed Secrets key pair installed before anything syncs: those with
 * SealedSecrets and every other cluster running the controller (which would otherwise make a key
 * of its own that nothing sealed offline can target).
 */
export function clustersNeedingSealingKey(clusters: ClusterModel[]): Set<string> {
  const out = clustersWithSealedSecrets(clusters);
  for (const cl of clusters) if (cl.enabled['sealed-secrets']) out.add(cl.name);
  return out;
}

export function buildModel(inv: Inventory, opts: ModelOptions = {}): RepoModel {
  if (inv.clusters.length === 0) throw new ModelError(`${inv.file}: no clusters defined`);
  const names = new Set<string>();
  for (const c of inv.clusters) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(c.name))
      throw new ModelError(`cluster name "${c.name}" must be a DNS label (lowercase letters, digits, -)`);
    if (names.has(c.name)) throw new ModelError(`cluster "${c.name}" is defined twice`);
    names.add(c.name);
  }
  const clusters = inv.clusters.map((c, i) => clusterModel(inv, c, i === 0, opts));
  const management = clusters[0];
  // every cluster that gets SealedSecrets decrypts them with its own controller and key
  for (const name of clustersWithSealedSecrets(clusters)) {
    const cl = clusters.find((c) => c.name === name)!;
    if (!cl.enabled['sealed-secrets']) {
      throw new ModelError(
        `cluster ${name}: its repository holds SealedSecrets but gitops.components.sealed-secrets.enabled is false there: nothing would decrypt them (enable sealed-secrets on ${name})`,
      );
    }
  }
  const argoPlacement = placementFor('control', management.nodes);
  const argoAffinity = affinityFor(argoPlacement);
  const platformComponents = CATALOG.filter((d) => clusters.some((c) => c.enabled[d.name])).map((d) => {
    const first = clusters.find((c) => c.enabled[d.name])!;
    return first.enabled[d.name];
  });
  return {
    repoUrl: repoUrlOf(inv, opts.repoUrl),
    ...(opts.sshKnownHosts ? { sshKnownHosts: opts.sshKnownHosts } : {}),
    branch: inv.gitops.branch,
    management,
    clusters,
    unregistered: clusters.filter((c) => !c.registered).map((c) => c.name),
    priorityClasses: PRIORITY_CLASSES,
    argocd: {
      chart: ARGOCD_CHART,
      namespace: ARGOCD_NAMESPACE,
      scheduling: {
        nodeSelector: argoPlacement.nodeSelector,
        ...(argoAffinity ? { affinity: argoAffinity } : {}),
        tolerations: argoPlacement.tolerations,
      },
    },
    platformComponents,
    formula: { usableFraction: USABLE_FRACTION, limitFactor: LIMIT_FACTOR, podsPerWeight: PODS_PER_WEIGHT },
  };
}

/** A Secret the repo needs, sealed with the key of the cluster it is applied to. */
export interface RequiredSecret {
  cluster: string;
  component: string;
  namespace: string;
  name: string;
  /** Secret type; Opaque when unset */
  type?: string;
  keys: { key: string; from: string }[];
  /** where the sealed file goes in the repo */
  path: string;
}

export function requiredSecrets(model: RepoModel): RequiredSecret[] {
  const out: RequiredSecret[] = [];
  for (const cl of model.clusters) {
    for (const c of cl.components) {
      for (const s of c.secrets) {
        const namespace = s.namespace ?? c.namespace;
        out.push({
          cluster: cl.name,
          component: c.name,
          namespace,
          name: s.name,
          ...(s.type ? { type: s.type } : {}),
          keys: s.keys,
          path: `clusters/${cl.name}/${c.name}/manifests/sealed-${s.name}.yaml`,
        });
      }
    }
  }
  // registered remote clusters get a cluster Secret in the management cluster's tree, synced by
  // its cluster-registrations Application after its Sealed Secrets controller (render.ts)
  for (const cl of model.clusters.filter((x) => !x.isManagement && x.registered)) {
    out.push({
      cluster: model.management.name,
      component: REGISTRATIONS_COMPONENT,
      namespace: ARGOCD_NAMESPACE,
      name: `cluster-${cl.name}`,
      keys: [
        { key: 'name', from: `cluster-${cl.name}.name` },
        { key: 'server', from: `cluster-${cl.name}.server` },
        { key: 'config', from: `cluster-${cl.name}.config` },
      ],
      path: registrationPath(model, cl.name),
    });
  }
  return out;
}

/** the management cluster's Application that syncs the cluster Secrets of the other clusters */
export const REGISTRATIONS_COMPONENT = 'cluster-registrations';

/** where the sealed cluster Secret of `cluster` lives: the management cluster's tree, never bootstrap/ (synced before any CRD but Argo CD's) */
export function registrationPath(model: RepoModel, cluster: string): string {
  return `clusters/${model.management.name}/${REGISTRATIONS_COMPONENT}/cluster-${cluster}.yaml`;
}
