// Node labels and taints, checked alike wherever they are written: on a host (K3s registers them
// through the kubelet) and on an adopted cluster's node pool (its provider sets them).
import type { FieldPath } from './errors.ts';
import type { Reporter } from './semantic.ts';
import { isRestrictedLabel, labelKeyProblem, parseTaint } from './syntax.ts';

/** Label keys per Kubernetes rules; `nodeSelf`: the node labels itself, so restricted namespaces get a warning. */
export function checkLabelKeys(
  labels: Record<string, string> | undefined,
  at: FieldPath,
  report: Reporter,
  opts: { nodeSelf: boolean },
): void {
  for (const key of Object.keys(labels ?? {})) {
    const path = [...at, key];
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) report.error(path, `label key ${keyProblem}`, { at: 'key' });
    // values need no check here: the schema's pattern and length say all there is
    if (!keyProblem && opts.nodeSelf && isRestrictedLabel(key)) {
      report.warn(
        path,
        'is in a namespace a node may not label itself with (kubelet NodeRestriction): clusterseed sets it through the API once the node has joined, so pods cannot select it during registration',
        { at: 'key' },
      );
    }
  }
}

/** Taints per Kubernetes syntax, one per key and effect. */
export function checkTaintList(taints: string[] | undefined, at: FieldPath, report: Reporter): void {
  const seen = new Set<string>();
  (taints ?? []).forEach((text, index) => {
    const path = [...at, index];
    const taint = parseTaint(text);
    if (typeof taint === 'string') {
      report.error(path, taint, { expected: 'key=value:Effect' });
      return;
    }
    const id = `${taint.key}:${taint.effect}`;
    if (seen.has(id))
      report.error(path, `repeats taint key "${taint.key}" with effect ${taint.effect}; Kubernetes allows one per key and effect`);
    seen.add(id);
  });
}
