// A fact is a named query of a host's current state: a POSIX sh command run as root and a parser
// of what it prints (after pyinfra's facts). Tasks name the facts they read (Task.facts, next to
// files, units and packages); the runner puts every fact a probe batch needs into the batch's ONE
// remote command, one query per fact however many tasks or roles ask for it (their parameters
// merged: two roles' sysctl keys make one grep), parses each once, and keeps the answer per host
// for the run until the runner changes something on that host (lib/facts/cache.ts).

/** A query of host state; `P` is the type of its parameters (e.g. sysctl paths), `never` for none. */
export interface Fact<T, P = never> {
  /** unique among facts: the key the answers are found under */
  name: string;
  /** POSIX sh run as root (stdin closed, stderr dropped); `params`: every request's, merged */
  command(params: readonly P[]): string;
  /** what `command(params)` printed → the fact */
  parse(stdout: string, params: readonly P[]): T;
  /** the identity of a parameter when merging requests (default: the string itself / JSON) */
  paramKey?(param: P): string;
}

/** A task's request of a fact, with the parameters it needs answered. */
export interface FactRequest<T = unknown, P = unknown> {
  fact: Fact<T, P>;
  params?: readonly P[];
}

/** Builds a request: `need(sysctlFact, ['/proc/sys/net/ipv4/ip_forward'])`. */
export function need<T, P>(fact: Fact<T, P>, params: readonly P[] = []): FactRequest<T, P> {
  return { fact, params } as FactRequest<T, P>;
}

/** The facts a probe batch answered, by fact name. */
export type FactValues = ReadonlyMap<string, unknown>;

/** The answer to a fact a task listed in `facts`, from its probe state. */
export function factOf<T, P>(state: { facts?: FactValues }, fact: Fact<T, P>): T {
  if (!state.facts?.has(fact.name)) throw new Error(`fact ${fact.name}: not among the facts this task asked for (a bug in the task)`);
  return state.facts.get(fact.name) as T;
}

export function keyOf<P>(fact: Fact<unknown, P>, param: P): string {
  return fact.paramKey ? fact.paramKey(param) : typeof param === 'string' ? param : JSON.stringify(param);
}

/** The requests of a batch grouped per fact, parameters merged (first-seen order kept, duplicates dropped). */
export function mergeRequests(requests: readonly FactRequest[]): { fact: Fact<unknown, unknown>; params: unknown[] }[] {
  const byName = new Map<string, { fact: Fact<unknown, unknown>; params: Map<string, unknown> }>();
  for (const r of requests) {
    let entry = byName.get(r.fact.name);
    if (!entry) byName.set(r.fact.name, (entry = { fact: r.fact, params: new Map() }));
    else if (entry.fact !== r.fact) throw new Error(`two different facts are named ${r.fact.name}`);
    for (const p of r.params ?? []) {
      const k = keyOf(r.fact, p);
      if (!entry.params.has(k)) entry.params.set(k, p);
    }
  }
  return [...byName.values()].map((e) => ({ fact: e.fact, params: [...e.params.values()] }));
}
