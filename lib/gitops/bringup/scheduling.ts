// Where a pod may land: the scheduler's node filters the analysis models (nodeSelector, required
// node affinity, taints without a matching toleration). Preferred affinity and spread do not
// exclude nodes, so they are ignored.
import type { NodeModel } from '../placement.ts';
import type { PodGroup } from './pods.ts';
import { isMap, type Values } from './values.ts';

interface Taint {
  key: string;
  value?: string;
  effect: string;
}

/** "key=value:Effect" or "key:Effect" (inventory form) */
export function parseTaint(t: string): Taint {
  const m = /^([^=:]+)(?:=([^:]*))?:(\w+)$/.exec(t);
  return m ? { key: m[1], value: m[2], effect: m[3] } : { key: t, effect: 'NoSchedule' };
}

function tolerates(tols: Values[], t: Taint): boolean {
  return tols.some((x) => {
    if (x.effect && x.effect !== t.effect) return false;
    if (x.operator === 'Exists') return !x.key || x.key === t.key;
    return x.key === t.key && (x.value ?? '') === (t.value ?? '');
  });
}

function matchExpr(labels: Record<string, string>, e: Values): boolean {
  const v = labels[String(e.key)];
  const vals = ((e.values as unknown[]) ?? []).map(String);
  switch (e.operator) {
    case 'In':
      return v !== undefined && vals.includes(v);
    case 'NotIn':
      return v === undefined || !vals.includes(v);
    case 'Exists':
      return v !== undefined;
    case 'DoesNotExist':
      return v === undefined;
    default:
      return false;
  }
}

function requiredAffinityMatches(labels: Record<string, string>, affinity: Values | undefined): boolean {
  const na = affinity && isMap(affinity.nodeAffinity) ? affinity.nodeAffinity : undefined;
  const req =
    na && isMap(na.requiredDuringSchedulingIgnoredDuringExecution) ? na.requiredDuringSchedulingIgnoredDuringExecution : undefined;
  const terms = ((req?.nodeSelectorTerms as Values[]) ?? []).filter(isMap);
  if (terms.length === 0) return true;
  return terms.some((t) => ((t.matchExpressions as Values[]) ?? []).filter(isMap).every((e) => matchExpr(labels, e)));
}

/** nodes the pods of this group can be scheduled on, and why the others are excluded */
export function candidateNodes(p: PodGroup, nodes: NodeModel[]): { nodes: NodeModel[]; excluded: string[] } {
  const ok: NodeModel[] = [];
  const excluded: string[] = [];
  for (const n of nodes) {
    const sel = Object.entries(p.nodeSelector).find(([k, v]) => n.labels[k] !== String(v));
    if (sel) {
      excluded.push(`${n.name}: label ${sel[0]}=${String(sel[1])} missing`);
      continue;
    }
    if (!requiredAffinityMatches(n.labels, p.affinity)) {
      excluded.push(`${n.name}: required node affinity does not match`);
      continue;
    }
    const taint = n.taints
      .map(parseTaint)
      .find((t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(p.tolerations, t));
    if (taint) {
      excluded.push(`${n.name}: taint ${taint.key}${taint.value !== undefined ? `=${taint.value}` : ''}:${taint.effect} not tolerated`);
      continue;
    }
    ok.push(n);
  }
  return { nodes: ok, excluded };
}
