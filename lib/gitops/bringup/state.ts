// The simulated API server of one cluster: which CRDs, namespaces and named objects exist, who
// created them (K3s, the bootstrap, an Application), and the quotas/limit ranges of namespaces.
import type { K8sObject } from './objects.ts';
import { K3S_CRDS, K3S_OBJECTS } from './k3s-ships.ts';

/** kinds the API server serves without a CRD (Kubernetes 1.31) */
export const BUILTIN_KINDS = new Set([
  'Namespace',
  'ConfigMap',
  'Secret',
  'Service',
  'ServiceAccount',
  'Pod',
  'PersistentVolumeClaim',
  'PersistentVolume',
  'Endpoints',
  'ResourceQuota',
  'LimitRange',
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Job',
  'CronJob',
  'Ingress',
  'IngressClass',
  'NetworkPolicy',
  'Role',
  'RoleBinding',
  'ClusterRole',
  'ClusterRoleBinding',
  'StorageClass',
  'PriorityClass',
  'RuntimeClass',
  'HorizontalPodAutoscaler',
  'PodDisruptionBudget',
  'CustomResourceDefinition',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'APIService',
  'Lease',
  'CSIDriver',
]);

export const CLUSTER_SCOPED = new Set([
  'Namespace',
  'PriorityClass',
  'StorageClass',
  'IngressClass',
  'RuntimeClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'APIService',
  'ClusterIssuer',
  'CSIDriver',
]);

/** plural resource name the API server uses for a kind (CRD names are <plural>.<group>) */
export function pluralOf(kind: string): string {
  const k = kind.toLowerCase();
  if (/(s|x|ch|sh)$/.test(k)) return `${k}es`;
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  return `${k}s`;
}

export function crdNameOf(apiVersion: string, kind: string): string | undefined {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  if (!group.includes('.') || BUILTIN_KINDS.has(kind)) return undefined;
  return `${pluralOf(kind)}.${group}`;
}

export function objectKey(kind: string, name: string, namespace?: string): string {
  return CLUSTER_SCOPED.has(kind) ? `${kind}/${name}` : `${kind}/${namespace ?? ''}/${name}`;
}

export interface StateEntry {
  owner: string;
  obj?: K8sObject;
  default?: boolean;
}

export class ClusterState {
  readonly crds = new Map<string, string>();
  readonly objects = new Map<string, StateEntry>();

  static afterK3s(disabled: string[]): ClusterState {
    const s = new ClusterState();
    for (const c of K3S_CRDS) if (!c.component || !disabled.includes(c.component)) s.crds.set(c.name, 'k3s');
    for (const o of K3S_OBJECTS) {
      if (o.component && disabled.includes(o.component)) continue;
      s.objects.set(objectKey(o.kind, o.name, o.namespace), { owner: `k3s${o.component ? ` (${o.component})` : ''}`, default: o.default });
    }
    return s;
  }

  /**
   * A cluster clusterseed did not build (adopted): only what every Kubernetes API server has (the
   * four namespaces, the system PriorityClasses) and the cluster-scoped objects the inventory says
   * the provider has (its StorageClass, a RuntimeClass it names); none of K3s' CRDs, Traefik,
   * local-path or RuntimeClasses.
   */
  static managed(provided: { kind: string; name: string; why: string }[]): ClusterState {
    const s = new ClusterState();
    for (const o of K3S_OBJECTS) {
      if (o.component) continue;
      s.objects.set(objectKey(o.kind, o.name, o.namespace), { owner: 'kubernetes' });
    }
    for (const p of provided) s.objects.set(objectKey(p.kind, p.name), { owner: `the cluster provider (${p.why})` });
    return s;
  }

  has(kind: string, name: string, namespace?: string): boolean {
    return this.objects.has(objectKey(kind, name, namespace));
  }

  get(kind: string, name: string, namespace?: string): StateEntry | undefined {
    return this.objects.get(objectKey(kind, name, namespace));
  }

  /** every object of a kind (optionally in a namespace) */
  list(kind: string, namespace?: string): [string, StateEntry][] {
    const prefix = CLUSTER_SCOPED.has(kind) ? `${kind}/` : `${kind}/${namespace ?? ''}`;
    return [...this.objects].filter(
      ([k]) => k.startsWith(prefix) && (namespace !== undefined || CLUSTER_SCOPED.has(kind) || k.startsWith(`${kind}/`)),
    );
  }
}
