// Is a node there yet? Asked the way an operator would, through a server's API:
//   k3s kubectl get node NAME -o json
// A node counts as Ready when its unit is active (Type=notify: K3s said READY=1), the API reports
// the Ready condition True for the expected K3s version, and, for servers with embedded etcd,
// the node carries node-role.kubernetes.io/etcd=true and its EtcdIsVoter condition is not False
// (K3s adds joining servers as etcd learners and promotes them to voting members later).
import type { HostContext } from '../../lib/runner/types.ts';
import { q } from '../../lib/blocks/shell.ts';
import { attempt } from '../../lib/blocks/remote.ts';
import { clusterOf, firstServer, isServer } from '../../lib/k3s/settings.ts';
import { serviceName, type NodeKind } from '../../lib/k3s/systemd.ts';

export interface NodeStatus {
  found: boolean;
  ready: boolean;
  kubeletVersion: string;
  /** EtcdIsVoter condition: true/false, undefined when the node has none (agents, sqlite servers, old K3s) */
  etcdVoter?: boolean;
  etcdRole: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: string }>;
  /** why it is not there, e.g. kubectl's error */
  problem?: string;
}

export function nodeQuery(name: string): string {
  return `k3s kubectl get node ${q(name)} -o json`;
}

/** The fields of `kubectl get node -o json` read here. */
interface NodeJson {
  status?: { conditions?: Array<{ type: string; status: string }>; nodeInfo?: { kubeletVersion?: string } };
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { taints?: NodeStatus['taints'] };
}

export function parseNode(code: number, stdout: string, stderr: string): NodeStatus {
  const empty: NodeStatus = { found: false, ready: false, kubeletVersion: '', etcdRole: false, labels: {}, annotations: {}, taints: [] };
  if (code !== 0) return { ...empty, problem: (stderr || stdout).trim().split('\n').slice(-1)[0] || `kubectl exited ${code}` };
  let node: NodeJson | null;
  try {
    node = JSON.parse(stdout) as NodeJson | null;
  } catch {
    return { ...empty, problem: 'kubectl printed no JSON' };
  }
  const conditions: Array<{ type: string; status: string }> = node?.status?.conditions ?? [];
  const cond = (type: string) => conditions.find((c) => c.type === type)?.status;
  const voter = cond('EtcdIsVoter');
  const labels: Record<string, string> = node?.metadata?.labels ?? {};
  return {
    found: true,
    ready: cond('Ready') === 'True',
    kubeletVersion: node?.status?.nodeInfo?.kubeletVersion ?? '',
    etcdVoter: voter === undefined ? undefined : voter === 'True',
    etcdRole: labels['node-role.kubernetes.io/etcd'] === 'true',
    labels,
    annotations: node?.metadata?.annotations ?? {},
    taints: node?.spec?.taints ?? [],
  };
}

export interface Expectation {
  version: string;
  /** a server of a cluster with embedded etcd: must be a voting etcd member */
  etcdVoter: boolean;
}

/** Empty when the node is where it should be, else what is missing. */
export function notReadyReasons(status: NodeStatus, want: Expectation): string[] {
  if (!status.found) return [`node not registered${status.problem ? ` (${status.problem})` : ''}`];
  const reasons: string[] = [];
  if (!status.ready) reasons.push('Ready condition is not True');
  if (status.kubeletVersion !== want.version) reasons.push(`runs ${status.kubeletVersion || 'an unknown version'}, not ${want.version}`);
  if (want.etcdVoter) {
    if (!status.etcdRole) reasons.push('no node-role.kubernetes.io/etcd=true label yet');
    // K3s before v1.25.16/v1.26.11/v1.27.8/v1.28.4 has no EtcdIsVoter condition; there the active unit
    // (READY=1 only after the local etcd member passed its voter check) has to do
    if (status.etcdVoter === false) reasons.push('not a voting etcd member yet (EtcdIsVoter is not True)');
  }
  return reasons;
}

/**
 * The context to ask about nodes: the cluster's first server when it is part of this run, else
 * another server of the cluster that is; undefined when the run has none (e.g. --limit agents).
 */
export function apiObserver(ctx: HostContext): HostContext | undefined {
  const cluster = clusterOf(ctx.inventory, ctx.host);
  const first = ctx.peers.get(firstServer(cluster));
  if (first) return first;
  return cluster.servers.map((s) => ctx.peers.get(s)).find((p): p is HostContext => !!p && isServer(p.host));
}

export async function nodeStatus(observer: HostContext, name: string): Promise<NodeStatus> {
  const res = await attempt(observer, nodeQuery(name), { timeoutMs: 30_000 });
  return parseNode(res.code, res.stdout, res.stderr);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface WaitOptions {
  kind: NodeKind;
  want: Expectation;
  timeoutMs: number;
  pollMs?: number;
}

/** Waits until the node's unit is active and the API reports it Ready; throws with what was seen. */
export async function waitForNode(ctx: HostContext, opts: WaitOptions): Promise<void> {
  const unit = `${serviceName(opts.kind)}.service`;
  const deadline = Date.now() + opts.timeoutMs;
  const observer = apiObserver(ctx);
  if (!observer)
    ctx.log.warn(`no server of this cluster is part of the run: only the local ${unit} state is checked, not the node's Ready condition`);
  let last = '';
  for (;;) {
    const local = await attempt(ctx, `systemctl is-active ${q(unit)}`);
    const active = local.stdout.trim();
    let reasons: string[] = [];
    if (active !== 'active') reasons.push(`${unit} is ${active || 'unknown'}`);
    else if (observer) reasons = notReadyReasons(await nodeStatus(observer, ctx.host.name), opts.want);
    if (reasons.length === 0) {
      ctx.log.verbose(`node ${ctx.host.name} is Ready (${opts.want.version}${opts.want.etcdVoter ? ', voting etcd member' : ''})`);
      return;
    }
    const now = reasons.join('; ');
    if (now !== last) ctx.log.verbose(`waiting for node ${ctx.host.name}: ${now}`);
    last = now;
    if (Date.now() >= deadline) {
      const journal = await attempt(ctx, `journalctl -u ${q(unit)} -n 15 --no-pager -o cat 2>/dev/null || true`);
      const tail = journal.stdout.trim() ? `\nlast lines of the ${unit} journal:\n${journal.stdout.trimEnd()}` : '';
      throw new Error(`node ${ctx.host.name} did not become Ready within ${Math.round(opts.timeoutMs / 1000)} s: ${now}${tail}`);
    }
    await sleep(opts.pollMs ?? 2000);
  }
}
