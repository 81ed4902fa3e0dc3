// Role vars merge the same way inventory vars do: one implementation, in lib/inventory/merge.ts.
import { deepMerge as mergeLayers, isPlainObject } from '../inventory/merge.ts';

export { isPlainObject };

/** `over` deep-merged onto `base` (mappings merge, lists and scalars replace); inputs untouched. */
export function deepMerge<T extends Record<string, unknown>>(base: T, over: Record<string, unknown> | undefined): T {
  return mergeLayers(base, over) as T;
}
