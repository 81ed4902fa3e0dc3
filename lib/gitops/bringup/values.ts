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
  if (keys.has(dotted) || extra.has(dotted)) return true;
  const parts = dotted.split('.');
  const open = new Set(facts.values.open ?? []);
  for (let i = parts.length - 1; i > 0; i--) {
    const parent = parts.slice(0, i).join('.');
    // below an open map, or below a leaf whose default is a list/scalar the chart takes whole
    if (open.has(parent) || extra.has(parent)) return true;
    if (keys.has(parent)) return true;
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
  const neg = when.startsWith('!');
  const p = neg ? when.slice(1) : when;
  let v = getPath(values, p);
  if (v === undefined) v = p in defaults ? defaults[p] : getPath(defaults, p);
  if (v === undefined) return true;
  const t = !(v === null || v === false || v === '' || v === 0 || (Array.isArray(v) && v.length === 0) || (isMap(v) && Object.keys(v).length === 0));
  return neg ? !t : t;
}
