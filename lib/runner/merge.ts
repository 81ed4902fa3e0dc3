/** Deep merge of plain objects; arrays and scalars from `over` replace those of `base`. */
export function deepMerge<T extends Record<string, any>>(base: T, over: Record<string, any> | undefined): T {
  if (!over) return structuredClone(base);
  const out: Record<string, any> = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    if (isPlainObject(v) && isPlainObject(out[k])) out[k] = deepMerge(out[k], v);
    else out[k] = structuredClone(v);
  }
  return out as T;
}

export function isPlainObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
