// A checked raw inventory → the normalized model: defaults filled in, paths made absolute,
// jump hosts resolved, vars and components merged.
import * as D from './defaults.ts';
import type { FieldPath } from './errors.ts';
import { normalizeAdopted } from './adopted.ts';
import { clusterOf, isAdopted, isNode, siteOf, type Layout } from './layout.ts';
import { deepMerge, isPlainObject } from './merge.ts';
import type { ClusterSpec, ComponentSpec, GitopsSpec, HostSpec, Inventory, JumpSpec } from './model.ts';
import { normalizeHostLinks, normalizeSiteLink } from './site-link.ts';
import { expandPath } from './paths.ts';
import { groupMembers, type ClusterEntry, type RawComponent, type RawHost, type RawInventory } from './raw.ts';

/** Where a host's connection files and secrets were set, for errors found later (checkConnectionFiles). */
export interface HostOrigins {
  host: FieldPath;
  sshKey?: FieldPath;
  jumpSshKey?: FieldPath;
  becomePasswordEnv?: FieldPath;
}

export interface Normalized {
  inventory: Inventory;
  origins: Map<string, HostOrigins>;
}

export function normalize(
  raw: RawInventory,
  layout: Layout,
  file: string,
  dir: string,
  kubeconfigServers: Map<string, string> = new Map(),
): Normalized {
  const origins = new Map<string, HostOrigins>();
  const hosts: HostSpec[] = [];
  const links = normalizeHostLinks(raw, layout);
  for (const name of layout.hostNames) {
    if (!isNode(layout, name)) continue; // jump-only hosts live on in their users' JumpSpec
    const { host, origin } = normalizeHost(raw, layout, name, dir);
    const site = siteOf(raw, layout, name);
    if (site !== undefined) host.site = site;
    const link = links.get(name);
    if (link) host.link = link;
    hosts.push(host);
    origins.set(name, origin);
  }

  const groups: Record<string, string[]> = { servers: [], agents: [] };
  for (const name of layout.groupNames) groups[name] = [...groupMembers(raw.groups[name])];

  const clusters = layout.clusters.map((entry) =>
    isAdopted(entry)
      ? normalizeAdoptedCluster(raw, entry, dir, kubeconfigServers.get(entry.name))
      : normalizeCluster(raw, entry, hosts, dir),
  );

  const inventory: Inventory = { file, dir, hosts, groups, clusters, gitops: normalizeGitops(raw, dir), vars: deepMerge(raw.vars) };
  if (layout.sites.length) inventory.sites = [...layout.sites];
  const siteLink = normalizeSiteLink(raw, layout);
  if (siteLink) inventory.siteLink = siteLink;
  return { inventory, origins };
}

function normalizeHost(raw: RawInventory, layout: Layout, name: string, dir: string): { host: HostSpec; origin: HostOrigins } {
  const h = raw.hosts[name];
  const defaults = raw.defaults ?? {};
  const from = (field: keyof RawHost & keyof typeof defaults): FieldPath | undefined =>
    h[field] !== undefined ? ['hosts', name, field] : defaults[field] !== undefined ? ['defaults', field] : undefined;

  const user = (h.user ?? defaults.user)!; // presence checked by the semantic checks
  const sshKeyText = h.ssh_key ?? defaults.ssh_key;
  const sshKey = sshKeyText === undefined ? undefined : expandPath(sshKeyText, dir);
  const knownHosts = h.known_hosts ?? defaults.known_hosts;
  const groupNames = layout.groupNames.filter((g) => groupMembers(raw.groups[g]).includes(name));
  const groupVars = groupNames.map((g) => {
    const group = raw.groups[g];
    return Array.isArray(group) ? undefined : group.vars;
  });

  const host: HostSpec = {
    name,
    address: h.address,
    port: h.port ?? defaults.port ?? D.DEFAULT_PORT,
    user,
    become: h.become ?? defaults.become ?? D.DEFAULT_BECOME,
    becomePasswordEnv: h.become_password_env ?? defaults.become_password_env,
    sshKey,
    knownHostsFile: knownHosts === undefined ? undefined : expandPath(knownHosts, dir),
    jump: resolveJump(raw, name, user, sshKey, dir),
    nodeIp: h.node_ip,
    arch: h.arch,
    raspberryPi: h.raspberry_pi,
    cluster: clusterOf(raw, layout, name)!,
    groups: groupNames,
    labels: { ...h.labels },
    taints: [...(h.taints ?? [])],
    vars: deepMerge(raw.vars, ...groupVars, h.vars),
  };
  dropUndefined(host);

  const origin: HostOrigins = { host: ['hosts', name], sshKey: from('ssh_key'), becomePasswordEnv: from('become_password_env') };
  if (typeof h.jump === 'string') {
    const target = raw.hosts[h.jump];
    origin.jumpSshKey = target.ssh_key !== undefined ? ['hosts', h.jump, 'ssh_key'] : from('ssh_key');
  } else if (h.jump) {
    origin.jumpSshKey = h.jump.ssh_key !== undefined ? ['hosts', name, 'jump', 'ssh_key'] : from('ssh_key');
  }
  return { host, origin };
}

/**
 * A named jump host connects the way it would as a host of its own; an inline one takes port from
 * defaults (else 22) and user and key from the host it leads to.
 */
function resolveJump(raw: RawInventory, name: string, user: string, sshKey: string | undefined, dir: string): JumpSpec | undefined {
  const jump = raw.hosts[name].jump;
  const defaults = raw.defaults ?? {};
  if (jump === undefined) return undefined;
  let spec: JumpSpec;
  if (typeof jump === 'string') {
    const target = raw.hosts[jump];
    const keyText = target.ssh_key ?? defaults.ssh_key;
    spec = {
      address: target.address,
      port: target.port ?? defaults.port ?? D.DEFAULT_PORT,
      user: (target.user ?? defaults.user)!,
      sshKey: keyText === undefined ? undefined : expandPath(keyText, dir),
    };
  } else {
    spec = {
      address: jump.address,
      port: jump.port ?? defaults.port ?? D.DEFAULT_PORT,
      user: jump.user ?? user,
      sshKey: jump.ssh_key === undefined ? sshKey : expandPath(jump.ssh_key, dir),
    };
  }
  return dropUndefined(spec);
}

function normalizeCluster(raw: RawInventory, entry: ClusterEntry, hosts: HostSpec[], dir: string): ClusterSpec {
  const s = entry.settings;
  const members = hosts.filter((h) => h.cluster === entry.name);
  const inGroup = (group: string) => members.filter((h) => h.groups.includes(group)).map((h) => h.name);
  const spec: ClusterSpec = {
    name: entry.name,
    k3sVersion: s.k3s_version!, // required of a built cluster by the checks
    k3sMirror: s.k3s_mirror?.replace(/\/+$/, ''),
    apiEndpoint: s.api_endpoint,
    clusterCidr: s.cluster_cidr ?? D.DEFAULT_CLUSTER_CIDR,
    serviceCidr: s.service_cidr ?? D.DEFAULT_SERVICE_CIDR,
    flannelBackend: s.flannel_backend ?? D.DEFAULT_FLANNEL_BACKEND,
    tokenFile: expandPath(s.token_file ?? D.defaultTokenFile(entry.name), dir),
    servers: orderedLike(groupMembers(raw.groups.servers), inGroup('servers')),
    agents: orderedLike(raw.groups.agents ? groupMembers(raw.groups.agents) : [], inGroup('agents')),
    domain: s.domain ?? D.defaultDomain(entry.name),
    components: mergeComponents(raw.gitops?.components, s.components),
    vars: deepMerge(s.vars),
  };
  return dropUndefined(spec);
}

/**
 * A cluster built elsewhere: no K3s (version, networks and token are not clusterseed's to know:
 * empty, flannel 'none'), no servers or agents; what clusterseed knows of it is in `adopted`.
 */
function normalizeAdoptedCluster(raw: RawInventory, entry: ClusterEntry, dir: string, kubeconfigServer: string | undefined): ClusterSpec {
  const s = entry.settings;
  return {
    name: entry.name,
    k3sVersion: '',
    clusterCidr: '',
    serviceCidr: '',
    flannelBackend: 'none',
    servers: [],
    agents: [],
    domain: s.domain ?? D.defaultDomain(entry.name),
    components: mergeComponents(raw.gitops?.components, s.components),
    vars: deepMerge(s.vars),
    adopted: normalizeAdopted(entry, dir, kubeconfigServer),
  };
}

/** Members in group order: the first server listed is the one that initialises the cluster. */
function orderedLike(groupOrder: string[], members: string[]): string[] {
  return groupOrder.filter((h) => members.includes(h));
}

/** gitops.components < clusters.<name>.components; `true`/`false` are short for {enabled: ...}. */
function mergeComponents(
  base: Record<string, RawComponent> | undefined,
  override: Record<string, RawComponent> | undefined,
): Record<string, ComponentSpec> {
  const asObject = (c: RawComponent) => (isPlainObject(c) ? c : { enabled: c });
  const names = [...Object.keys(base ?? {}), ...Object.keys(override ?? {})];
  const out: Record<string, ComponentSpec> = {};
  for (const name of new Set(names)) {
    const layers = [base?.[name], override?.[name]].filter((c): c is RawComponent => c !== undefined).map(asObject);
    const merged = deepMerge({ enabled: D.DEFAULT_COMPONENT_ENABLED }, ...layers);
    out[name] = merged as ComponentSpec;
  }
  return out;
}

function normalizeGitops(raw: RawInventory, dir: string): GitopsSpec {
  const repo = raw.gitops?.repo ?? { local: D.DEFAULT_GITOPS_LOCAL_REPO };
  const branch = raw.gitops?.branch ?? D.DEFAULT_BRANCH;
  if ('github' in repo) {
    const g = repo.github;
    return {
      repo: {
        kind: 'github',
        owner: g.owner,
        name: g.name,
        private: g.private ?? D.DEFAULT_GITHUB_PRIVATE,
        org: g.org ?? D.DEFAULT_GITHUB_ORG,
      },
      branch,
    };
  }
  if ('url' in repo) {
    const auth = dropUndefined({
      sshKey: repo.ssh_key === undefined ? undefined : expandPath(repo.ssh_key, dir),
      tokenEnv: repo.token_env,
      username: repo.username,
      public: repo.public,
      knownHosts: repo.known_hosts === undefined ? undefined : expandPath(repo.known_hosts, dir),
    });
    return { repo: { kind: 'remote', url: repo.url, ...(Object.keys(auth).length ? { auth } : {}) }, branch };
  }
  return { repo: { kind: 'local', path: expandPath(repo.local, dir) }, branch };
}

/** Optional fields are absent rather than present-and-undefined, so objects compare and print cleanly. */
function dropUndefined<T extends object>(obj: T): T {
  for (const key of Object.keys(obj) as Array<keyof T>) {
    if (obj[key] === undefined) delete obj[key];
  }
  return obj;
}
