// The inventory as written (snake_case YAML keys), after it passed the JSON Schema.
// Only the checks and the normalizer read these; everything else reads model.ts.

export type RawVars = Record<string, unknown>;

export type RawComponent = boolean | ({ enabled?: boolean } & Record<string, unknown>);

export interface RawCluster {
  name?: string;
  /** required unless the cluster is adopted (kubeconfig): checked in semantic.ts */
  k3s_version?: string;
  k3s_mirror?: string;
  api_endpoint?: string;
  cluster_cidr?: string;
  service_cidr?: string;
  flannel_backend?: 'vxlan' | 'host-gw' | 'wireguard-native' | 'none';
  token_file?: string;
  domain?: string;
  components?: Record<string, RawComponent>;
  vars?: RawVars;
  /** an adopted cluster (built elsewhere): checked in adopted.ts */
  kubeconfig?: string;
  context?: string;
  server?: string;
  node_pools?: RawNodePool[];
}

export interface RawNodePool {
  name: string;
  count: number;
  arch: 'x86_64' | 'aarch64' | 'armv7l';
  cpu: number;
  memory: string;
  gpus?: number;
  labels?: Record<string, string>;
  taints?: string[];
}

export interface RawConnection {
  user?: string;
  port?: number;
  become?: boolean;
  become_password_env?: string;
  ssh_key?: string;
  known_hosts?: string;
}

export interface RawJump {
  address: string;
  port?: number;
  user?: string;
  ssh_key?: string;
}

export interface RawHost extends RawConnection {
  address: string;
  jump?: string | RawJump;
  node_ip?: string;
  arch?: 'x86_64' | 'aarch64' | 'armv7l';
  raspberry_pi?: boolean;
  cluster?: string;
  labels?: Record<string, string>;
  taints?: string[];
  vars?: RawVars;
  site?: string;
  link?: { address?: string; endpoint?: string };
}

export type RawGroup = string[] | { hosts: string[]; vars?: RawVars };

/** How Argo CD (and the push) authenticate to a `url` remote; checked in semantic.ts. */
export interface RawRepoAuth {
  ssh_key?: string;
  token_env?: string;
  known_hosts?: string;
  username?: string;
  public?: boolean;
}

export interface RawGitops {
  repo?:
    { github: { owner: string; name: string; private?: boolean; org?: boolean } } | ({ url: string } & RawRepoAuth) | { local: string };
  branch?: string;
  components?: Record<string, RawComponent>;
}

export interface RawInventory {
  cluster?: RawCluster & { name: string };
  clusters?: Record<string, RawCluster>;
  defaults?: RawConnection;
  hosts: Record<string, RawHost>;
  groups: Record<string, RawGroup> & { servers: RawGroup; agents?: RawGroup };
  vars?: RawVars;
  gitops?: RawGitops;
  sites?: string[] | Record<string, Record<string, never> | null>;
  site_link?: RawSiteLink;
}

export interface RawSiteLink {
  network: string;
  port?: number;
  topology?: 'hub' | 'mesh';
  hub?: string;
  keepalive?: number;
  interface?: string;
}

export function groupMembers(group: RawGroup): string[] {
  return Array.isArray(group) ? group : group.hosts;
}

/** Path of a group's member list in the document: groups.x[i] or groups.x.hosts[i]. */
export function groupMemberPath(name: string, group: RawGroup, index: number): Array<string | number> {
  return Array.isArray(group) ? ['groups', name, index] : ['groups', name, 'hosts', index];
}

/** The clusters in document order, with the path of their settings. */
export interface ClusterEntry {
  name: string;
  settings: RawCluster;
  path: Array<string | number>;
}
