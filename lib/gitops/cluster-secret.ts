// The cluster Secret Argo CD reads to deploy to another cluster (argo-cd docs, operator-manual
// declarative-setup.md "Clusters": keys name, server, config; config is the JSON of
// {"bearerToken": ..., "tlsClientConfig": {"insecure": false, "caData": <base64 PEM>}}), built only
// from the access recorded when clusterseed registered the cluster (lib/clusters/access.ts), and
// the check that refuses any such Secret without a real token: no placeholder is ever sealed.
import type { ClusterAccess } from '../clusters/access.ts';

export const CLUSTER_SECRET_LABEL = 'argocd.argoproj.io/secret-type';

/** name/server/config of the cluster Secret of `name`, from its recorded access */
export function clusterSecretData(name: string, access: ClusterAccess): Record<string, string> {
  const config = { bearerToken: access.bearerToken, tlsClientConfig: { insecure: false, caData: access.caData } };
  return { name, server: access.server, config: JSON.stringify(config) };
}

// words people and tools put where a credential will go later
const PLACEHOLDER = /pending|placeholder|change-?me|replace-?me|todo|dummy|example|<[^>]*>|^x+$/i;

/** What is wrong with a cluster Secret's config JSON (empty: Argo CD can authenticate with it). */
export function clusterConfigProblems(config: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(config);
  } catch {
    return ['config is not JSON'];
  }
  const c = (parsed ?? {}) as { bearerToken?: unknown; tlsClientConfig?: { insecure?: unknown; caData?: unknown } };
  const problems: string[] = [];
  const token = c.bearerToken;
  if (typeof token !== 'string' || token.trim() === '') problems.push('config.bearerToken is missing: Argo CD could not authenticate');
  else if (PLACEHOLDER.test(token) || /\s/.test(token) || token.length < 16)
    problems.push('config.bearerToken is a placeholder, not a ServiceAccount token: register the cluster (run without --skip-hosts)');
  const tls = c.tlsClientConfig;
  if (tls?.insecure !== false) problems.push('config.tlsClientConfig.insecure must be false');
  const ca = typeof tls?.caData === 'string' ? Buffer.from(tls.caData, 'base64').toString('utf8') : '';
  if (!ca.includes('-----BEGIN CERTIFICATE-----'))
    problems.push('config.tlsClientConfig.caData is not a base64 PEM CA bundle: the API server could not be verified');
  return problems;
}
