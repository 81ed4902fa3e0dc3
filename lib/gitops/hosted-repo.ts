// Where the on-cluster GitOps repository lives and the address Argo CD reads it at. Pure: the
// render (lib/gitops/model.ts), the remote host keys (lib/publish), the harden role (sshd
// AllowGroups, firewall) and the gitops-repo role (roles/gitops-repo) all ask the same questions of
// the inventory. Knowledge, not tasks: it lives below the roles so that lib/ never imports roles/.
import type { HostSpec, Inventory } from '../inventory/model.ts';
import { deepMerge } from '../runner/merge.ts';
import { roleSettings, VarsReader } from '../settings/index.ts';

/** `vars.gitops-repo`: the role's defaults.yaml (roles/gitops-repo/README.md "Settings"), read as data */
export const gitopsRepoSettings = roleSettings('gitops-repo', new URL('../../roles/gitops-repo/index.ts', import.meta.url).href);
export const gitopsRepoDefaults = gitopsRepoSettings.defaults;

export interface HostedRepo {
  /** the first server of the management cluster */
  host: HostSpec;
  user: string;
  home: string;
  repoPath: string;
}

/** The inventory's first server, when the repository is hosted on the cluster (no other remote named). */
export function hostedRepoHost(inventory: Inventory): HostSpec | undefined {
  if (inventory.gitops.repo.kind !== 'local') return undefined;
  const name = inventory.clusters[0]?.servers[0];
  return inventory.hosts.find((h) => h.name === name);
}

const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

/**
 * The hosted repository's settings (vars.gitops-repo of the first server), or undefined when the
 * inventory publishes elsewhere. Values are checked here: they end up in a forced command and a URL.
 */
export function hostedRepoOf(inventory: Inventory): HostedRepo | undefined {
  const host = hostedRepoHost(inventory);
  if (!host) return undefined;
  const vars = deepMerge(gitopsRepoDefaults, (host.vars['gitops-repo'] as Record<string, unknown>) ?? {});
  const r = new VarsReader(`${inventory.file}: host ${host.name}`, vars, 'vars.gitops-repo');
  const user = r.string('user', { pattern: /^[a-z_][a-z0-9_-]{0,31}$/, expected: 'a user name' });
  const pathOf = (key: string) => {
    const p = r.string(key, { pattern: SAFE_PATH, expected: 'an absolute path of letters, digits, . _ - /' });
    if (p.split('/').includes('..')) r.fail(key, 'an absolute path without ..', p);
    return p.replace(/\/+$/, '');
  };
  const home = pathOf('home');
  const repoPath = pathOf('repo_path');
  if (!repoPath.startsWith(`${home}/`)) r.fail('repo_path', `a path inside home (${home}): the user creates it`, repoPath);
  return { host, user, home, repoPath };
}

/** Where Argo CD reaches the host's sshd: its node IP (K3s' node-ip) and the port sshd listens on. */
export interface SshEndpoint {
  address: string;
  port: number;
}

/** The endpoint known before any host is contacted: node_ip (else the address) and the inventory port. */
export function inventoryEndpoint(host: HostSpec): SshEndpoint {
  return { address: host.nodeIp ?? host.address, port: host.port };
}

/** ssh://user@address:port/path, IPv6 addresses in brackets. */
export function hostedRepoUrl(repo: Pick<HostedRepo, 'user' | 'repoPath'>, at: SshEndpoint): string {
  const host = at.address.includes(':') ? `[${at.address}]` : at.address;
  return `ssh://${repo.user}@${host}:${at.port}${repo.repoPath}`;
}

/** known_hosts lines for Argo CD (argocd-ssh-known-hosts-cm): `[address]:port type key` (plain `address` on 22). */
export function knownHostsLines(at: SshEndpoint, keys: { type: string; key: string }[]): string {
  const name = at.port === 22 ? at.address : `[${at.address}]:${at.port}`;
  return keys.map((k) => `${name} ${k.type} ${k.key}\n`).join('');
}
