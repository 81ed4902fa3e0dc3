// The host keys Argo CD pins for an SSH remote it clones (configs.ssh.extraHosts of the argo-cd
// chart, rendered into argocd-ssh-known-hosts-cm). Taken from a source that was verified, never
// from a scan: gitops.repo.known_hosts, else the user's ~/.ssh/known_hosts, whose entry for the
// remote the user's own ssh checked when it pushed there. No entry: the run stops before rendering.
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { entryMatches, lookupName, readKnownHosts } from '../ssh/known-hosts.ts';
import { knownHostsLines } from '../gitops/hosted-repo.ts';
import { gitUrlTransport } from './credentials.ts';
import { UserError } from '../report/user-error.ts';

/** A remote's host key is missing, or the file that should hold it is. */
export class RemoteHostKeyError extends UserError {}

export interface SshRemote {
  host: string;
  port: number;
}

/** Host and port of an ssh URL (ssh://[user@]host[:port]/path, user@host:path); undefined for other transports. */
export function sshRemoteOf(url: string): SshRemote | undefined {
  if (gitUrlTransport(url) !== 'ssh') return undefined;
  const full = /^[a-z+]+:\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?/i.exec(url);
  if (full) return { host: full[1].replace(/^\[|\]$/g, '').toLowerCase(), port: full[2] ? Number(full[2]) : 22 };
  const scp = /^[^@\s/]+@([^:\s/]+):/.exec(url);
  return scp ? { host: scp[1].toLowerCase(), port: 22 } : undefined;
}

/**
 * Hosts the argo-cd chart's default known hosts (configs.ssh.knownHosts) already carry, as
 * `host` (port 22) or `[host]:port` names (argoproj/argo-helm charts/argo-cd/values.yaml, chart
 * 10.1.1, commit af0a9310bacbaa4636018dfe22c801a6d33a5c43).
 */
export const ARGOCD_DEFAULT_KNOWN_HOSTS = [
  'bitbucket.org',
  'github.com',
  'gitlab.com',
  'ssh.dev.azure.com',
  'vs-ssh.visualstudio.com',
  '[ssh.github.com]:443',
];

export const userKnownHostsFile = () => path.join(os.homedir(), '.ssh', 'known_hosts');

export interface RemoteHostKeysOptions {
  /** gitops.repo.known_hosts; unset: the user's ~/.ssh/known_hosts */
  knownHostsFile?: string;
  /** for tests: the default file */
  defaultFile?: string;
}

/**
 * Argo CD's known_hosts lines for the SSH remote at `url` (`host type key`, `[host]:port type key`
 * off port 22); undefined when Argo CD needs none (not ssh, or a host its defaults carry).
 * Throws RemoteHostKeyError naming the host, the file and how to add the key.
 */
export function remoteHostKeys(url: string, opts: RemoteHostKeysOptions = {}): string | undefined {
  const remote = sshRemoteOf(url);
  if (!remote) return undefined;
  if (ARGOCD_DEFAULT_KNOWN_HOSTS.includes(lookupName(remote.host, remote.port))) return undefined;
  const named = opts.knownHostsFile !== undefined;
  const file = opts.knownHostsFile ?? opts.defaultFile ?? userKnownHostsFile();
  if (named && !existsSync(file)) {
    throw new RemoteHostKeyError(
      `gitops.repo.known_hosts: ${file} does not exist; it must hold the host key of ${remote.host} (port ${remote.port})`,
    );
  }
  // hashed (|1|...) entries match too; @revoked and @cert-authority lines are not host keys
  const keys = readKnownHosts(file)
    .filter((e) => !e.marker && entryMatches(e, remote.host, remote.port))
    .map((e) => ({ type: e.keyType, key: e.key.toString('base64') }));
  if (keys.length === 0) throw new RemoteHostKeyError(missingKeyMessage(remote, file, named));
  return knownHostsLines({ address: remote.host, port: remote.port }, keys);
}

export function missingKeyMessage(remote: SshRemote, file: string, named: boolean): string {
  const where = named ? file : `${file} (or name another file in gitops.repo.known_hosts)`;
  return (
    `${named ? 'gitops.repo.known_hosts: ' : ''}no host key for ${remote.host} (port ${remote.port}) in ${where}: Argo CD must verify the server it clones from. ` +
    `Check the server's fingerprint (on it: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add it with ` +
    `\`ssh-keyscan -p ${remote.port} ${remote.host} >> ${file}\` and compare \`ssh-keygen -lf ${file}\`, ` +
    `or connect once with ssh and accept the key after checking it`
  );
}
