// Every K3s config.yaml key and every Kubernetes component argument clusterseed itself writes, with
// where real K3s / Kubernetes documents it. A unit test (test/unit/k3s-hardening.test.ts) renders
// config.yaml for servers and agents in every variant and fails on a key or argument not listed
// here, so nothing reaches a host that only the stand-in would accept. Keys a user adds through
// server_config / agent_config are the user's business and are not checked.

/** K3s CLI reference pages (a config.yaml key is a flag name without the dashes). */
const SERVER_MD = 'k3s-io/docs docs/cli/server.md @ 02434960d6d5881e47ae8a1c857c4b51f23deec6';
const AGENT_MD = 'k3s-io/docs docs/cli/agent.md @ 1f023c058c5f999a8857644625779e7298d13936';
const GUIDE_MD = 'k3s-io/docs docs/security/hardening-guide.md @ 035acb07eecd22cec26391cffc047d6d495348ea';

export interface KnownKey {
  /** which node kinds accept it: agent flags are valid on servers too (servers run an agent) */
  kinds: Array<'server' | 'agent'>;
  source: string;
}

const both: KnownKey['kinds'] = ['server', 'agent'];
const server: KnownKey['kinds'] = ['server'];

export const K3S_CONFIG_KEYS: Record<string, KnownKey> = {
  'node-name': { kinds: both, source: `${AGENT_MD} (--node-name)` },
  server: { kinds: both, source: `${SERVER_MD} (--server, Cluster Options); ${AGENT_MD}` },
  'cluster-init': { kinds: server, source: `${SERVER_MD} (--cluster-init)` },
  'node-ip': { kinds: both, source: `${AGENT_MD} (--node-ip)` },
  'tls-san': { kinds: server, source: `${SERVER_MD} (--tls-san, Listeners)` },
  'node-label': { kinds: both, source: `${AGENT_MD} (--node-label)` },
  'node-taint': { kinds: both, source: `${AGENT_MD} (--node-taint)` },
  disable: { kinds: server, source: `${SERVER_MD} (--disable, Kubernetes Components)` },
  'write-kubeconfig-mode': { kinds: server, source: `${SERVER_MD} (--write-kubeconfig-mode)` },
  'cluster-cidr': { kinds: server, source: `${SERVER_MD} (--cluster-cidr, Networking)` },
  'service-cidr': { kinds: server, source: `${SERVER_MD} (--service-cidr, Networking)` },
  'flannel-backend': { kinds: server, source: `${SERVER_MD} (--flannel-backend, Networking)` },
  'etcd-snapshot-schedule-cron': { kinds: server, source: `${SERVER_MD} (--etcd-snapshot-schedule-cron, Database)` },
  'etcd-snapshot-retention': { kinds: server, source: `${SERVER_MD} (--etcd-snapshot-retention, Database)` },
  'prefer-bundled-bin': { kinds: both, source: `${AGENT_MD} (--prefer-bundled-bin, Experimental)` },
  'secrets-encryption': { kinds: server, source: `${SERVER_MD} (--secrets-encryption); ${GUIDE_MD}` },
  'protect-kernel-defaults': { kinds: both, source: `${AGENT_MD} (--protect-kernel-defaults, Node); ${GUIDE_MD}` },
  'kube-apiserver-arg': { kinds: server, source: `${SERVER_MD} (--kube-apiserver-arg, Customized Flags)` },
  'kubelet-arg': { kinds: both, source: `${AGENT_MD} (--kubelet-arg, Customized Flags)` },
};

/** Kubernetes reference pages for the component arguments (flag names; the pages are not pinned). */
const KUBELET_REF = 'https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/';
const APISERVER_REF = 'https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/';

export const COMPONENT_ARGS: Record<string, Record<string, string>> = {
  'kubelet-arg': {
    'seccomp-default': `${KUBELET_REF} (--seccomp-default, GA since v1.27)`,
    'pod-max-pids': `${KUBELET_REF} (--pod-max-pids); ${GUIDE_MD} (Control 4.2.13)`,
    'streaming-connection-idle-timeout': `${KUBELET_REF}; ${GUIDE_MD} (kubelet-arg)`,
  },
  'kube-apiserver-arg': {
    'admission-control-config-file': `${APISERVER_REF}; ${GUIDE_MD} (Pod Security)`,
    'audit-policy-file': `${APISERVER_REF}; ${GUIDE_MD} (API Server audit configuration)`,
    'audit-log-path': `${APISERVER_REF}; ${GUIDE_MD}`,
    'audit-log-maxage': `${APISERVER_REF}; ${GUIDE_MD}`,
    'audit-log-maxbackup': `${APISERVER_REF}; ${GUIDE_MD}`,
    'audit-log-maxsize': `${APISERVER_REF}; ${GUIDE_MD}`,
  },
};

/** Keys and `key: arg-name` pairs of a rendered config that are not in the lists above (or not valid for the kind). */
export function unlistedKeys(config: Record<string, unknown>, kind: 'server' | 'agent'): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    const known = K3S_CONFIG_KEYS[key];
    if (!known || !known.kinds.includes(kind)) {
      out.push(key);
      continue;
    }
    const args = COMPONENT_ARGS[key];
    if (!args) continue;
    for (const arg of Array.isArray(value) ? value : [value]) {
      const name = String(arg).split('=')[0];
      if (!(name in args)) out.push(`${key}: ${name}`);
    }
  }
  return out;
}
