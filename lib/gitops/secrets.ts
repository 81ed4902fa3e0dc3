// Secrets of the generated repo, kept stable across renders:
//  - credentials are generated once per cluster into <stateDir>/<cluster>/credentials.json (0600);
//  - each cluster has its Sealed Secrets key pair in <stateDir>/<cluster>/sealing/ (pre-seeded into
//    the cluster by the bootstrap, so the controller can decrypt what was sealed offline);
//  - sealing is randomised, so each SealedSecret is cached in <stateDir>/<cluster>/sealed/ with the
//    SHA-256 of its plaintext (never committed): while the hash is unchanged the cached
//    SealedSecret is reused byte for byte, and the repo does not churn.
// <stateDir> (.clusterseed/ next to the inventory) gets a .gitignore of "*" so none of it is ever
// committed by accident.
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { ARGOCD_NAMESPACE, CREDENTIALS } from './catalog.ts';
import type { RepoModel, RequiredSecret } from './model.ts';
import { clustersNeedingSealingKey, requiredSecrets } from './model.ts';
import type { SealedSecretSet } from './render.ts';
import { loadOrCreateSealingKeys, sealSecret, type SealedSecret } from './sealed-secrets.ts';
import { withFileMutex } from '../locks/create-once.ts';
import { ensurePrivateDir, ignoreInGit, makePrivateDir, readPrivate, writePrivate } from '../state/private-files.ts';
import { clusterAccessFile, readClusterAccess, type ClusterAccess } from '../clusters/access.ts';
import { clusterConfigProblems, clusterSecretData, CLUSTER_SECRET_LABEL } from './cluster-secret.ts';
import type { Inventory } from '../inventory/model.ts';
import type { GenerateSealingKeyPairOptions } from './sealing-keys.ts';

export interface PrepareSecretsOptions {
  /** the control machine's state directory, usually <inventory dir>/.clusterseed */
  stateDir: string;
  /** for new key pairs (tests use smaller keys to stay fast) */
  sealingKeyOptions?: GenerateSealingKeyPairOptions;
}

export interface PreparedSecrets {
  sealed: SealedSecretSet;
  /** SealedSecrets (re)encrypted by this call, as "cluster:namespace/name" */
  resealed: string[];
  /** clusters whose sealing key pair was created by this call (the bootstrap must install it) */
  newKeys: string[];
  /** clusters without (valid) recorded access: no cluster Secret was rendered for them */
  unregistered: string[];
}

type Credentials = Record<string, Record<string, string>>;

export const sealingKeyDir = (stateDir: string, cluster: string) => path.join(stateDir, cluster, 'sealing');
const credentialsFile = (stateDir: string, cluster: string) => path.join(stateDir, cluster, 'credentials.json');
const sealedCacheFile = (stateDir: string, s: RequiredSecret) => path.join(stateDir, s.cluster, 'sealed', `${s.namespace}.${s.name}.json`);
export { clusterAccessFile } from '../clusters/access.ts';

function readJson<T>(file: string): T | undefined {
  const text = readPrivate(file);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

/** <stateDir> 0700 with a .gitignore of "*": keys, credentials and tokens are never committed. */
function ensureStateDir(stateDir: string): void {
  ensurePrivateDir(stateDir);
  ignoreInGit(stateDir);
}

function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * Loads the cluster's credentials, generating the missing ones; writes the file only on change.
 * Read, add and write happen under a per-file mutex: two runs adding passwords at once must not
 * each write their own (the later rename would drop the first run's passwords after it used them).
 */
async function credentialsFor(stateDir: string, cluster: string, needed: Set<string>): Promise<Credentials> {
  const file = credentialsFile(stateDir, cluster);
  const missing = (creds: Credentials) => [...needed].sort().filter((name) => CREDENTIALS[name] && !creds[name]?.password);
  const current: Credentials = readJson<Credentials>(file) ?? {};
  if (missing(current).length === 0) return current;
  makePrivateDir(path.dirname(file));
  return withFileMutex(file, async () => {
    const creds: Credentials = readJson<Credentials>(file) ?? {};
    const names = missing(creds);
    for (const name of names) {
      const def = CREDENTIALS[name];
      creds[name] = { ...(def.user ? { user: def.user } : {}), password: newPassword() };
    }
    if (names.length) writePrivate(file, JSON.stringify(creds, null, 2) + '\n');
    return creds;
  });
}

/**
 * The recorded access of every cluster but the management one (registration writes them), for
 * buildModel's `clusterAccess`: which clusters are registered, and an adopted cluster's server.
 */
export async function recordedAccess(inv: Inventory, stateDir: string): Promise<Record<string, ClusterAccess>> {
  const out: Record<string, ClusterAccess> = {};
  for (const c of inv.clusters.slice(1)) {
    const access = await readClusterAccess(stateDir, c.name);
    if (access) out[c.name] = access;
  }
  return out;
}

/** name/server/config of a registered cluster's Secret, from its recorded access; refuses anything Argo CD could not use */
async function clusterRegistration(stateDir: string, model: RepoModel, name: string): Promise<Record<string, string>> {
  const cluster = model.clusters.find((c) => c.name === name)!;
  const access = await readClusterAccess(stateDir, name);
  // the model was built from the same file: it vanishing or moving to another server in between is a race
  if (!access || access.server !== cluster.server)
    throw new Error(`cluster ${name}: its recorded access changed while rendering; run again`);
  const data = clusterSecretData(cluster.name, access);
  const problems = clusterConfigProblems(data.config);
  if (problems.length)
    throw new Error(
      `${clusterAccessFile(stateDir, name)}: cluster ${name}: the recorded access cannot register it in Argo CD: ${problems.join('; ')}; delete it and run again to register ${name} anew`,
    );
  return data;
}

function plaintextOf(s: RequiredSecret, creds: Credentials, registrations: Map<string, Record<string, string>>): Record<string, string> {
  const data: Record<string, string> = {};
  for (const k of s.keys) {
    const [cred, field] = k.from.split('.') as [string, string];
    const value = cred.startsWith('cluster-') ? registrations.get(cred.slice('cluster-'.length))?.[field] : creds[cred]?.[field];
    if (value === undefined) throw new Error(`secret ${s.namespace}/${s.name}: no value for ${k.from}`);
    data[k.key] = value;
  }
  return data;
}

function plaintextHash(s: RequiredSecret, data: Record<string, string>, labels: Record<string, string>, certificatePem: string): string {
  const canonical = JSON.stringify({
    namespace: s.namespace,
    name: s.name,
    ...(s.type ? { type: s.type } : {}),
    scope: 'strict',
    labels: Object.entries(labels).sort(),
    data: Object.entries(data).sort(),
    cert: createHash('sha256').update(certificatePem).digest('hex'),
  });
  return createHash('sha256').update(canonical).digest('hex');
}

interface CacheEntry {
  plaintextSha256: string;
  sealed: SealedSecret;
}

/** Seals every secret the model needs, reusing cached SealedSecrets whose plaintext is unchanged. */
export async function prepareSecrets(model: RepoModel, opts: PrepareSecretsOptions): Promise<PreparedSecrets> {
  const { stateDir } = opts;
  ensureStateDir(stateDir);
  const needed = requiredSecrets(model);
  const sealed: SealedSecretSet = new Map();
  const resealed: string[] = [];
  const newKeys: string[] = [];
  const keys = new Map<string, Awaited<ReturnType<typeof loadOrCreateSealingKeys>>>();
  const creds = new Map<string, Credentials>();
  const registrations = new Map<string, Record<string, string>>();
  for (const c of model.clusters.filter((x) => !x.isManagement && x.registered))
    registrations.set(c.name, await clusterRegistration(stateDir, model, c.name));

  // every cluster that gets SealedSecrets has its key pair before it is registered (sealingKeyInstalls)
  for (const cluster of [...new Set([...needed.map((s) => s.cluster), ...clustersNeedingSealingKey(model.clusters)])].sort()) {
    const k = await loadOrCreateSealingKeys(sealingKeyDir(stateDir, cluster), opts.sealingKeyOptions);
    if (k.created) newKeys.push(cluster);
    keys.set(cluster, k);
    const wanted = new Set(needed.filter((s) => s.cluster === cluster).flatMap((s) => s.keys.map((x) => x.from.split('.')[0])));
    creds.set(cluster, await credentialsFor(stateDir, cluster, wanted));
  }

  for (const s of needed) {
    const k = keys.get(s.cluster)!;
    const data = plaintextOf(s, creds.get(s.cluster)!, registrations);
    const labels: Record<string, string> =
      s.namespace === ARGOCD_NAMESPACE && s.name.startsWith('cluster-') ? { [CLUSTER_SECRET_LABEL]: 'cluster' } : {};
    const hash = plaintextHash(s, data, labels, k.certificatePem);
    const cacheFile = sealedCacheFile(stateDir, s);
    const cached = readJson<CacheEntry>(cacheFile);
    if (cached && cached.plaintextSha256 === hash) {
      sealed.set(s.path, cached.sealed as unknown as Record<string, unknown>);
      continue;
    }
    const obj = sealSecret({
      name: s.name,
      namespace: s.namespace,
      data,
      scope: 'strict',
      certificatePem: k.certificatePem,
      labels,
      type: s.type,
      previous: cached?.sealed,
      privateKeyPem: k.privateKeyPem,
    });
    writePrivate(cacheFile, JSON.stringify({ plaintextSha256: hash, sealed: obj } satisfies CacheEntry, null, 2) + '\n');
    sealed.set(s.path, obj as unknown as Record<string, unknown>);
    resealed.push(`${s.cluster}:${s.namespace}/${s.name}`);
  }
  return { sealed, resealed, newKeys, unregistered: [...model.unregistered] };
}
