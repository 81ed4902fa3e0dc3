// Deep merge of vars: mappings merge key by key, everything else (lists, scalars) is replaced.

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Returns a new object: `layers` applied left to right, later wins. Inputs are not modified. */
export function deepMerge(...layers: Array<Record<string, unknown> | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer)) {
      const current = out[key];
      const merged = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : clone(value);
      // defineProperty: a "__proto__" key in YAML must stay data, not become the prototype
      Object.defineProperty(out, key, { value: merged, enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}

function clone(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clone);
  if (isPlainObject(value)) return deepMerge(value);
  return value;
}
