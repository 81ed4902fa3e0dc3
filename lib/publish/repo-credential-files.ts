// What gitops.repo's credential settings need on the control machine: the deploy key file named by
// ssh_key (there, private, unencrypted, 0600) and the variable named by token_env (set). Checked
// before the repository is rendered, reported at the line that names them.
import { InventoryError, type FieldPath, type InventoryIssue } from '../inventory/errors.ts';
import type { Inventory } from '../inventory/model.ts';
import { issueAt } from '../inventory/provenance.ts';
import { privateKeyFileProblem } from './key-file.ts';

/** Throws InventoryError for an unusable ssh_key file or an unset token_env variable. */
export function checkRepoCredentialFiles(inventory: Inventory, env: NodeJS.ProcessEnv = process.env): void {
  const repo = inventory.gitops.repo;
  if (repo.kind !== 'remote' || !repo.auth) return;
  const issues: InventoryIssue[] = [];
  const report = (path: FieldPath, message: string) => issues.push(issueAt(inventory, path, message));
  if (repo.auth.sshKey) {
    const problem = privateKeyFileProblem(repo.auth.sshKey);
    if (problem) report(['gitops', 'repo', 'ssh_key'], `deploy key ${problem}`);
  }
  if (repo.auth.tokenEnv && !env[repo.auth.tokenEnv]) {
    report(
      ['gitops', 'repo', 'token_env'],
      `environment variable ${repo.auth.tokenEnv} is not set; it must hold the token for ${repo.url}`,
    );
  }
  if (issues.length) throw new InventoryError(issues);
}
