// Directories on the control machine that hold secrets (token, admin kubeconfig): created 0700, and
// under a `.clusterseed/` directory also given a `.gitignore` of `*`, so they stay out of whatever git
// repository the inventory lives in.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function ensurePrivateDir(dir: string): void {
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const inClusterseed = path.basename(dir) === '.clusterseed' || path.basename(path.dirname(dir)) === '.clusterseed';
  const ignore = path.join(dir, '.gitignore');
  if (created && inClusterseed && !existsSync(ignore)) writeFileSync(ignore, '*\n', { mode: 0o644 });
}
