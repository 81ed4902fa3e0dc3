// Values used when the inventory leaves a setting out. The schema's `default` annotations document
// the same values (a unit test keeps the two in step).

export const DEFAULT_PORT = 22;
export const DEFAULT_BECOME = true;
export const DEFAULT_CLUSTER_CIDR = '10.42.0.0/16';
export const DEFAULT_SERVICE_CIDR = '10.43.0.0/16';
export const DEFAULT_FLANNEL_BACKEND = 'vxlan' as const;
export const DEFAULT_BRANCH = 'main';
export const DEFAULT_GITOPS_LOCAL_REPO = '.clusterseed/gitops.git';
export const DEFAULT_GITHUB_PRIVATE = true;
export const DEFAULT_GITHUB_ORG = false;
/** the HTTPS user name sent with gitops.repo.token_env (Gitea, GitLab and GitHub accept any with a token) */
export const DEFAULT_REPO_USERNAME = 'git';
/** the site link (WireGuard): its UDP port, topology, keepalive (s) from hosts behind NAT, interface */
export const DEFAULT_LINK_PORT = 51820;
/**
 * The UDP ports flannel's wireguard-native backend binds on every node (IPv4, IPv6); K3s has no
 * setting to move them (k3s-io/k3s pkg/agent/flannel/setup.go, 05f0cdf), so a site link on a node
 * of such a cluster needs another port.
 */
export const FLANNEL_WIREGUARD_PORTS = [51820, 51821];
export const DEFAULT_LINK_TOPOLOGY = 'hub' as const;
export const DEFAULT_LINK_KEEPALIVE = 25;
export const DEFAULT_LINK_INTERFACE = 'cs-link';
/** GPUs per node of an adopted cluster's node pool */
export const DEFAULT_NODE_POOL_GPUS = 0;
/** listed components are deployed unless they say enabled: false */
export const DEFAULT_COMPONENT_ENABLED = true;

/** relative to the inventory's directory */
export function defaultTokenFile(cluster: string): string {
  return `.clusterseed/${cluster}/token`;
}

export function defaultDomain(cluster: string): string {
  return `${cluster}.lan`;
}
