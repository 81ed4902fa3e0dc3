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
  /** the site this host stands at (`site:`); hosts of different sites talk through the site link */
  site?: string;
  /** this host's end of the site link (WireGuard); set for every host with a site when `site_link:` exists */
  link?: HostLinkSpec;
}

/** A host's end of the site link. */
export interface HostLinkSpec {
  /** its tunnel address (inside siteLink.network), e.g. 10.77.0.2 */
  address: string;
  /** host[:port] the other hosts dial to reach it (a public address); absent: it only dials out (behind NAT) */
  endpoint?: string;
}

/** `site_link:`: the encrypted link (WireGuard) between the hosts of different sites. */
export interface SiteLinkSpec {
  /** WireGuard interface on every linked host (at most 15 characters) */
  interface: string;
  /** CIDR the tunnel addresses are taken from */
  network: string;
  /** UDP port every linked host listens on */
  port: number;
  /** hub: every host peers with the hub only (spoke to spoke goes through it); mesh: every pair of hosts of different sites */
  topology: 'hub' | 'mesh';
  /** topology hub: the host with a public endpoint the others dial */
  hub?: string;
  /** seconds between keepalives from hosts without an endpoint (behind NAT); 0 = off */
  keepalive: number;
}

/** One pool of nodes of a cluster clusterseed does not build: what placement and quotas know of it. */
export interface NodePoolSpec {
  name: string;
  /** nodes in the pool */
  count: number;
  arch: Arch;
  /** allocatable CPU cores and memory (MiB) of one node */
  cpu: number;
  memoryMi: number;
  /** GPUs per node (nvidia.com/gpu) */
  gpus: number;
  /** node labels the pool's nodes carry (the placement selects on them) */
  labels: Record<string, string>;
  /** "key=value:Effect" taints of the pool's nodes */
  taints: string[];
}

/** `clusters.<name>.kubeconfig`: a cluster clusterseed does not build (managed LKE/GKE/EKS, k3d): no hosts, no roles. */
export interface AdoptedClusterSpec {
  /** absolute path of the kubeconfig clusterseed registers the cluster through */
  kubeconfig: string;
  /** context in it; absent: its current-context */
  context?: string;
  /** the API server URL as Argo CD on the management cluster reaches it; absent: the context's server */
  server?: string;
  nodePools: NodePoolSpec[];
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
  /** set for a cluster clusterseed does not build (then servers and agents are empty) */
  adopted?: AdoptedClusterSpec;
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
  /** `sites:` in document order (empty: one site, no link) */
  sites?: string[];
  /** `site_link:`, present when hosts stand at more than one site */
  siteLink?: SiteLinkSpec;
  /** problems worth telling the user that do not stop a run, each "file:line:col: warning: path: message" */
  warnings?: string[];
}
