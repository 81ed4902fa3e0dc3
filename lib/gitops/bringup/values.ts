// Helm values as the analysis sees them: value files merged like Helm merges them (maps deep,
// everything else replaced), dotted-path lookups, and "is this key one the chart reads".
import type { ChartFacts } from './types.ts';

export type Values = Record<string, unknown>;

export function isMap(v: unknown): v is Values {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** later files win; maps merge key by key, lists and scalars are replaced (helm's coalesce) */
export function mergeValues(...layers: (Values | undefined)[]): Values {
  const out: Values = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer ?? {})) {
      out[k] = isMap(v) && isMap(out[k]) ? mergeValues(out[k] as Values, v) : v;
    }
  }
  return out;
}

export function getPath(values: Values, dotted: string): unknown {
  let cur: unknown = values;
  for (const part of dotted.split('.')) {
    if (!isMap(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** every leaf key path (a.b.c) of a values tree; lists and empty maps are leaves */
export function leafPaths(values: Values, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (isMap(v) && Object.keys(v).length) out.push(...leafPaths(v, p));
    else out.push(p);
  }
  return out;
}

/**
 * Does the chart read this key? Known when values.yaml has it (or a parent leaf that is a map the
 * chart passes through as a whole, listed in `open`), when a template reads it (`extra`), or when
 * the chart renders unknown keys as-is (`passthrough`). Same rule as valuesKeyKnown of
 * lib/gitops/chart-facts/load.ts (kept local so the analysis does not depend on its load order).
 */
export function keyKnown(facts: ChartFacts, dotted: string): boolean {
  if (facts.values.passthrough) return true;
  const keys = new Set(facts.values.keys);
  const extra = new Set((facts.values.extra ?? []).map((e) => e.key));
  const open = new Set([
    ...(facts.values.open ?? []),
    ...(facts.values.extra ?? []).filter((e) => (e as { open?: boolean }).open).map((e) => e.key),
  ]);
  if (keys.has(dotted) || extra.has(dotted)) return true;
  const parts = dotted.split('.');
  // an intermediate map of a known key (a rendered empty map there)
  if (facts.values.keys.some((k) => k.startsWith(`${dotted}.`))) return true;
  for (let i = parts.length - 1; i > 0; i--) {
    const parent = parts.slice(0, i).join('.');
    if (open.has(parent)) return true;
  }
  return false;
}

/**
 * Is a facts `when:` condition ("a.b" or "!a.b") met? The rendered values decide; a path they do
 * not set takes the chart's default from facts `values.defaults`; a path with neither counts as
 * met, so the analysis checks the object rather than silently skipping it.
 */
export function truthy(values: Values, when: string | null | undefined, defaults: Values = {}): boolean {
  if (!when) return true;
  // "a || b && c": && binds tighter, no parentheses (lib/gitops/chart-facts/README.md)
  return when.split('||').some((alt) => alt.split('&&').every((term) => termTruthy(values, term.trim(), defaults)));
}

function termTruthy(values: Values, term: string, defaults: Values): boolean {
  const neg = term.startsWith('!');
  const p = neg ? term.slice(1).trim() : term;
  let v = getPath(values, p);
  if (v === undefined) v = p in defaults ? defaults[p] : getPath(defaults, p);
  // neither rendered nor a known default: the chart's own default decides, which the facts do
  // not carry; count the object as present so that it is checked rather than silently skipped
  if (v === undefined) return true;
  const t = !(
    v === null ||
    v === false ||
    v === '' ||
    v === 0 ||
    (Array.isArray(v) && v.length === 0) ||
    (isMap(v) && Object.keys(v).length === 0)
  );
  return neg ? !t : t;
}
