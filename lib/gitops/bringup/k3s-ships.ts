// What a fresh K3s server has before Argo CD exists: the objects of its packaged manifests
// (/var/lib/rancher/k3s/server/manifests, applied by its deploy controller) and the CRDs its
// embedded controllers register. The analysis starts from this state.
//
// Read from upstream (search tool, read_file; the k3s-io/k3s snapshot is larger than `fetch`
// brings here, so single files were read at the commit the index holds, not at the inventory's
// tag v1.31.4+k3s1: the objects below have kept their names across the 1.2x-1.3x releases):
//   k3s-io/k3s manifests/local-storage.yaml  @ 0362e38dcde906eaf4c065d2e6cb51e6190e3bbd
//     StorageClass local-path, annotated storageclass.kubernetes.io/is-default-class: "true"
//   k3s-io/k3s manifests/runtimes.yaml       @ c77d0b8509ac11a9659220187c3f8b7db99b8092
//     RuntimeClasses nvidia, nvidia-experimental, crun, lunatic, slight, spin, wws, wasmedge,
//     wasmer, wasmtime (created by K3s itself: a chart that also creates `nvidia` collides)
//   k3s-io/k3s manifests/traefik.yaml        @ 02a8f93f20d329ff4d2206929bc3eb2a86adbeac
//     HelmCharts traefik-crd and traefik in kube-system (the chart's IngressClass `traefik`,
//     Service kube-system/traefik of type LoadBalancer, served by ServiceLB unless disabled)
//   k3s-io/k3s manifests/coredns.yaml, metrics-server/*, rolebindings.yaml (index versions)
//     Services kube-system/kube-dns, kube-system/metrics-server
//   k3s-io/helm-controller pkg/crd/crds.go   @ 17de5253cb673cfb65ee54d78b5c10c9d259f20d
//     CRDs helmcharts.helm.cattle.io, helmchartconfigs.helm.cattle.io
// Kubernetes itself: PriorityClasses system-cluster-critical and system-node-critical exist in
// every cluster (created by the API server); namespaces default, kube-system, kube-public,
// kube-node-lease.

export const K3S_SHIPS_READ_FOR = 'v1.31.4+k3s1';

export interface ShippedObject {
  kind: string;
  name: string;
  namespace?: string;
  /** K3s packaged component it belongs to (`--disable <component>` removes it) */
  component?: string;
  default?: boolean;
}

export const K3S_CRDS: { name: string; component?: string }[] = [
  { name: 'helmcharts.helm.cattle.io' },
  { name: 'helmchartconfigs.helm.cattle.io' },
  { name: 'addons.k3s.cattle.io' },
  { name: 'etcdsnapshotfiles.k3s.cattle.io' },
  // the traefik-crd HelmChart
  ...[
    'ingressroutes',
    'ingressroutetcps',
    'ingressrouteudps',
    'middlewares',
    'middlewaretcps',
    'serverstransports',
    'serverstransporttcps',
    'tlsoptions',
    'tlsstores',
    'traefikservices',
  ].map((r) => ({
    name: `${r}.traefik.io`,
    component: 'traefik',
  })),
];

export const K3S_OBJECTS: ShippedObject[] = [
  ...['default', 'kube-system', 'kube-public', 'kube-node-lease'].map((name) => ({ kind: 'Namespace', name })),
  { kind: 'PriorityClass', name: 'system-cluster-critical' },
  { kind: 'PriorityClass', name: 'system-node-critical' },
  { kind: 'StorageClass', name: 'local-path', component: 'local-storage', default: true },
  { kind: 'IngressClass', name: 'traefik', component: 'traefik', default: true },
  { kind: 'Service', namespace: 'kube-system', name: 'kube-dns', component: 'coredns' },
  { kind: 'Service', namespace: 'kube-system', name: 'metrics-server', component: 'metrics-server' },
  { kind: 'Service', namespace: 'kube-system', name: 'traefik', component: 'traefik' },
  { kind: 'HelmChart', namespace: 'kube-system', name: 'traefik', component: 'traefik' },
  { kind: 'HelmChart', namespace: 'kube-system', name: 'traefik-crd', component: 'traefik' },
  ...['nvidia', 'nvidia-experimental', 'crun', 'lunatic', 'slight', 'spin', 'wws', 'wasmedge', 'wasmer', 'wasmtime'].map((name) => ({
    kind: 'RuntimeClass',
    name,
    component: 'runtimes',
  })),
];

/** K3s' packaged LoadBalancer controller: `--disable servicelb` turns it off */
export const K3S_SERVICELB = 'servicelb';
