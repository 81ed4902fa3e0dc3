// What Argo CD on the management cluster needs to deploy to another cluster: the API server URL
// it reaches, the API server's CA and the bearer token of the ServiceAccount clusterseed created
// there (lib/clusters registers built and adopted clusters). Kept in the state directory
// (.clusterseed/<cluster>/argocd-access.json, 0600) and sealed into the cluster Secret of the repo.
import path from 'node:path';
import { readPrivate, writePrivate } from '../state/private-files.ts';

export interface ClusterAccess {
  /** API server URL as Argo CD on the management cluster reaches it */
  server: string;
  /** base64 of the PEM CA bundle the API server's certificate chains to */
  caData: string;
  /** the long-lived token of the argocd-manager ServiceAccount (secret) */
  bearerToken: string;
}

export const clusterAccessFile = (stateDir: string, cluster: string) => path.join(stateDir, cluster, 'argocd-access.json');

/** The recorded access, or undefined when the cluster was never registered. */
export async function readClusterAccess(stateDir: string, cluster: string): Promise<ClusterAccess | undefined> {
  const file = clusterAccessFile(stateDir, cluster);
  const text = readPrivate(file);
  if (text === undefined) return undefined;
  let parsed: Partial<ClusterAccess>;
  try {
    parsed = JSON.parse(text) as Partial<ClusterAccess>;
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message}); delete it and run again to register ${cluster} anew`);
  }
  for (const k of ['server', 'caData', 'bearerToken'] as const) {
    if (typeof parsed[k] !== 'string' || !parsed[k])
      throw new Error(`${file}: ${k} is missing; delete it and run again to register ${cluster} anew`);
  }
  return parsed as ClusterAccess;
}

export const sameAccess = (a: ClusterAccess | undefined, b: ClusterAccess) =>
  !!a && a.server === b.server && a.caData === b.caData && a.bearerToken === b.bearerToken;

/** Records `access` (0600, atomic, fsynced); returns false when the same access was recorded already. */
export async function writeClusterAccess(stateDir: string, cluster: string, access: ClusterAccess): Promise<boolean> {
  if (sameAccess(await readClusterAccess(stateDir, cluster), access)) return false;
  writePrivate(
    clusterAccessFile(stateDir, cluster),
    JSON.stringify({ server: access.server, caData: access.caData, bearerToken: access.bearerToken }, null, 2) + '\n',
  );
  return true;
}
