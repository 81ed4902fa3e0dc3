// The facts gathered on a host, kept for the run: a fact asked for again (by a later task or role,
// or by code outside a probe batch) is answered from here while nothing changed the host since.
// The runner forgets a host's facts before it applies a change or runs a handler there.
import { keyOf, type Fact } from './fact.ts';

interface Entry {
  /** the parameter keys this answer covers */
  keys: Set<string>;
  value: unknown;
}

/** Per connection (one per host and run): the cache dies with the run. */
const caches = new WeakMap<object, Map<string, Entry>>();

function cacheOf(host: object): Map<string, Entry> {
  let c = caches.get(host);
  if (!c) caches.set(host, (c = new Map()));
  return c;
}

/** The cached answer covering every parameter asked for, else undefined. */
export function cached<T, P>(host: object, fact: Fact<T, P>, params: readonly P[]): { value: T } | undefined {
  const e = caches.get(host)?.get(fact.name);
  if (!e || !params.every((p) => e.keys.has(keyOf(fact, p)))) return undefined;
  return { value: e.value as T };
}

export function remember<T, P>(host: object, fact: Fact<T, P>, params: readonly P[], value: T): void {
  cacheOf(host).set(fact.name, { keys: new Set(params.map((p) => keyOf(fact, p))), value });
}

/** Forget every fact of this host: something changed there. */
export function forgetFacts(host: object): void {
  caches.delete(host);
}
