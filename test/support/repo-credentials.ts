// The set-up of the gitops repository credential tests (lib/publish/credentials.ts): a temp dir with
// a readable deploy key, an inventory whose gitops.repo has the given lines, the inventory error of
// the credential file check, and a logger that collects its lines.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InventoryError, parseInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { checkRepoCredentialFiles } from '../../lib/publish/repo-credential-files.ts';
import { generateDeployKey } from '../../lib/publish/deploy-key.ts';

/** A temp dir `dir` with the deploy key pair `pair` written (0600) to `good`, and an inventory in `dir`. */
export function credentialFixture() {
  const dir = mkdtempSync(path.join(tmpdir(), 'cs-creds-'));
  const good = path.join(dir, 'readonly');
  const pair = generateDeployKey('ro');
  writeFileSync(good, pair.privateKey, { mode: 0o600 });

  const inventory = (repo: string[]) => repoInventory(dir, repo);
  return { dir, good, pair, inventory };
}

/** The inventory `dir`/inventory.yaml of one host with these lines under gitops.repo. */
export function repoInventory(dir: string, repo: string[]): Inventory {
  const text = [
    'cluster: { name: c, k3s_version: v1.31.4+k3s1 }',
    'defaults: { user: u }',
    'hosts: { a: { address: 10.0.0.1 } }',
    'groups: { servers: [a] }',
    'gitops:',
    '  repo:',
    ...repo.map((l) => `    ${l}`),
  ].join('\n');
  return parseInventory(text, path.join(dir, 'inventory.yaml'));
}

/** A logger whose info, verbose and warn lines (warn prefixed "WARN ") land in `lines`. */
export function collecting() {
  const lines: string[] = [];
  const log = {
    info: (m: string) => lines.push(m),
    verbose: (m: string) => lines.push(m),
    debug: () => {},
    warn: (m: string) => lines.push(`WARN ${m}`),
  };
  return { lines, log };
}

/** The formatted inventory error of checkRepoCredentialFiles (throws if the check passes). */
export function fileFailure(inv: Inventory, env: NodeJS.ProcessEnv): string {
  try {
    checkRepoCredentialFiles(inv, env);
  } catch (e) {
    if (e instanceof InventoryError) return e.format();
    throw e;
  }
  throw new Error('checkRepoCredentialFiles passed');
}
