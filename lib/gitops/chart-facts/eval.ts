// Reading a facts file against rendered values: the `when` grammar and value references as the
// README defines them, in one place so every reader of the facts interprets them the same way.
import type { ValueRef, When } from './load.ts';

/** The value at a dotted path of a values document (keys joined with '.', as in the facts). */
export function valueAt(values: unknown, dotted: string): unknown {
  let v: unknown = values;
  let rest = dotted;
  while (rest !== '') {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    const map = v as Record<string, unknown>;
    // keys may contain dots themselves (node labels, "server.insecure"): longest match first
    const parts = rest.split('.');
    let found = false;
    for (let n = parts.length; n > 0; n--) {
      const key = parts.slice(0, n).join('.');
      if (key in map) {
        v = map[key];
        rest = parts.slice(n).join('.');
        found = true;
        break;
      }
    }
    if (!found) return undefined;
  }
  return v;
}

/** Helm's notion of empty: what `default` replaces and `if`/`with` treat as false. */
export function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}

/** `when`: omitted/null = true; `a`, `!a`, `a && b`, `a || b` (&& binds tighter, no parentheses). */
export function whenHolds(when: When, values: unknown): boolean {
  if (when === undefined || when === null || when.trim() === '') return true;
  return when.split('||').some((alt) =>
    alt.split('&&').every((term) => {
      const t = term.trim();
      return t.startsWith('!') ? isEmpty(valueAt(values, t.slice(1).trim())) : !isEmpty(valueAt(values, t));
    }),
  );
}

/** A value reference: `path`, else the first non-empty `or` path, else `default`. */
export function resolveRef(ref: ValueRef | undefined, values: unknown): unknown {
  if (!ref) return undefined;
  for (const p of [ref.path, ...(ref.or ?? [])]) {
    if (p === undefined) continue;
    const v = valueAt(values, p);
    if (!isEmpty(v)) return v;
  }
  return ref.default;
}
