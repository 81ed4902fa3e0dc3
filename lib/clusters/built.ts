// Registering a cluster clusterseed builds with Argo CD on the management cluster, the way
// `argocd cluster add` does (lib/clusters/manifests.ts), but through the SSH connection to the
// cluster's first server and K3s' own kubectl: no kubeconfig or API access from the control
// machine is needed. These are the pure parts (remote scripts and what their output means);
// roles/cluster-registration runs them.
import type { ClusterSpec, Inventory } from '../inventory/model.ts';
import { remoteApiServerUrl } from '../inventory/sites.ts';
import { q } from '../blocks/shell.ts';
import type { ClusterAccess } from './access.ts';
import { argocdManagerObjects, MANAGER_NAMESPACE, MANAGER_TOKEN_SECRET, tokenSecretData } from './manifests.ts';

/**
 * `k3s kubectl VERB` bounded: a call that hangs (API server not up) must not hang the run. The
 * flag goes after the verb (kubectl takes global flags anywhere; the test stand-in reads the verb
 * first).
 */
const kubectl = (verb: string) => `k3s kubectl ${verb} --request-timeout=20s`;

export type ManagerKind = 'ServiceAccount' | 'ClusterRole' | 'ClusterRoleBinding' | 'Secret';
const KINDS: ManagerKind[] = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Secret'];

/** The non-management clusters clusterseed builds (adopted ones are registered through their kubeconfig). */
export function builtRemoteClusters(inv: Inventory): ClusterSpec[] {
  return inv.clusters.slice(1).filter((c) => !c.adopted && c.servers.length > 0);
}

/** True when `host` is the first server of a built non-management cluster: where its registration runs. */
export function isRegistrationHost(inv: Inventory, host: string): boolean {
  return builtRemoteClusters(inv).some((c) => c.servers[0] === host);
}

/** The API server URL Argo CD on the management cluster reaches `cluster` at. */
export function builtClusterServer(inv: Inventory, cluster: ClusterSpec): string {
  // one rule with the GitOps model's server: an access recorded for another URL is stale there
  const url = remoteApiServerUrl(inv, cluster);
  if (!url) throw new Error(`cluster ${cluster.name}: no API address Argo CD could reach (no first server)`);
  return url;
}

function objectName(o: Record<string, unknown>): { name: string; namespace?: string } {
  return o.metadata as { name: string; namespace?: string };
}

/**
 * One probe for all four objects: prints `k3s absent` when K3s is not installed (a --check run
 * before the first converge), else one line per object `<Kind> <base64 of its JSON>` (empty when
 * it does not exist). The token Secret's JSON carries the token: the caller registers it as a
 * secret and never logs the probe's output.
 */
export function registrationProbe(): string {
  const lines = argocdManagerObjects().map((o) => {
    const { name, namespace } = objectName(o);
    const kind = o.kind as string;
    const ns = namespace ? ` -n ${q(namespace)}` : '';
    return `printf '%s ' ${q(kind)}; if out=$(${kubectl('get')} ${kind.toLowerCase()} ${q(name)}${ns} -o json 2>/dev/null); then printf '%s' "$out" | base64 -w0; fi; echo`;
  });
  return `if ! command -v k3s >/dev/null 2>&1; then echo 'k3s absent'; exit 0; fi\n${lines.join('\n')}`;
}

export interface RegistrationState {
  /** K3s is installed on the host */
  k3s: boolean;
  /** the objects as the API returns them; absent: not found */
  objects: Partial<Record<ManagerKind, ApiObject>>;
}

/** A Kubernetes object as JSON, with the fields compared here. */
export interface ApiObject {
  type?: unknown;
  rules?: unknown;
  roleRef?: unknown;
  subjects?: unknown;
  metadata?: { annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export function parseRegistrationState(stdout: string): RegistrationState {
  if (stdout.trim() === 'k3s absent') return { k3s: false, objects: {} };
  const objects: RegistrationState['objects'] = {};
  for (const line of stdout.split('\n')) {
    const [kind, b64] = line.trim().split(' ');
    if (!KINDS.includes(kind as ManagerKind) || !b64) continue;
    try {
      objects[kind as ManagerKind] = JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
    } catch {
      // unreadable output counts as absent: apply makes it right
    }
  }
  return { k3s: true, objects };
}

/** Key-order independent JSON, so API output and our objects compare by content. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** What of `desired` the existing object lacks; empty when it is as Argo CD's `cluster add` makes it. */
function differs(kind: ManagerKind, desired: ApiObject, current: ApiObject | undefined): string | undefined {
  if (!current) return 'absent';
  switch (kind) {
    case 'ServiceAccount':
      return undefined;
    case 'ClusterRole':
      return canonical(current.rules ?? []) === canonical(desired.rules) ? undefined : 'rules differ';
    case 'ClusterRoleBinding':
      return canonical(current.roleRef) === canonical(desired.roleRef) && canonical(current.subjects ?? []) === canonical(desired.subjects)
        ? undefined
        : 'binding differs';
    case 'Secret': {
      const want = desired.metadata?.annotations as Record<string, string>;
      const have = (current.metadata?.annotations ?? {}) as Record<string, string>;
      const ok = current.type === desired.type && Object.entries(want).every(([k, v]) => have[k] === v);
      return ok ? undefined : 'type or service account differs';
    }
  }
}

/** The objects to (re)apply, each with why; empty when every one is in place. */
export function pendingObjects(state: RegistrationState): { kind: ManagerKind; name: string; why: string }[] {
  const out: { kind: ManagerKind; name: string; why: string }[] = [];
  for (const o of argocdManagerObjects()) {
    const kind = o.kind as ManagerKind;
    const why = differs(kind, o as ApiObject, state.objects[kind]);
    if (why) out.push({ kind, name: objectName(o).name, why });
  }
  return out;
}

/** The token and CA of the probed token Secret, once the token controller has filled it. */
export function probedToken(state: RegistrationState): { token: string; caData: string } | undefined {
  return tokenSecretData(state.objects.Secret);
}

/** The objects as one JSON List for `kubectl apply -f -` (nothing secret in it: the token Secret is empty). */
export function applyInput(): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: argocdManagerObjects() });
}

/**
 * Applies the List read on stdin, then waits (bounded: `waitSeconds`) for the token controller to
 * fill the token Secret and prints that Secret's JSON (stdout: the token, never logged). kubectl's
 * own report goes to stderr, where a failure's message comes from.
 */
export function applyAndWaitScript(waitSeconds: number): string {
  const get = `${kubectl('get')} secret ${q(MANAGER_TOKEN_SECRET)} -n ${q(MANAGER_NAMESPACE)} -o json 2>/dev/null`;
  return [
    `${kubectl('apply')} -f - >&2 || exit 1`,
    `i=0`,
    `while [ "$i" -lt ${Math.max(1, Math.ceil(waitSeconds))} ]; do`,
    `  if out=$(${get}) && printf '%s' "$out" | grep -q '"token" *:'; then printf '%s' "$out"; exit 0; fi`,
    `  sleep 1; i=$((i+1))`,
    `done`,
    `echo "the token controller did not fill secret ${MANAGER_NAMESPACE}/${MANAGER_TOKEN_SECRET} within ${waitSeconds}s" >&2`,
    `exit 1`,
  ].join('\n');
}

/** The access Argo CD gets: the URL it reaches the API at, the CA from the token Secret, the token. */
export function accessOf(server: string, token: { token: string; caData: string }): ClusterAccess {
  return { server, caData: token.caData, bearerToken: token.token };
}
