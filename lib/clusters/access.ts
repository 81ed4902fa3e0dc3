// What Argo CD on the management cluster needs to deploy to another cluster: the API server URL
// it reaches, the API server's CA and the bearer token of the ServiceAccount clusterseed created
// there (lib/clusters registers built and adopted clusters). Kept in the state directory
// (.clusterseed/<cluster>/argocd-access.json, 0600) and sealed into the cluster Secret of the repo.
import path from 'node:path';

export interface ClusterAccess {
  /** API server URL as Argo CD on the management cluster reaches it */
  server: string;
  /** base64 of the PEM CA bundle the API server's certificate chains to */
  caData: string;
  /** the long-lived token of the argocd-manager ServiceAccount (secret) */
  bearerToken: string;
}

export const clusterAccessFile = (stateDir: string, cluster: string) => path.join(stateDir, cluster, 'argocd-access.json');
