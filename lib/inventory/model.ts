// The normalized inventory: what every other part of clusterseed reads.
// The YAML format is documented in docs/inventory.md and enforced by schemas/inventory.schema.json;
// lib/inventory/load.ts turns a validated YAML document into these types.

export type Arch = 'x86_64' | 'aarch64' | 'armv7l';

export interface JumpSpec {
  address: string;
  port: number;
  user: string;
  sshKey?: string;
}

export interface HostSpec {
  /** inventory name, also used as the node name */
  name: string;
  address: string;
  port: number;
  /** login user; with become=true commands run through sudo */
  user: string;
  become: boolean;
  /** name of an environment variable holding the sudo password (never the password itself) */
  becomePasswordEnv?: string;
  /** absolute path of a private key file; if absent, ssh-agent (SSH_AUTH_SOCK) is used */
  sshKey?: string;
  /** absolute path of the known_hosts file to verify host keys with; unset = the transport's default */
  knownHostsFile?: string;
  jump?: JumpSpec;
  /** the IP other nodes reach this host at, when it is not `address` (K3s node-ip) */
  nodeIp?: string;
  /** arch hint from the inventory; the real arch comes from facts (uname -m) */
  arch?: Arch;
  /** explicit Raspberry Pi override (true/false); undefined = detect */
  raspberryPi?: boolean;
  /** the cluster this host belongs to */
  cluster: string;
  /** groups this host is in, e.g. ['servers'] or ['agents', 'gpu'] */
  groups: string[];
  /** Kubernetes node labels */
  labels: Record<string, string>;
  /** Kubernetes node taints, "key=value:Effect" */
  taints: string[];
  /** merged vars: inventory vars < group vars (in group order) < host vars */
  vars: Record<string, unknown>;
}

export interface ComponentSpec {
  enabled: boolean;
  /** free-form values for the component's templates */
  [key: string]: unknown;
}

export interface ClusterSpec {
  name: string;
  /** pinned K3s version, e.g. v1.31.4+k3s1 */
  k3sVersion: string;
  /** base URL of K3s releases; <base>/download/<version>/k3s<suffix> */
  k3sMirror?: string;
  /** a VIP or DNS name for the API server, used in kubeconfig and tls-san */
  apiEndpoint?: string;
  clusterCidr: string;
  serviceCidr: string;
  flannelBackend: 'vxlan' | 'host-gw' | 'wireguard-native' | 'none';
  /** file on the control machine holding the cluster token (0600); generated when missing */
  tokenFile?: string;
  /** host names of the servers (first one initialises the cluster) and agents */
  servers: string[];
  agents: string[];
  /** base domain for ingress hostnames, e.g. homelab.lan */
  domain: string;
  /** GitOps components, merged: gitops.components < clusters.<name>.components */
  components: Record<string, ComponentSpec>;
  /** free-form cluster-level settings (k3s extra config etc.) */
  vars: Record<string, unknown>;
}

/** A `url` remote's credential settings (lib/publish/credentials.ts turns them into a credential). */
export interface RepoAuthSpec {
  /** a read-only deploy key Argo CD presents (absolute path); absent on an ssh URL: one is generated */
  sshKey?: string;
  /** environment variable holding an HTTPS token (push and Argo CD) */
  tokenEnv?: string;
  /** HTTPS user name sent with the token (default "git") */
  username?: string;
  /** readable without credentials: Argo CD gets no repository Secret */
  public?: boolean;
  /** known_hosts file with the ssh remote's host key (absolute path); absent: ~/.ssh/known_hosts */
  knownHosts?: string;
}

export interface GitopsSpec {
  /** where the rendered repo goes */
  repo:
    | { kind: 'github'; owner: string; name: string; private: boolean; org: boolean }
    | { kind: 'remote'; url: string; auth?: RepoAuthSpec }
    | { kind: 'local'; path: string };
  branch: string;
}

export interface Inventory {
  /** absolute path of the inventory file; relative paths in it resolve from its directory */
  file: string;
  dir: string;
  hosts: HostSpec[];
  /** group name -> host names, always contains 'servers' and 'agents' */
  groups: Record<string, string[]>;
  /** the first cluster is the management cluster (runs Argo CD for all) */
  clusters: ClusterSpec[];
  gitops: GitopsSpec;
  vars: Record<string, unknown>;
  /** problems worth telling the user that do not stop a run, each "file:line:col: warning: path: message" */
  warnings?: string[];
}
