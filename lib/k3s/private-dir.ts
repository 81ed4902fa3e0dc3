// Directories on the control machine that hold secrets (token, admin kubeconfig): created 0700, and
// under a `.clusterseed/` directory also given a `.gitignore` of `*`, so they stay out of whatever git
// repository the inventory lives in. The files and their policy: lib/state.
import path from 'node:path';
import { ignoreInGit, makePrivateDir, STATE_DIR } from '../state/private-files.ts';

export function ensurePrivateDir(dir: string): void {
  const created = makePrivateDir(dir);
  const inClusterseed = path.basename(dir) === STATE_DIR || path.basename(path.dirname(dir)) === STATE_DIR;
  if (created && inClusterseed) ignoreInGit(dir);
}
