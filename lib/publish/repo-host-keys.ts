// The SSH remote's host keys for Argo CD (lib/publish/remote-host-keys.ts), with the inventory's
// place in the error: gitops.repo.known_hosts when it names the file, else gitops.repo.url.
import { InventoryError, type FieldPath } from '../inventory/errors.ts';
import type { Inventory } from '../inventory/model.ts';
import { issueAt } from '../inventory/provenance.ts';
import { remoteHostKeys, RemoteHostKeyError } from './remote-host-keys.ts';

/**
 * Argo CD's known_hosts lines for `url` (the URL it reads: --repo-url, --remote, or gitops.repo.url),
 * undefined when it needs none. Checked before anything is rendered or pushed.
 */
export function repoHostKeys(inventory: Inventory, url: string | undefined, defaultFile?: string): string | undefined {
  if (!url) return undefined;
  const repo = inventory.gitops.repo;
  const knownHostsFile = repo.kind === 'remote' ? repo.auth?.knownHosts : undefined;
  try {
    return remoteHostKeys(url, { knownHostsFile, defaultFile });
  } catch (e) {
    // a URL from the command line has no line in the inventory
    if (!(e instanceof RemoteHostKeyError) || repo.kind !== 'remote' || (repo.url !== url && !knownHostsFile)) throw e;
    const at: FieldPath = ['gitops', 'repo', knownHostsFile ? 'known_hosts' : 'url'];
    const message = e.message.replace(/^gitops\.repo\.known_hosts: /, '');
    throw new InventoryError([issueAt(inventory, at, message)]);
  }
}
