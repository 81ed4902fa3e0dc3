// Objects operators create at run time from a custom resource of the repository (not rendered by
// Helm, so no chart facts list them), and how in-cluster host names name a Service.
import type { K8sObject } from './objects.ts';
import { isMap } from './values.ts';

/**
 * CloudNativePG creates, for each `Cluster` <name>, the Services <name>-rw (primary), <name>-ro
 * (replicas) and <name>-r (any ready instance); `spec.managed.services.disabledDefaultServices`
 * may turn off ro and r. Read from cloudnative-pg/cloudnative-pg at tag v1.30.0 (the operator of
 * chart cloudnative-pg 0.29.0), commit 4b5e244a7d031f67e025c83c1555e7726ecbbfa1:
 * api/v1/cluster_types.go (ServiceReadWriteSuffix, ServiceReadOnlySuffix, ServiceReadSuffix) and
 * api/v1/cluster_funcs.go (GetServiceReadWriteName, ...).
 */
function cnpgClusterServices(o: K8sObject): { kind: string; name: string }[] {
  const managed = isMap(o.spec?.managed) ? o.spec.managed : undefined;
  const services = managed && isMap(managed.services) ? managed.services : undefined;
  const disabled = Array.isArray(services?.disabledDefaultServices) ? services.disabledDefaultServices.map(String) : [];
  return [
    { suffix: '-rw', key: 'rw' },
    { suffix: '-ro', key: 'ro' },
    { suffix: '-r', key: 'r' },
  ]
    .filter((s) => !disabled.includes(s.key))
    .map((s) => ({ kind: 'Service', name: `${o.metadata.name}${s.suffix}` }));
}

const OPERATOR_CREATES: Record<string, (o: K8sObject) => { kind: string; name: string }[]> = {
  'postgresql.cnpg.io/Cluster': cnpgClusterServices,
};

/** objects an operator creates, in the custom resource's namespace, once it reconciles `o` */
export function operatorCreated(o: K8sObject): { kind: string; name: string }[] {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return OPERATOR_CREATES[`${group}/${o.kind}`]?.(o) ?? [];
}

/**
 * A Service named by an in-cluster host: "name", "name.namespace", "name.namespace.svc" or
 * "name.namespace.svc.cluster.local" (an optional :port is dropped). Other names (external hosts)
 * are undefined.
 */
export function serviceOfHost(host: string, namespace: string): { name: string; namespace: string } | undefined {
  const h = host.replace(/:\d+$/, '').replace(/\.$/, '');
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?:\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?:\.svc(?:\.cluster\.local)?)?)?$/.exec(h);
  if (!m) return undefined;
  return { name: m[1], namespace: m[3] ?? namespace };
}
