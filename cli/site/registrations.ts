// The registrations of the site run, seen from the GitOps step: which clusters' access (what the
// repository seals into their cluster Secret) changed during the run, so the repository is
// rendered again before it is published; adopted clusters registered through their kubeconfig
// before the first render; and which clusters are still not registered.
import { createHash } from 'node:crypto';
import type { ClusterSpec, Inventory } from '../../lib/inventory/model.ts';
import type { Logger } from '../../lib/runner/types.ts';
import { readClusterAccess } from '../../lib/clusters/access.ts';
import { builtClusterServer } from '../../lib/clusters/built.ts';
import { loadOrCreateSealingKeys, sealingKeySecretManifest } from '../../lib/gitops/sealing-keys.ts';
import { sealingKeyDir } from '../../lib/gitops/index.ts';
import { registerSecret } from '../../lib/report/mask.ts';
import { registerAdoptedCluster } from '../../lib/clusters/adopted.ts';

/** The clusters Argo CD deploys to besides the management cluster (built and adopted). */
export const remoteClusters = (inv: Inventory): ClusterSpec[] => inv.clusters.slice(1);

/** A fingerprint of each remote cluster's recorded access ('' when none): compared, never shown. */
export async function accessSnapshot(inv: Inventory, stateDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const c of remoteClusters(inv)) {
    const a = await readClusterAccess(stateDir, c.name);
    out.set(
      c.name,
      a
        ? createHash('sha256')
            .update(JSON.stringify([a.server, a.caData, a.bearerToken]))
            .digest('hex')
        : '',
    );
  }
  return out;
}

/** Clusters whose access differs between two snapshots (registered, re-registered or rotated meanwhile). */
export function changedAccess(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after].filter(([name, fp]) => fp && before.get(name) !== fp).map(([name]) => name);
}

/**
 * Remote clusters without a usable access: none recorded, or (built) one recorded for another API
 * address than Argo CD reaches now. The render says so itself once it lists `unregistered`; this
 * is the same rule for when it does not.
 */
export async function unregisteredClusters(inv: Inventory, stateDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const c of remoteClusters(inv)) {
    const a = await readClusterAccess(stateDir, c.name);
    const server = c.adopted ? (c.adopted.server ?? a?.server) : builtClusterServer(inv, c);
    if (!a || a.server !== server) out.push(c.name);
  }
  return out;
}

/**
 * Registers every adopted cluster through its kubeconfig (and installs its own sealing key there)
 * before the first render, so the render seals its access. A cluster that cannot be reached stays
 * unregistered: the render leaves its cluster Secret out and the run says so; the built clusters
 * and the hosts still converge, but the run ends failed (exit 2): Argo CD cannot deploy there.
 * Returns the clusters whose access was (or would be) recorded anew, and those that failed.
 */
export async function registerAdoptedClusters(
  inv: Inventory,
  stateDir: string,
  check: boolean,
  log: Logger,
): Promise<{ changed: string[]; failed: string[] }> {
  const adopted = remoteClusters(inv).filter((c) => c.adopted);
  if (!adopted.length) return { changed: [], failed: [] };
  const changed: string[] = [];
  const failed: string[] = [];
  for (const cluster of adopted) {
    const keys = await loadOrCreateSealingKeys(sealingKeyDir(stateDir, cluster.name));
    registerSecret(keys.privateKeyPem);
    try {
      const r = await registerAdoptedCluster({
        cluster,
        stateDir,
        check,
        sealingKeyManifest: sealingKeySecretManifest(keys, 'kube-system'),
        log,
      });
      registerSecret(r.access?.bearerToken);
      if (r.changed) changed.push(cluster.name);
    } catch (err) {
      log.warn(`gitops: adopted cluster ${cluster.name} was not registered: ${(err as Error).message}`);
      failed.push(cluster.name);
    }
  }
  return { changed, failed };
}
