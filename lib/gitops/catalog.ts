// The component catalog: every platform piece the generated repo can run, with its pinned chart
// versions (Renovate bumps them in the generated repo), its tier (sync wave + PriorityClass), its
// namespace and where it is placed. Values live in gitops-template/components/<name>/.

export type Tier = 'governance' | 'infrastructure' | 'data' | 'ml-platform' | 'monitoring' | 'apps';

/** Sync waves of the per-cluster app-of-apps: infrastructure -> data -> ML -> monitoring -> apps */
export const TIER_WAVE: Record<Tier, number> = {
  governance: 0,
  infrastructure: 1,
  data: 2,
  'ml-platform': 3,
  monitoring: 4,
  apps: 5,
};

export interface PriorityClassDef {
  name: string;
  value: number;
  description: string;
}

/**
 * On the management cluster the bootstrap creates these before Argo CD (whose pods use
 * infrastructure-critical); on the other clusters the governance app does.
 */
export const PRIORITY_CLASSES: PriorityClassDef[] = [
  {
    name: 'infrastructure-critical',
    value: 1000,
    description: 'Ingress, certificates, load balancing, storage, secrets: everything else depends on it.',
  },
  { name: 'data-services', value: 900, description: 'Stateful data services: object storage, databases, caches, registry.' },
  { name: 'ml-platform', value: 800, description: 'ML platform services: tracking, notebooks, pipelines, model serving.' },
  { name: 'monitoring', value: 700, description: 'Metrics, alerting and logs.' },
  { name: 'low-priority', value: 100, description: 'Demo workloads and batch jobs: first to be preempted.' },
];

export const TIER_PRIORITY_CLASS: Record<Tier, string> = {
  governance: 'infrastructure-critical',
  infrastructure: 'infrastructure-critical',
  data: 'data-services',
  'ml-platform': 'ml-platform',
  monitoring: 'monitoring',
  apps: 'low-priority',
};

/**
 * Where the component's pods go:
 *  control: stateful and control-plane-ish services, on the K3s servers (the x86 desktop);
 *  edge:    stateless services and model serving, on the arm64 agents (multi-arch images only);
 *  gpu:     nodes in group / with label `gpu`;
 *  anywhere: no constraint (node agents that are DaemonSets anyway).
 */
export type Placement = 'control' | 'edge' | 'gpu' | 'anywhere';

export type HostPrereq = 'iscsi' | 'nfs' | 'nvidia-toolkit';

export interface ChartRef {
  /** Helm repository URL; OCI registries are written without scheme, as Argo CD expects */
  repoURL: string;
  chart: string;
  version: string;
  /** file name of this chart's values under platform/<c>/ and clusters/<n>/<c>/ */
  valuesFile: string;
}

export interface SecretKeyDef {
  /** key in the Kubernetes Secret */
  key: string;
  /** logical credential it holds: "<credential>.<field>", see CREDENTIALS */
  from: string;
}

export interface SecretDef {
  name: string;
  /** Secret type, default Opaque (CloudNativePG reads kubernetes.io/basic-auth) */
  type?: string;
  /** defaults to the component namespace */
  namespace?: string;
  keys: SecretKeyDef[];
}

export interface ComponentDef {
  name: string;
  description: string;
  tier: Tier;
  namespace: string;
  charts: ChartRef[];
  placement: Placement;
  defaultEnabled: boolean;
  /** components that must be enabled on the same cluster */
  requires: string[];
  secrets: SecretDef[];
  /** all images of the component are published for amd64 and arm64 (required for edge placement) */
  multiArch: boolean;
  /**
   * host packages its pods need on the nodes they land on (installed by roles/platform-prereq):
   * iscsi (open-iscsi + iscsid, Longhorn), nvidia-toolkit (NVIDIA container toolkit, GPU nodes)
   */
  hostPrereqs?: HostPrereq[];
  /** share of the cluster's capacity its namespace quota gets, relative to the others */
  quotaWeight: number;
  /** requests its pods need at least: the namespace quota never goes below the sum of these */
  quotaFloor?: { milliCpu: number; memoryMi: number };
  /** large CRDs (annotation size limit of client-side apply) */
  serverSideApply: boolean;
  /** only on the management cluster */
  managementOnly?: boolean;
  /** rendered as a kustomize overlay (workloads under apps/) instead of Helm charts */
  kustomize?: boolean;
  /**
   * the catalog keeps a chart whose source is no longer maintained, knowingly: why (README
   * "Component choices"); the bring-up analysis then warns instead of refusing
   */
  acceptsUnmaintained?: string;
  /**
   * it only configures what K3s itself ships (e.g. the HelmChartConfig of K3s' packaged Traefik):
   * off on adopted clusters, which run no K3s; enabling it there is an error saying why
   */
  k3sOnly?: string;
}

const helm = (repoURL: string, chart: string, version: string, valuesFile = 'values.yaml'): ChartRef => ({
  repoURL,
  chart,
  version,
  valuesFile,
});

const ARGO_HELM = 'https://argoproj.github.io/argo-helm';
const GRAFANA = 'https://grafana.github.io/helm-charts';

/** Argo CD itself: installed by the bootstrap, then managed by bootstrap/argocd.yaml */
export const ARGOCD_CHART: ChartRef = helm(ARGO_HELM, 'argo-cd', '8.5.0');
export const ARGOCD_NAMESPACE = 'argocd';

function def(d: Partial<ComponentDef> & Pick<ComponentDef, 'name' | 'description' | 'tier' | 'namespace' | 'placement'>): ComponentDef {
  return { charts: [], defaultEnabled: false, requires: [], secrets: [], multiArch: true, quotaWeight: 1, serverSideApply: false, ...d };
}

/*
 * Adopted clusters (issue 17: built elsewhere, no K3s) and what of the catalog assumes K3s:
 *  - traefik: a HelmChartConfig for the Traefik K3s ships (k3sOnly): off there; ingress comes from
 *    the provider, so the components' Ingresses (ingressClassName traefik) need an ingress class
 *    of that name there, which the analysis reports as never created when there is none;
 *  - local-path (K3s' default StorageClass): absent; a component with volumes needs
 *    clusters.<name>.vars.storageClass (model error otherwise), or longhorn;
 *  - ServiceLB: absent; metallb may be enabled (a k3d cluster needs it, a cloud one does not) and
 *    the ServiceLB collision check does not apply;
 *  - longhorn: allowed, but its host prerequisites (open-iscsi) are the provider's node image,
 *    which no role installs and the analysis does not check;
 *  - nvidia-device-plugin: K3s' "nvidia" RuntimeClass is not assumed; placed on the pools with
 *    GPUs by their labels and tolerating their taints; components.nvidia-device-plugin.runtimeClassName
 *    names one when the provider's GPU nodes need it;
 *  - control services (sealed-secrets, cert-manager, ...) run on the untainted pools without GPUs:
 *    a managed control plane runs no pods.
 */
export const CATALOG: ComponentDef[] = [
  def({
    name: 'governance',
    description: 'PriorityClasses, and per namespace a ResourceQuota and LimitRange sized from the inventory',
    tier: 'governance',
    namespace: 'kube-system',
    placement: 'anywhere',
    defaultEnabled: true,
    quotaWeight: 0,
  }),
  def({
    name: 'traefik',
    description: 'Settings for the Traefik ingress controller K3s ships (HelmChartConfig)',
    tier: 'infrastructure',
    namespace: 'kube-system',
    placement: 'edge',
    defaultEnabled: true,
    quotaWeight: 0,
    k3sOnly: 'it is a HelmChartConfig for the Traefik K3s ships (helm.cattle.io); a managed cluster brings its own ingress controller',
  }),
  def({
    name: 'sealed-secrets',
    description: 'Sealed Secrets controller: decrypts the SealedSecrets committed to this repo',
    tier: 'infrastructure',
    namespace: 'kube-system',
    charts: [helm('https://bitnami-labs.github.io/sealed-secrets', 'sealed-secrets', '2.16.2')],
    placement: 'control',
    defaultEnabled: true,
    quotaWeight: 0,
  }),
  def({
    name: 'cert-manager',
    description: 'cert-manager with a self-signed CA or an ACME ClusterIssuer',
    tier: 'infrastructure',
    namespace: 'cert-manager',
    charts: [helm('https://charts.jetstack.io', 'cert-manager', 'v1.16.2')],
    placement: 'control',
    defaultEnabled: true,
  }),
  def({
    name: 'metallb',
    description: 'MetalLB load balancer with an L2 address pool',
    tier: 'infrastructure',
    namespace: 'metallb-system',
    charts: [helm('https://metallb.github.io/metallb', 'metallb', '0.14.9')],
    placement: 'control',
  }),
  def({
    name: 'longhorn',
    description: "Longhorn replicated block storage (K3s' local-path stays the default StorageClass; the platform's volumes name longhorn)",
    tier: 'infrastructure',
    namespace: 'longhorn-system',
    charts: [helm('https://charts.longhorn.io', 'longhorn', '1.7.2')],
    placement: 'control',
    // nfs: Longhorn's ReadWriteMany volumes and NFS backup targets mount over NFSv4 on the node
    hostPrereqs: ['iscsi', 'nfs'],
    quotaWeight: 2,
    quotaFloor: { milliCpu: 1000, memoryMi: 1536 },
  }),
  def({
    name: 'nvidia-device-plugin',
    description: "NVIDIA device plugin on nodes in group/label gpu (the nvidia RuntimeClass is K3s' own)",
    tier: 'infrastructure',
    namespace: 'nvidia-device-plugin',
    charts: [helm('https://nvidia.github.io/k8s-device-plugin', 'nvidia-device-plugin', '0.17.1')],
    placement: 'gpu',
    hostPrereqs: ['nvidia-toolkit'],
  }),
  def({
    name: 'minio',
    acceptsUnmaintained:
      'the pinned multi-arch images still exist and the S3 API used is stable; SeaweedFS or Garage behind the same Service is the way out (README "Component choices")',
    description: 'MinIO S3-compatible object storage (MLflow artifacts, workflow artifacts)',
    tier: 'data',
    namespace: 'minio',
    charts: [helm('https://charts.min.io/', 'minio', '5.4.0')],
    placement: 'control',
    secrets: [
      {
        name: 'minio-root',
        keys: [
          { key: 'rootUser', from: 'minio.user' },
          { key: 'rootPassword', from: 'minio.password' },
        ],
      },
    ],
    quotaWeight: 2,
    quotaFloor: { milliCpu: 500, memoryMi: 1024 },
  }),
  def({
    name: 'postgresql',
    description: 'PostgreSQL through the CloudNativePG operator: one Cluster (MLflow backend store)',
    tier: 'data',
    namespace: 'postgresql',
    charts: [helm('https://cloudnative-pg.github.io/charts', 'cloudnative-pg', '0.29.0')],
    placement: 'control',
    // the owner of the MLflow database, created by the Cluster's initdb bootstrap
    secrets: [
      {
        name: 'postgresql-mlflow',
        type: 'kubernetes.io/basic-auth',
        keys: [
          { key: 'username', from: 'mlflow-db.user' },
          { key: 'password', from: 'mlflow-db.password' },
        ],
      },
    ],
    // the operator's CRDs (Cluster alone) exceed client-side apply's annotation limit
    serverSideApply: true,
    quotaWeight: 2,
    quotaFloor: { milliCpu: 500, memoryMi: 1024 },
  }),
  def({
    name: 'redis',
    description: 'Redis cache: one StatefulSet of the official multi-arch redis image (no chart)',
    tier: 'data',
    namespace: 'redis',
    placement: 'control',
    secrets: [{ name: 'redis-auth', keys: [{ key: 'redis-password', from: 'redis.password' }] }],
  }),
  def({
    name: 'registry',
    description: 'OCI image registry for model and workload images',
    tier: 'data',
    namespace: 'registry',
    charts: [helm('https://helm.twun.io', 'docker-registry', '2.2.3')],
    placement: 'control',
  }),
  def({
    name: 'mlflow',
    description: 'MLflow tracking server (PostgreSQL backend store, MinIO artifacts)',
    tier: 'ml-platform',
    namespace: 'mlflow',
    charts: [helm('https://community-charts.github.io/helm-charts', 'mlflow', '1.11.5')],
    placement: 'control',
    requires: ['postgresql', 'minio'],
    secrets: [
      {
        name: 'mlflow-db',
        keys: [
          { key: 'username', from: 'mlflow-db.user' },
          { key: 'password', from: 'mlflow-db.password' },
        ],
      },
      {
        name: 'mlflow-s3',
        keys: [
          { key: 'AWS_ACCESS_KEY_ID', from: 'minio.user' },
          { key: 'AWS_SECRET_ACCESS_KEY', from: 'minio.password' },
        ],
      },
    ],
    quotaFloor: { milliCpu: 500, memoryMi: 1024 },
  }),
  def({
    name: 'jupyterhub',
    description: 'JupyterHub (NativeAuthenticator: users sign up, the admin approves)',
    tier: 'ml-platform',
    namespace: 'jupyterhub',
    charts: [helm('https://hub.jupyter.org/helm-chart/', 'jupyterhub', '4.0.0')],
    placement: 'control',
    quotaWeight: 3,
    quotaFloor: { milliCpu: 1000, memoryMi: 2048 },
  }),
  def({
    name: 'argo-workflows',
    description: 'Argo Workflows for training pipelines (artifacts in MinIO)',
    tier: 'ml-platform',
    namespace: 'argo',
    charts: [helm(ARGO_HELM, 'argo-workflows', '0.45.1')],
    placement: 'control',
    requires: ['minio'],
    secrets: [
      {
        name: 'argo-artifacts',
        keys: [
          { key: 'accesskey', from: 'minio.user' },
          { key: 'secretkey', from: 'minio.password' },
        ],
      },
    ],
    quotaWeight: 2,
    quotaFloor: { milliCpu: 500, memoryMi: 1024 },
  }),
  def({
    name: 'kserve',
    description: 'KServe model serving in RawDeployment mode (no Knative/Istio), on the arm64 nodes',
    tier: 'ml-platform',
    namespace: 'kserve',
    charts: [helm('ghcr.io/kserve/charts', 'kserve-crd', 'v0.14.1', 'values-crd.yaml'), helm('ghcr.io/kserve/charts', 'kserve', 'v0.14.1')],
    placement: 'edge',
    requires: ['cert-manager'],
    serverSideApply: true,
    quotaWeight: 2,
    quotaFloor: { milliCpu: 300, memoryMi: 512 },
  }),
  def({
    name: 'kube-prometheus-stack',
    description: 'Prometheus, Grafana and Alertmanager (webhook receiver)',
    tier: 'monitoring',
    namespace: 'monitoring',
    charts: [helm('https://prometheus-community.github.io/helm-charts', 'kube-prometheus-stack', '88.5.3')],
    placement: 'control',
    // the admission webhook's certificate is issued by cert-manager (values: admissionWebhooks.certManager)
    requires: ['cert-manager'],
    secrets: [
      {
        name: 'grafana-admin',
        keys: [
          { key: 'admin-user', from: 'grafana.user' },
          { key: 'admin-password', from: 'grafana.password' },
        ],
      },
    ],
    serverSideApply: true,
    quotaWeight: 3,
    quotaFloor: { milliCpu: 1500, memoryMi: 3072 },
  }),
  def({
    name: 'loki',
    description: "Loki (single binary) with Grafana Alloy shipping every node's pod logs",
    tier: 'monitoring',
    namespace: 'logging',
    // Alloy replaces Promtail, whose chart is deprecated (README "Component choices")
    charts: [helm(GRAFANA, 'loki', '6.5.2'), helm(GRAFANA, 'alloy', '1.11.1', 'values-alloy.yaml')],
    placement: 'control',
    quotaWeight: 2,
    quotaFloor: { milliCpu: 500, memoryMi: 1024 },
  }),
  def({
    name: 'iris-classifier',
    description: 'Demo model: iris classifier Deployment + Service + HPA, on the arm64 nodes',
    tier: 'apps',
    namespace: 'ml-demo',
    placement: 'edge',
    kustomize: true,
  }),
];

export function catalogEntry(name: string): ComponentDef | undefined {
  return CATALOG.find((c) => c.name === name);
}

/** Logical credentials: generated once per cluster, stored under .clusterseed/, sealed into git */
export interface CredentialDef {
  /** fixed user name, or undefined when the credential is only a password */
  user?: string;
}

export const CREDENTIALS: Record<string, CredentialDef> = {
  minio: { user: 'admin' },
  'mlflow-db': { user: 'mlflow' },
  redis: {},
  grafana: { user: 'admin' },
};
