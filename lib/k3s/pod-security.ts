// Pod Security Admission defaults for the whole cluster (psa.yaml, an AdmissionConfiguration the
// API server reads through `admission-control-config-file`), and the API audit policy (audit.yaml).
// Namespaces whose pods need host access are exempt from enforcement; each has its reason here and
// in roles/k3s-server/README.md. The list is fixed (not "enabled components only"), so turning a
// component on or off never rewrites psa.yaml and never restarts the K3s servers.
import { stringify } from 'yaml';
import { catalogEntry } from '../gitops/catalog.ts';
import type { PodSecurity } from './hardening.ts';

export interface Exemption {
  namespace: string;
  why: string;
}

/** Namespaces K3s itself needs exempt (CNI, DNS, svclb, local-path helper pods live there). */
const SYSTEM_EXEMPTIONS: Exemption[] = [
  {
    namespace: 'kube-system',
    why: 'K3s system pods: svclb (NET_ADMIN, host ports), local-path-provisioner helper pods (hostPath), traefik, sealed-secrets, helm-controller jobs (as the K3s CIS guide exempts it)',
  },
];

/** Catalog components (lib/gitops/catalog.ts) whose pods need more than the baseline level allows. */
export const COMPONENT_EXEMPTIONS: Record<string, string> = {
  longhorn:
    'longhorn-manager, instance managers and the CSI plugin run privileged with hostPath mounts of /dev, /proc and /var/lib/longhorn',
  metallb: 'the speaker uses hostNetwork and the NET_RAW capability to answer ARP for service addresses',
  'nvidia-device-plugin': 'the device plugin mounts /var/lib/kubelet/device-plugins (hostPath) to register GPUs with the kubelet',
  'kube-prometheus-stack':
    'prometheus-node-exporter uses hostNetwork, hostPID and hostPath mounts of / , /proc and /sys to read node metrics',
  loki: "promtail mounts /var/log/pods and /var/lib/docker/containers (hostPath) to ship every pod's logs",
  jupyterhub:
    'z2jh adds the "block-cloud-metadata" init container to user pods (privileged, NET_ADMIN) while singleuser.cloudMetadata.blockWithIptables is true (its default)',
};

/** Every exempt namespace with its reason: system, then catalog components (their namespaces from the catalog). */
export function exemptions(ps: PodSecurity): Exemption[] {
  const out: Exemption[] = [...SYSTEM_EXEMPTIONS];
  for (const [name, why] of Object.entries(COMPONENT_EXEMPTIONS)) {
    const entry = catalogEntry(name);
    if (!entry) throw new Error(`pod-security.ts exempts catalog component "${name}", which is not in lib/gitops/catalog.ts`);
    out.push({ namespace: entry.namespace, why: `${name}: ${why}` });
  }
  for (const ns of ps.extraExemptNamespaces) out.push({ namespace: ns, why: 'vars.k3s.pod_security.exempt_namespaces' });
  return out;
}

const HEADER = '# Managed by clusterseed (k3s-server); local edits are overwritten.\n';

/**
 * psa.yaml: the PodSecurity plugin's cluster defaults and exemptions. The guide's example uses
 * PodSecurityConfiguration v1beta1; v1 (kubernetes/kubernetes staging/src/k8s.io/pod-security-admission/
 * admission/api/v1/types.go @ 81810de635aa13aa0a32992f6def3aa9d6025ebc, served since Kubernetes 1.25,
 * the first K3s release with PSA only) has the same fields.
 */
export function psaYaml(ps: PodSecurity): string {
  const namespaces = [...new Set(exemptions(ps).map((e) => e.namespace))].sort();
  const config = {
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'AdmissionConfiguration',
    plugins: [
      {
        name: 'PodSecurity',
        configuration: {
          apiVersion: 'pod-security.admission.config.k8s.io/v1',
          kind: 'PodSecurityConfiguration',
          defaults: {
            enforce: ps.enforce,
            'enforce-version': 'latest',
            audit: ps.audit,
            'audit-version': 'latest',
            warn: ps.warn,
            'warn-version': 'latest',
          },
          exemptions: { usernames: [], runtimeClasses: [], namespaces },
        },
      },
    ],
  };
  return HEADER + stringify(config);
}

/**
 * audit.yaml: request metadata (who did what to which object, never bodies, so no Secret content)
 * as the guide's starter policy, without the RequestReceived stage (every request would be logged
 * twice) and without the kubelets' and K3s' own lease renewals and health checks, which would fill
 * an SD card with nothing an admin looks for.
 */
export function auditPolicyYaml(): string {
  const policy = {
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived'],
    rules: [
      { level: 'None', verbs: ['get', 'update'], resources: [{ group: 'coordination.k8s.io', resources: ['leases'] }] },
      { level: 'None', nonResourceURLs: ['/healthz*', '/livez*', '/readyz*', '/version'] },
      { level: 'Metadata' },
    ],
  };
  return HEADER + stringify(policy);
}
