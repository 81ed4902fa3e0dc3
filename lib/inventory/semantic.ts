// Checks across fields, run once the document has the right shape: references between hosts,
// groups and clusters, network sanity, Kubernetes syntax rules. Each problem is reported at the
// field that has to change.
import { cidrContains, cidrsOverlap, parseCidrList, type Cidr } from './cidr.ts';
import { DEFAULT_CLUSTER_CIDR, DEFAULT_PORT, DEFAULT_SERVICE_CIDR, defaultTokenFile } from './defaults.ts';
import { formatPath, type FieldPath, type InventoryIssue } from './errors.ts';
import { clusterOf, isAdopted, isNode, readLayout, type Layout } from './layout.ts';
import { expandPath } from './paths.ts';
import { groupMemberPath, groupMembers, type ClusterEntry, type RawInventory } from './raw.ts';
import type { SourceDoc } from './source.ts';
import { closest, didYouMean } from './suggest.ts';
import { describe } from './schema.ts';
import { gitUrlTransport } from './git-url.ts';
import { addressProblem } from './syntax.ts';
import { checkAdoptedClusters } from './adopted.ts';
import { checkLabelKeys, checkTaintList } from './node-labels.ts';
import { checkSites } from './site-link.ts';

export interface CheckResult {
  errors: InventoryIssue[];
  warnings: InventoryIssue[];
  /** each adopted cluster's server as its kubeconfig says (the normalizer's default for `server:`) */
  kubeconfigServers: Map<string, string>;
}

type Where = 'key' | 'value';

export class Reporter {
  readonly errors: InventoryIssue[] = [];
  readonly warnings: InventoryIssue[] = [];
  /** set when a group or cluster reference is wrong, so which hosts a cluster has is unknown */
  membershipDoubtful = false;
  /** hosts offered as "did you mean" for a wrong reference: fixing that may put them in place */
  readonly suggested = new Set<string>();

  constructor(private readonly source: SourceDoc) {}

  /** didYouMean() that remembers the host it offered */
  suggestHost(name: string, candidates: string[]): string {
    const guess = closest(name, candidates);
    if (!guess) return '';
    this.suggested.add(guess);
    return ` (did you mean "${guess}"?)`;
  }

  error(path: FieldPath, message: string, opts: { at?: Where; expected?: string } = {}): void {
    this.errors.push(this.issue(path, message, 'error', opts));
  }
  warn(path: FieldPath, message: string, opts: { at?: Where } = {}): void {
    this.warnings.push(this.issue(path, message, 'warning', opts));
  }
  line(path: FieldPath): number {
    return this.source.locateKey(path).line;
  }

  private issue(path: FieldPath, message: string, severity: 'error' | 'warning', opts: { at?: Where; expected?: string }): InventoryIssue {
    const at = opts.at === 'key' ? this.source.locateKey(path) : this.source.locateValue(path);
    return { file: this.source.file, line: at.line, column: at.column, path: formatPath(path), message, expected: opts.expected, severity };
  }
}

export function checkSemantics(raw: RawInventory, source: SourceDoc, dir: string): CheckResult {
  const report = new Reporter(source);
  const layout = readLayout(raw, source);
  checkClusterDeclaration(raw, report);
  // without a clear set of clusters every membership check would only echo that error
  if (report.errors.length) return { errors: report.errors, warnings: report.warnings, kubeconfigServers: new Map() };
  const networks = new Map<string, Cidr[]>();
  for (const cluster of layout.clusters) {
    if (!isAdopted(cluster)) checkCluster(cluster, report, networks);
  }
  const kubeconfigServers = checkAdoptedClusters(layout, report, dir);
  checkTokenFiles(layout, dir, report);
  checkGroups(raw, layout, report);
  for (const name of layout.hostNames) checkJump(raw, name, report);
  checkHosts(raw, layout, report, networks);
  // a misspelled cluster: or group member makes a cluster look empty: say it once, where it is wrong
  if (!report.membershipDoubtful) checkClusterMembership(raw, layout, report);
  checkSites(raw, layout, report);
  checkGitopsRepo(raw, report);
  return { errors: report.errors, warnings: report.warnings, kubeconfigServers };
}

function checkClusterDeclaration(raw: RawInventory, report: Reporter): void {
  if (raw.cluster && raw.clusters) {
    report.error(['clusters'], 'use either cluster: (one cluster) or clusters: (several), not both', { at: 'key' });
  } else if (!raw.cluster && !raw.clusters) {
    report.error(['cluster'], 'is required: add a cluster: section with name and k3s_version (or clusters: for several clusters)', {
      expected: 'a cluster: or clusters: section',
    });
  }
  for (const [name, settings] of Object.entries(raw.clusters ?? {})) {
    if (settings.name !== undefined && settings.name !== name) {
      report.error(['clusters', name, 'name'], `must match its key "${name}" (got "${settings.name}"); the key is the cluster's name`);
    }
  }
}

function checkCluster(cluster: ClusterEntry, report: Reporter, networks: Map<string, Cidr[]>): void {
  const { settings, path } = cluster;
  const parsed: Record<'cluster_cidr' | 'service_cidr', Cidr[] | undefined> = { cluster_cidr: undefined, service_cidr: undefined };
  for (const field of ['cluster_cidr', 'service_cidr'] as const) {
    const text = settings[field] ?? (field === 'cluster_cidr' ? DEFAULT_CLUSTER_CIDR : DEFAULT_SERVICE_CIDR);
    const result = parseCidrList(text);
    if (typeof result === 'string') report.error([...path, field], result, { expected: 'a CIDR like 10.42.0.0/16' });
    else parsed[field] = result;
  }
  const pods = parsed.cluster_cidr;
  const services = parsed.service_cidr;
  if (pods && services) {
    for (const p of pods) {
      for (const s of services) {
        if (cidrsOverlap(p, s)) {
          const field = settings.service_cidr !== undefined ? 'service_cidr' : 'cluster_cidr';
          report.error(
            [...path, field],
            `cluster_cidr ${p.text} and service_cidr ${s.text} overlap; pods and services need separate networks`,
          );
        }
      }
    }
    networks.set(cluster.name, [...pods, ...services]);
  }
  if (settings.api_endpoint !== undefined) {
    const problem = addressProblem(settings.api_endpoint);
    if (problem) report.error([...path, 'api_endpoint'], problem);
  }
}

function checkTokenFiles(layout: Layout, dir: string, report: Reporter): void {
  const seen = new Map<string, string>();
  for (const cluster of layout.clusters) {
    if (isAdopted(cluster)) continue; // no token: K3s settings are refused on it
    const file = expandPath(cluster.settings.token_file ?? defaultTokenFile(cluster.name), dir);
    const other = seen.get(file);
    if (other) {
      report.error(
        [...cluster.path, 'token_file'],
        `is the same file as cluster "${other}"'s token_file; each cluster needs its own token`,
      );
    }
    seen.set(file, cluster.name);
  }
}

function checkGroups(raw: RawInventory, layout: Layout, report: Reporter): void {
  // a misspelled member most likely means a host that is in no cluster group yet
  const ungrouped = Object.keys(raw.hosts).filter((h) => !isNode(layout, h));
  const hostNames = [...ungrouped, ...Object.keys(raw.hosts).filter((h) => isNode(layout, h))];
  for (const name of layout.groupNames) {
    const group = raw.groups[name];
    groupMembers(group).forEach((member, index) => {
      const at = groupMemberPath(name, group, index);
      if (!Object.hasOwn(raw.hosts, member)) {
        report.membershipDoubtful = true;
        report.error(at, `unknown host "${member}"${report.suggestHost(member, hostNames)}; hosts are declared under hosts:`);
      } else if (name === 'agents' && layout.servers.has(member)) {
        report.error(at, `"${member}" is also in groups.servers; a host is either a K3s server or an agent (servers run workloads too)`);
      }
    });
  }
  if (groupMembers(raw.groups.servers).length === 0) {
    report.error(['groups', 'servers'], 'needs at least one host: the first server initialises the cluster');
  }
}

function checkHosts(raw: RawInventory, layout: Layout, report: Reporter, networks: Map<string, Cidr[]>): void {
  const endpoints = new Map<string, string>();
  const clusterNames = layout.clusters.map((c) => c.name);
  const adopted = new Set(layout.clusters.filter(isAdopted).map((c) => c.name));
  const built = clusterNames.filter((c) => !adopted.has(c));
  for (const name of layout.hostNames) {
    const host = raw.hosts[name];
    const path = ['hosts', name];

    const problem = addressProblem(host.address);
    if (problem) report.error([...path, 'address'], problem);

    if ((host.user ?? raw.defaults?.user) === undefined) {
      report.error(path, `has no login user: set hosts.${name}.user or defaults.user`, { at: 'key', expected: 'a user' });
    }

    if (host.raspberry_pi === true && host.arch === 'x86_64') {
      report.error([...path, 'raspberry_pi'], 'contradicts arch: x86_64 (Raspberry Pis are aarch64 or armv7l)');
    }

    checkLabelKeys(host.labels, [...path, 'labels'], report, { nodeSelf: true });
    checkTaintList(host.taints, [...path, 'taints'], report);

    // the same SSH endpoint twice is almost always a copy-paste slip
    const port = host.port ?? raw.defaults?.port ?? DEFAULT_PORT;
    const via = typeof host.jump === 'string' ? host.jump : (host.jump?.address ?? '');
    const endpoint = `${host.address.toLowerCase()}:${port}:${via}`;
    const first = endpoints.get(endpoint);
    if (first) {
      report.error(
        [...path, 'address'],
        `${host.address} port ${port} is already used by host "${first}" (line ${report.line(['hosts', first])})`,
      );
    } else {
      endpoints.set(endpoint, name);
    }

    if (host.cluster !== undefined && !clusterNames.includes(host.cluster)) {
      report.membershipDoubtful = true;
      report.error(
        [...path, 'cluster'],
        `unknown cluster "${host.cluster}"${didYouMean(host.cluster, clusterNames)}; clusters: ${clusterNames.join(', ')}`,
      );
    } else if (host.cluster !== undefined && adopted.has(host.cluster)) {
      report.membershipDoubtful = true;
      report.error(
        [...path, 'cluster'],
        `cluster "${host.cluster}" is adopted (kubeconfig:): clusterseed does not build it, so it has no hosts; built clusters: ${built.join(', ')}`,
      );
    }

    if (isNode(layout, name)) {
      const cluster = clusterOf(raw, layout, name);
      if (cluster === undefined && host.cluster === undefined) {
        report.membershipDoubtful = true;
        report.error(path, `needs cluster: (the inventory has several clusters: ${built.join(', ')})`, {
          at: 'key',
          expected: built.join(' or '),
        });
      }
      for (const net of networks.get(cluster ?? '') ?? []) {
        for (const field of ['address', 'node_ip'] as const) {
          const value = host[field];
          if (value !== undefined && cidrContains(net, value)) {
            report.error(
              [...path, field],
              `${value} is inside the cluster's pod/service network ${net.text}; choose another cluster_cidr/service_cidr`,
            );
          }
        }
      }
    } else {
      checkNonNode(raw, layout, name, report);
    }
  }
}

/** A host in no cluster group is only there to be jumped through. */
function checkNonNode(raw: RawInventory, layout: Layout, name: string, report: Reporter): void {
  const customGroups = layout.groupNames.filter((g) => g !== 'servers' && g !== 'agents' && groupMembers(raw.groups[g]).includes(name));
  if (customGroups.length) {
    report.error(
      ['hosts', name],
      `is in groups.${customGroups[0]} but in neither groups.servers nor groups.agents; add it to one of them`,
      { at: 'key' },
    );
  } else if (!layout.jumpTargets.has(name) && !report.suggested.has(name)) {
    report.error(
      ['hosts', name],
      'is in neither groups.servers nor groups.agents: add it to one, or remove it (only jump hosts may stay outside the cluster groups)',
      { at: 'key' },
    );
  }
}

function checkJump(raw: RawInventory, name: string, report: Reporter): void {
  const jump = raw.hosts[name].jump;
  const path = ['hosts', name, 'jump'];
  if (jump === undefined) return;
  if (typeof jump === 'object') {
    const problem = addressProblem(jump.address);
    if (problem) report.error([...path, 'address'], problem);
    return;
  }
  if (jump === name) {
    report.error(path, 'a host cannot be its own jump host');
  } else if (!Object.hasOwn(raw.hosts, jump)) {
    report.error(
      path,
      `unknown host "${jump}"${report.suggestHost(jump, Object.keys(raw.hosts))}; name a host from hosts: or give {address, port, user}`,
    );
  } else if (raw.hosts[jump].jump !== undefined) {
    report.error(path, `"${jump}" itself connects through a jump host; chained jumps are not supported`);
  }
}

function checkClusterMembership(raw: RawInventory, layout: Layout, report: Reporter): void {
  if (layout.servers.size === 0) return; // reported at groups.servers already
  for (const cluster of layout.clusters) {
    if (isAdopted(cluster)) continue; // built elsewhere: hosts on it are refused in checkHosts
    const nodes = layout.hostNames.filter((h) => isNode(layout, h) && clusterOf(raw, layout, h) === cluster.name);
    const servers = nodes.filter((h) => layout.servers.has(h));
    if (nodes.length === 0) {
      report.error(
        cluster.path,
        `cluster "${cluster.name}" has no hosts: set cluster: ${cluster.name} on its hosts and list them in groups`,
        { at: 'key' },
      );
    } else if (servers.length === 0) {
      report.error(cluster.path, `cluster "${cluster.name}" has no server: add one of its hosts (${nodes.join(', ')}) to groups.servers`, {
        at: 'key',
      });
    } else if (servers.length % 2 === 0) {
      report.warn(
        ['groups', 'servers'],
        `cluster "${cluster.name}" has ${servers.length} servers: embedded etcd keeps quorum only with a majority, so an even count tolerates no more failures than one server less (use 1, 3 or 5)`,
        { at: 'key' },
      );
    }
  }
}

const REPO_KINDS = ['github', 'url', 'local'] as const;
const REPO_AUTH_KEYS = ['ssh_key', 'token_env', 'username', 'public', 'known_hosts'] as const;

/** One place to push to, and credential settings that fit its URL (lib/publish/credentials.ts). */
function checkGitopsRepo(raw: RawInventory, report: Reporter): void {
  const repo = raw.gitops?.repo as Record<string, unknown> | undefined;
  if (!repo) return;
  const at = ['gitops', 'repo'];
  const kinds = REPO_KINDS.filter((k) => k in repo);
  if (kinds.length !== 1) {
    report.error(at, `must be exactly one of github, url or local (got ${describe(repo)})`, {
      expected: 'exactly one of github, url or local',
    });
    return;
  }
  const auth = REPO_AUTH_KEYS.filter((k) => k in repo);
  if (kinds[0] !== 'url') {
    const why = kinds[0] === 'github' ? 'GitHub gets a deploy key of its own' : 'a local repository needs none';
    for (const k of auth) report.error([...at, k], `only applies to a url remote (${why})`, { at: 'key' });
    return;
  }
  const url = repo.url as string;
  const transport = gitUrlTransport(url);
  if (repo.token_env !== undefined && transport !== 'http') {
    const hint = transport === 'ssh' ? 'an ssh URL authenticates with a key: use ssh_key instead' : 'this URL is not read over https';
    report.error([...at, 'token_env'], `a token needs an https URL (${hint})`);
  }
  if (repo.token_env !== undefined && /^http:/i.test(url)) {
    report.warn([...at, 'url'], 'is plain http: the token crosses the network unencrypted; use https');
  }
  if (repo.ssh_key !== undefined && transport !== 'ssh') {
    report.error([...at, 'ssh_key'], 'a deploy key needs an ssh URL (ssh://host/path or user@host:path); for https use token_env');
  }
  if (repo.known_hosts !== undefined && transport !== 'ssh') {
    report.error([...at, 'known_hosts'], 'holds the host key of an ssh remote; this URL is not read over ssh', { at: 'key' });
  }
  if (repo.username !== undefined && repo.token_env === undefined) {
    report.error([...at, 'username'], 'is sent with a token: set token_env too', { at: 'key' });
  }
  if (repo.public === true) {
    if (repo.ssh_key !== undefined || repo.token_env !== undefined) {
      report.error([...at, 'public'], 'a public repository needs no credential: remove ssh_key/token_env, or public');
    } else if (transport === 'ssh') {
      report.error(
        [...at, 'public'],
        'Argo CD cannot clone over ssh without a key: give the https URL of a public repository, or drop public to get a deploy key',
      );
    }
  }
}
