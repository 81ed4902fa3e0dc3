// Role `cluster-registration`: on the first server of every non-management cluster clusterseed
// builds (after k3s-server/k3s-agent), (1) installs that cluster's own Sealed Secrets key into
// K3s' manifests directory, so its sealed-secrets controller decrypts what the repository seals
// for it, and (2) registers the cluster with Argo CD on the management cluster like `argocd
// cluster add`: the argocd-manager objects through K3s' kubectl, then the token Secret's token and
// CA recorded as the cluster's access (.clusterseed/<cluster>/argocd-access.json), which the
// GitOps render seals into the cluster Secret. See README.md in this folder.
import path from 'node:path';
import type { ClusterSpec } from '../../lib/inventory/model.ts';
import type { Change, HostContext, Role, Task } from '../../lib/runner/types.ts';
import { command, file } from '../../lib/blocks/index.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { registerSecret } from '../../lib/report/mask.ts';
import { clusterAccessFile, readClusterAccess, sameAccess, writeClusterAccess } from '../../lib/clusters/access.ts';
import { tokenSecretData } from '../../lib/clusters/manifests.ts';
import {
  accessOf,
  applyAndWaitScript,
  applyInput,
  builtClusterServer,
  builtRemoteClusters,
  isRegistrationHost,
  parseRegistrationState,
  pendingObjects,
  probedToken,
  registrationProbe,
} from '../../lib/clusters/built.ts';
import { loadOrCreateSealingKeys, sealingKeySecretManifest } from '../../lib/gitops/sealing-keys.ts';
import { sealingKeyDir } from '../../lib/gitops/index.ts';
import { roleSettings } from '../../lib/settings/index.ts';

/** `vars.cluster-registration`: defaults.yaml (none: any key is an inventory error; README "Settings") */
export const clusterRegistrationSettings = roleSettings('cluster-registration', import.meta.url);

/**
 * Fixed parts, not inventory settings (the role has no vars, like argocd-bootstrap): K3s applies
 * every file of its manifests directory (its data-dir is clusterseed's); the token controller
 * fills a new token Secret within a second or two, a minute covers a busy server.
 */
export const defaults = {
  manifests_dir: '/var/lib/rancher/k3s/server/manifests',
  token_wait_seconds: 60,
};

/** The same file name as on the management cluster (roles/argocd-bootstrap): one per cluster, its own key. */
export const SEALING_KEY_FILE = 'clusterseed-sealing-key.yaml';

const stateDirOf = (ctx: HostContext) => path.join(ctx.inventory.dir, '.clusterseed');

function clusterOfHost(ctx: HostContext): ClusterSpec {
  const c = builtRemoteClusters(ctx.inventory).find((x) => x.servers[0] === ctx.host.name);
  if (!c) throw new Error(`${ctx.host.name} is not the first server of a non-management cluster (a bug in the role's host choice)`);
  return c;
}

/** The cluster's key pair as the manifest that installs it (made once per cluster, kept in .clusterseed/<cluster>/sealing/). */
const manifests = new Map<string, Promise<string>>();
function sealingKeyManifestOf(stateDir: string, cluster: string): Promise<string> {
  const key = `${stateDir}\0${cluster}`;
  let m = manifests.get(key);
  if (!m) {
    m = loadOrCreateSealingKeys(sealingKeyDir(stateDir, cluster)).then((keys) => {
      registerSecret(keys.privateKeyPem);
      return sealingKeySecretManifest(keys, 'kube-system');
    });
    m.catch(() => manifests.delete(key));
    manifests.set(key, m);
  }
  return m;
}

/**
 * The registration as one task: one probe reads all four objects and the token Secret; the plan
 * decides between nothing (all there, access recorded), recording a new access (token rotated or
 * the access file lost), and applying the objects then waiting for the token.
 */
export function registrationTask(cluster: ClusterSpec, stateDir: string): Task {
  return {
    name: `register ${cluster.name} with Argo CD`,
    probe: registrationProbe(),
    async plan(state, ctx): Promise<Change | null> {
      const st = parseRegistrationState(state.stdout);
      const token = probedToken(st);
      registerSecret(token?.token);
      const server = builtClusterServer(ctx.inventory, cluster);
      const accessFile = clusterAccessFile(stateDir, cluster.name);
      const secretDiff = [{ path: accessFile, before: '', after: '', secret: true }];
      if (!st.k3s) {
        if (ctx.options.check)
          return {
            summary: `would register ${cluster.name} with Argo CD (once K3s runs on ${ctx.host.name})`,
            apply: async () => undefined,
          };
        throw new Error(`K3s is not installed on ${ctx.host.name}: cluster ${cluster.name} cannot be registered (did k3s-server run?)`);
      }
      const pending = pendingObjects(st);
      if (!pending.length && token) {
        const access = accessOf(server, token);
        if (sameAccess(await readClusterAccess(stateDir, cluster.name), access)) return null;
        return {
          summary: `record Argo CD's access to ${cluster.name} (${server}) in ${accessFile}`,
          diff: secretDiff,
          apply: async () => {
            await writeClusterAccess(stateDir, cluster.name, access);
          },
        };
      }
      const what = pending.length ? pending.map((p) => `${p.kind} ${p.name} (${p.why})`).join(', ') : 'nothing (waiting for the token)';
      return {
        summary: `register ${cluster.name} with Argo CD: apply ${what}; record its access (${server})`,
        diff: secretDiff,
        apply: async (c) => {
          const out = await run(
            c,
            applyAndWaitScript(defaults.token_wait_seconds),
            `register ${cluster.name} with Argo CD (k3s kubectl apply)`,
            applyInput(),
          );
          let secret: unknown;
          try {
            secret = JSON.parse(out);
          } catch {
            // never the output itself: it is the token Secret
            throw new Error(`register ${cluster.name}: the token Secret read back from ${c.host.name} is not JSON`);
          }
          const t = tokenSecretData(secret);
          if (!t) throw new Error(`register ${cluster.name}: the token Secret on ${c.host.name} has no token or ca.crt`);
          registerSecret(t.token);
          await writeClusterAccess(stateDir, cluster.name, accessOf(server, t));
        },
      };
    },
  };
}

export const clusterRegistrationRole: Role = {
  name: 'cluster-registration',
  appliesTo: (host, inventory) => isRegistrationHost(inventory, host.name),
  async tasks(ctx) {
    const cluster = clusterOfHost(ctx);
    const stateDir = stateDirOf(ctx);
    const dir = defaults.manifests_dir;
    const keyManifest = await sealingKeyManifestOf(stateDir, cluster.name);
    return [
      command({ name: 'K3s manifests directory', probe: `test -d ${q(dir)}`, run: `mkdir -p -- ${q(dir)} && chmod 0700 -- ${q(dir)}` }),
      // before Argo CD deploys the sealed-secrets controller here: it finds this key and uses it
      file({
        path: `${dir}/${SEALING_KEY_FILE}`,
        content: keyManifest,
        mode: '0600',
        secret: true,
        name: `sealing key of ${cluster.name}`,
      }),
      registrationTask(cluster, stateDir),
    ];
  },
};

export default clusterRegistrationRole;
