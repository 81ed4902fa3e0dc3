// What must exist on the control machine before connecting to hosts: key files and the
// environment variables named for sudo passwords. Kept apart from loading because rendering the
// GitOps repository needs none of it.
import { accessSync, constants, statSync } from 'node:fs';
import { InventoryError, formatPath, type FieldPath, type InventoryIssue } from './errors.ts';
import type { Inventory } from './model.ts';
import { provenanceOf } from './provenance.ts';

/** Throws InventoryError listing every missing key file, absent ssh-agent or unset password variable. */
export function checkConnectionFiles(inventory: Inventory, env: NodeJS.ProcessEnv = process.env): void {
  const provenance = provenanceOf(inventory);
  const issues: InventoryIssue[] = [];
  const seen = new Set<string>();
  const report = (path: FieldPath, message: string, at: 'key' | 'value' = 'value') => {
    const source = provenance?.source;
    const pos = source ? (at === 'key' ? source.locateKey(path) : source.locateValue(path)) : { line: 0, column: 0 };
    const issue: InventoryIssue = { file: source?.file ?? inventory.file, line: pos.line, column: pos.column, path: formatPath(path), message, severity: 'error' };
    const id = `${issue.line}:${issue.path}:${message}`;
    if (!seen.has(id)) issues.push(issue);
    seen.add(id);
  };

  const agent = Boolean(env.SSH_AUTH_SOCK);
  for (const host of inventory.hosts) {
    const origin = provenance?.origins.get(host.name) ?? { host: ['hosts', host.name] };
    const keyAt = origin.sshKey ?? [...origin.host, 'ssh_key'];

    if (host.sshKey) {
      const problem = keyFileProblem(host.sshKey);
      if (problem) report(keyAt, `${problem}: ${host.sshKey}`);
    } else if (!agent) {
      report(origin.host, 'has no ssh_key and no ssh-agent is running (SSH_AUTH_SOCK is unset): set ssh_key here or in defaults, or start ssh-agent', 'key');
    }

    if (host.jump?.sshKey) {
      const problem = keyFileProblem(host.jump.sshKey);
      if (problem) report(origin.jumpSshKey ?? [...origin.host, 'jump'], `${problem}: ${host.jump.sshKey}`);
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
  }
  if (issues.length) throw new InventoryError(issues);
}

function keyFileProblem(file: string): string | undefined {
  try {
    if (!statSync(file).isFile()) return 'ssh key is not a file';
    accessSync(file, constants.R_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'ssh key file does not exist';
    if (code === 'EACCES') return 'ssh key file is not readable';
    return `ssh key file cannot be used (${code ?? (err as Error).message})`;
  }
}
