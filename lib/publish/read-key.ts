// The key Argo CD reads the on-cluster GitOps repository with (roles/gitops-repo). Generated once
// on the control machine (ed25519, OpenSSH format, 0600 under .clusterseed/), kept across runs so a
// rebuilt cluster gets the same key; its public half is the one line of the git user's
// authorized_keys, its private half goes only into Argo CD's repository Secret (bootstrap).
import path from 'node:path';
import type { Logger } from '../runner/types.ts';
import { loadOrCreateKeyPair, type DeployKeyPair } from './deploy-key.ts';
import { STATE_DIR } from '../state/private-files.ts';

export const READ_KEY_TITLE = 'clusterseed argocd read';

export function readKeyPath(workDir: string): string {
  return path.join(path.resolve(workDir), STATE_DIR, 'gitops-read-key', 'id_ed25519');
}

export async function loadOrCreateReadKey(workDir: string, log: Logger): Promise<DeployKeyPair & { path: string }> {
  const file = readKeyPath(workDir);
  const pair = await loadOrCreateKeyPair(file, READ_KEY_TITLE, log);
  return { publicKey: pair.publicKey, privateKey: pair.privateKey, path: file };
}
