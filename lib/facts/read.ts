// A fact read outside a probe batch (e.g. while a role builds its tasks): from the host's cache
// when a batch of this run already answered it, else in one remote command of its own.
import type { Transport } from '../ssh/types.ts';
import { cached, remember } from './cache.ts';
import type { Fact } from './fact.ts';

export async function readFact<T, P>(conn: Transport, fact: Fact<T, P>, params: readonly P[] = []): Promise<T> {
  const hit = cached(conn, fact, params);
  if (hit) return hit.value;
  const res = await conn.exec(`export LC_ALL=C\n( ${fact.command(params)}\n) </dev/null 2>/dev/null`, { become: true });
  const value = fact.parse(res.stdout, params);
  remember(conn, fact, params, value);
  return value;
}
