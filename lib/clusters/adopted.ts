// Registers a cluster clusterseed does not build (clusters.<name>.kubeconfig) as an Argo CD target,
// through the Kubernetes API with the kubeconfig's credentials: the objects `argocd cluster add`
// creates (lib/clusters/manifests.ts), the token the token controller puts into their Secret, and
// the cluster's Sealed Secrets key. The resulting access (server, CA, token) is recorded in the
// state directory for the renderer to seal. Idempotent: equal objects are left alone (no write), a
// rerun that finds the same token records nothing; check mode only reads.
import { X509Certificate } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';
import type { ClusterSpec } from '../inventory/model.ts';
import type { Logger } from '../runner/types.ts';
import { registerSecret } from '../report/mask.ts';
import { SEALING_KEY_LABEL } from '../gitops/sealing-keys.ts';
import { clusterAccessFile, readClusterAccess, sameAccess, writeClusterAccess, type ClusterAccess } from './access.ts';
import { argocdManagerObjects, MANAGER_NAMESPACE, MANAGER_TOKEN_SECRET } from './manifests.ts';
import { loadKubeconfig } from './kubeconfig.ts';
import { KubeApi, resourcePaths } from './kube-api.ts';

/** How long the token controller may take to fill the token Secret (argocd cluster add waits 30 s too). */
export const TOKEN_WAIT_MS = 30_000;
const TOKEN_POLL_MS = 250;

export interface RegisterAdoptedOptions {
  cluster: ClusterSpec;
  stateDir: string;
  check: boolean;
  /** the cluster's Sealed Secrets key as a Secret manifest (sealingKeySecretManifest); secret */
  sealingKeyManifest?: string;
  log: Logger;
}

export interface RegisterAdoptedResult {
  /** something was (or, in check mode, would be) created, updated or recorded */
  changed: boolean;
  actions: string[];
  /** absent only in check mode when the token Secret does not exist yet */
  access?: ClusterAccess;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

/** Every field `desired` sets has the same value in `live` (the API adds status, uids, defaults, data). */
export function containsDesired(live: unknown, desired: unknown): boolean {
  if (isObj(desired)) return isObj(live) && Object.entries(desired).every(([k, v]) => containsDesired(live[k], v));
  if (Array.isArray(desired))
    return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => containsDesired(live[i], d));
  return isDeepStrictEqual(live, desired);
}

/** `live` with `desired`'s fields laid over it: a PUT keeps what controllers added and the resourceVersion. */
function overlay(live: unknown, desired: unknown): unknown {
  if (!isObj(desired) || !isObj(live)) return desired;
  const out: Obj = { ...live };
  for (const [k, v] of Object.entries(desired)) out[k] = overlay(live[k], v);
  return out;
}

function describe(object: Obj): string {
  const meta = (object.metadata ?? {}) as { name?: string; namespace?: string };
  return `${String(object.kind)} ${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}`;
}

export async function registerAdoptedCluster(opts: RegisterAdoptedOptions): Promise<RegisterAdoptedResult> {
  const { cluster, stateDir, check, log } = opts;
  const adopted = cluster.adopted;
  if (!adopted) throw new Error(`registerAdoptedCluster: cluster ${cluster.name} is not adopted (no kubeconfig)`);
  const config = await loadKubeconfig(adopted.kubeconfig, adopted.context);
  const api = new KubeApi(config);
  const say = (msg: string) => log.info(`cluster ${cluster.name}: ${msg}`);
  const actions: string[] = [];
  const act = (done: string, pending: string) => {
    const msg = check ? `would ${pending}` : done;
    actions.push(msg);
    say(msg);
  };

  const version = await api.version();
  log.verbose(`cluster ${cluster.name}: API server ${config.server} answers (${version.gitVersion ?? 'version unknown'}) to ${api.where}`);

  let tokenSecret: Obj | undefined;
  for (const desired of argocdManagerObjects()) {
    const { collection, item } = resourcePaths(desired);
    const what = describe(desired);
    const live = await api.get(item);
    let result: Obj | undefined = live;
    if (!live) {
      act(`created ${what}`, `create ${what}`);
      if (!check) result = await api.create(collection, desired);
    } else if (!containsDesired(live, desired)) {
      // Fields the API refuses to change in place: say so instead of failing on a 422.
      if (desired.kind === 'ClusterRoleBinding' && !containsDesired(live.roleRef, desired.roleRef)) {
        throw new Error(`${api.where}: ${what} binds another ClusterRole (roleRef cannot change); delete it and run again`);
      }
      if (desired.kind === 'Secret') {
        // another type cannot change in place; another ServiceAccount's annotation means the token in it is that account's
        throw new Error(
          `${api.where}: ${what} exists but is not the argocd-manager token Secret (type ${String(live.type)}, or for another ServiceAccount); delete it and run again`,
        );
      }
      act(`updated ${what}`, `update ${what}`);
      if (!check) result = await api.replace(item, overlay(live, desired));
    }
    if (desired.kind === 'Secret') tokenSecret = result;
  }

  let access: ClusterAccess | undefined;
  const tokenPath = resourcePaths(argocdManagerObjects().find((o) => o.kind === 'Secret')!).item;
  const filled = check ? tokenOf(tokenSecret) : await waitForToken(api, tokenPath, tokenSecret);
  if (filled) {
    const caData = filled.caData ?? (config.caPem ? Buffer.from(config.caPem).toString('base64') : undefined);
    if (!caData) {
      throw new Error(
        `${api.where}: no CA for Argo CD: the token Secret ${MANAGER_NAMESPACE}/${MANAGER_TOKEN_SECRET} carries no ca.crt and the kubeconfig names no certificate-authority`,
      );
    }
    access = { server: adopted.server ?? config.server, caData, bearerToken: filled.token };
    // k3d and port-forwarded kubeconfigs name a loopback address, which inside Argo CD's pod is the pod itself
    if (!adopted.server && /^(localhost|127\.[\d.]+|\[::1\])$/.test(new URL(config.server).hostname)) {
      log.warn(
        `cluster ${cluster.name}: the kubeconfig's server ${config.server} is a loopback address Argo CD on the management cluster cannot reach; set clusters.${cluster.name}.server to the address it reaches`,
      );
    }
    const recorded = await readClusterAccess(stateDir, cluster.name);
    if (!sameAccess(recorded, access)) {
      const why = !recorded ? '' : recorded.bearerToken !== access.bearerToken ? ' (new token)' : ' (server or CA changed)';
      const file = clusterAccessFile(stateDir, cluster.name);
      act(`recorded Argo CD's access in ${file}${why}`, `record Argo CD's access in ${file}${why}`);
      if (!check) await writeClusterAccess(stateDir, cluster.name, access);
    }
  } else {
    // only in check mode (a real run waits for the token or fails): the Secret is absent or unfilled
    const msg = `would record Argo CD's access once the token Secret is filled`;
    actions.push(msg);
    say(msg);
  }

  if (opts.sealingKeyManifest !== undefined) await installSealingKey(api, opts.sealingKeyManifest, check, act);

  return { changed: actions.length > 0, actions, access };
}

function tokenOf(secret: Obj | undefined): { token: string; caData?: string } | undefined {
  const data = secret?.data as Record<string, string> | undefined;
  if (!data?.token) return undefined;
  registerSecret(data.token);
  const token = Buffer.from(data.token, 'base64').toString('utf8');
  registerSecret(token);
  return { token, caData: data['ca.crt'] || undefined };
}

/** The token controller fills the Secret shortly after it (or its ServiceAccount) appears: poll, bounded. */
async function waitForToken(api: KubeApi, tokenPath: string, first: Obj | undefined): Promise<{ token: string; caData?: string }> {
  const deadline = Date.now() + TOKEN_WAIT_MS;
  let secret = first;
  for (;;) {
    const filled = tokenOf(secret);
    if (filled) return filled;
    if (Date.now() >= deadline) {
      throw new Error(
        `${api.where}: the token controller did not fill ${MANAGER_NAMESPACE}/${MANAGER_TOKEN_SECRET} within ${TOKEN_WAIT_MS / 1000}s (is the kube-controller-manager's token controller running?)`,
      );
    }
    await new Promise((r) => setTimeout(r, TOKEN_POLL_MS));
    secret = await api.get(tokenPath);
  }
}

const fingerprintOf = (secret: Obj): string | undefined => {
  const crt = (secret.data as Record<string, string> | undefined)?.['tls.crt'];
  if (!crt) return undefined;
  try {
    return new X509Certificate(Buffer.from(crt, 'base64')).fingerprint256;
  } catch {
    return undefined;
  }
};

/**
 * Installs the cluster's Sealed Secrets key when absent. Another active key there (one the
 * controller generated, or someone else's) would seal and decrypt instead of ours: refused, never
 * overwritten; the user decides which key the cluster keeps.
 */
async function installSealingKey(
  api: KubeApi,
  manifest: string,
  check: boolean,
  act: (done: string, pending: string) => void,
): Promise<void> {
  const desired = YAML.parse(manifest) as Obj;
  const meta = (desired?.metadata ?? {}) as { name?: string; namespace?: string };
  if (desired?.kind !== 'Secret' || !meta.name || !fingerprintOf(desired)) {
    throw new Error('registerAdoptedCluster: sealingKeyManifest is not a Sealed Secrets key Secret (from sealingKeySecretManifest)');
  }
  registerSecret((desired.data as Record<string, string>)['tls.key']);
  const object: Obj = { ...desired, metadata: { ...meta, namespace: meta.namespace ?? MANAGER_NAMESPACE } };
  const { collection, item } = resourcePaths(object);
  const ours = fingerprintOf(object)!;
  const what = `Sealed Secrets key ${describe(object)}`;

  const list = await api.get(`${collection}?labelSelector=${encodeURIComponent(`${SEALING_KEY_LABEL}=active`)}`);
  const items = (Array.isArray(list?.items) ? list.items : []) as Obj[];
  for (const other of items) {
    const name = (other.metadata as { name?: string } | undefined)?.name;
    if (name === meta.name) continue;
    if (fingerprintOf(other) !== ours) {
      throw new Error(
        `${api.where}: ${collection.replace(/^.*namespaces\/([^/]+).*$/, '$1')} already has an active Sealed Secrets key ${name} that is not clusterseed's key for this cluster; ` +
          `SealedSecrets in the GitOps repo are sealed for clusterseed's key. Remove that Secret (or its ${SEALING_KEY_LABEL} label) if it is not needed, then run again`,
      );
    }
  }

  const live = await api.get(item);
  if (!live) {
    if (items.some((o) => fingerprintOf(o) === ours)) return; // ours, installed under another name
    act(`installed ${what}`, `install ${what}`);
    if (!check) await api.create(collection, object);
    return;
  }
  const liveData = (live.data ?? {}) as Record<string, string>;
  const data = object.data as Record<string, string>;
  if (
    liveData['tls.crt'] !== data['tls.crt'] ||
    liveData['tls.key'] !== data['tls.key'] ||
    !containsDesired(live.metadata, { labels: (object.metadata as Obj).labels })
  ) {
    throw new Error(
      `${api.where}: ${what} exists with a different key or is no longer marked active; it is not overwritten: remove it if clusterseed's key should be installed`,
    );
  }
}
