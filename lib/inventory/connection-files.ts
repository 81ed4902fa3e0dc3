// What must exist on the control machine before connecting to hosts: key files, the
// environment variables named for sudo passwords, and adopted clusters' kubeconfig credentials.
// Kept apart from loading because rendering the GitOps repository needs none of it.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { InventoryError, type FieldPath, type InventoryIssue } from './errors.ts';
import { privateKeyProblem } from './key-files.ts';
import { kubeconfigCredentialProblem } from './kubeconfig-file.ts';
import type { HostSpec, Inventory } from './model.ts';
import { fileInTheWay } from './paths.ts';
import { issueAt, provenanceOf } from './provenance.ts';

export interface ConnectionCheckOptions {
  /** only these hosts will be contacted (--limit); default: all */
  hosts?: HostSpec[];
  /** the known_hosts file of hosts that set none; checked only when given */
  defaultKnownHosts?: string;
  /** --accept-new-host-keys: new keys are appended, so the known_hosts file must be writable */
  acceptNewHostKeys?: boolean;
}

/**
 * Throws InventoryError listing every unusable key file (missing, unreadable, too open, public,
 * not a key, encrypted without an agent), absent ssh-agent, unset password variable and unusable
 * known_hosts file.
 */
export function checkConnectionFiles(inventory: Inventory, env: NodeJS.ProcessEnv = process.env, opts: ConnectionCheckOptions = {}): void {
  const provenance = provenanceOf(inventory);
  const issues: InventoryIssue[] = [];
  const seen = new Set<string>();
  const report = (path: FieldPath, message: string, at: 'key' | 'value' = 'value') => {
    const issue = issueAt(inventory, path, message, at);
    const id = `${issue.line}:${issue.path}:${message}`;
    if (!seen.has(id)) issues.push(issue);
    seen.add(id);
  };

  const agent = Boolean(env.SSH_AUTH_SOCK);
  for (const host of opts.hosts ?? inventory.hosts) {
    const origin = provenance?.origins.get(host.name) ?? { host: ['hosts', host.name] };
    const keyAt = origin.sshKey ?? [...origin.host, 'ssh_key'];

    if (host.sshKey) {
      const problem = privateKeyProblem(host.sshKey, { agent });
      if (problem) report(keyAt, problem);
    } else if (!agent) {
      report(
        origin.host,
        'has no ssh_key and no ssh-agent is running (SSH_AUTH_SOCK is unset): set ssh_key here or in defaults, or start ssh-agent',
        'key',
      );
    }

    if (host.jump?.sshKey) {
      const problem = privateKeyProblem(host.jump.sshKey, { agent });
      if (problem) report(origin.jumpSshKey ?? [...origin.host, 'jump'], problem);
    } else if (host.jump && !agent) {
      report([...origin.host, 'jump'], 'the jump host has no ssh_key and no ssh-agent is running (SSH_AUTH_SOCK is unset)');
    }

    const needsPassword = host.become && host.user !== 'root' && host.becomePasswordEnv;
    if (needsPassword && env[host.becomePasswordEnv!] === undefined) {
      report(
        origin.becomePasswordEnv ?? [...origin.host, 'become_password_env'],
        `environment variable ${host.becomePasswordEnv} is not set; it must hold the sudo password of ${host.user} on ${host.name}`,
      );
    }

    const knownHosts = host.knownHostsFile ?? opts.defaultKnownHosts;
    const khProblem = knownHosts ? knownHostsProblem(knownHosts, opts.acceptNewHostKeys ?? false) : undefined;
    if (khProblem) {
      const at = knownHostsOrigin(inventory, host);
      if (at) report(at, khProblem);
      else report([], `${khProblem} (the default known_hosts: set known_hosts in the inventory to use another file)`);
    }
  }
  if (issues.length) throw new InventoryError(issues);
}

/** Where the inventory sets a host's known_hosts (the host, else defaults), for the message. */
function knownHostsOrigin(inventory: Inventory, host: HostSpec): FieldPath | undefined {
  const raw = provenanceOf(inventory)?.raw as
    { hosts?: Record<string, { known_hosts?: unknown }>; defaults?: { known_hosts?: unknown } } | undefined;
  if (raw?.hosts?.[host.name]?.known_hosts !== undefined) return ['hosts', host.name, 'known_hosts'];
  if (raw?.defaults?.known_hosts !== undefined) return ['defaults', 'known_hosts'];
  return host.knownHostsFile ? ['hosts', host.name, 'known_hosts'] : undefined;
}

/** What is wrong with a known_hosts file: it is read on every connect, appended to with --accept-new-host-keys. */
export function knownHostsProblem(file: string, acceptNew: boolean): string | undefined {
  try {
    const st = statSync(file);
    if (!st.isFile()) return `known_hosts ${file} is not a file${st.isDirectory() ? ' (it is a directory)' : ''}`;
    accessSync(file, constants.R_OK);
    if (acceptNew) accessSync(file, constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EROFS')
      return `known_hosts ${file} is not ${acceptNew ? 'readable and writable' : 'readable'} (${code}); --accept-new-host-keys appends new host keys to it`;
    const blocker = code === 'ENOTDIR' ? fileInTheWay(file) : undefined;
    if (blocker) return `known_hosts ${file} cannot be ${acceptNew ? 'created' : 'read'}: ${blocker} is not a directory`;
    if (code !== 'ENOENT') return `known_hosts ${file} cannot be used (${code ?? (err as Error).message})`;
  }
  // missing: an empty file; --accept-new-host-keys creates it (and its directories)
  if (!acceptNew) return undefined;
  let dir = path.dirname(file);
  for (;;) {
    try {
      const st = statSync(dir);
      if (!st.isDirectory()) return `known_hosts ${file} cannot be created: ${dir} is not a directory`;
      accessSync(dir, constants.W_OK | constants.X_OK);
      return undefined;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && path.dirname(dir) !== dir) {
        dir = path.dirname(dir);
        continue;
      }
      return `known_hosts ${file} cannot be created with --accept-new-host-keys: ${dir} is not writable (${code})`;
    }
  }
}

/**
 * Throws InventoryError naming each adopted cluster whose kubeconfig cannot register it (no usable
 * credential, a file it names missing, TLS verification off): registration talks to its API during
 * the run, so this is said before the first host is touched. Never quotes a credential.
 */
export function checkKubeconfigFiles(inventory: Inventory): void {
  const issues: InventoryIssue[] = [];
  for (const cluster of inventory.clusters) {
    if (!cluster.adopted) continue;
    const problem = kubeconfigCredentialProblem(cluster.adopted.kubeconfig, cluster.adopted.context);
    if (!problem) continue;
    const at: FieldPath = ['clusters', cluster.name, 'kubeconfig'];
    issues.push(issueAt(inventory, at, problem));
  }
  if (issues.length) throw new InventoryError(issues);
}
