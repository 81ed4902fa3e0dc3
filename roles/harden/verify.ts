// Proof that the host still lets us in: a NEW SSH connection (the run's own connection stays open
// throughout) that logs in and runs a command. Right after `systemctl reload ssh` a connection can
// be refused or reset for a moment, so failures are retried for a short while before they count.
import os from 'node:os';
import path from 'node:path';
import type { HostContext } from '../../lib/runner/types.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { TransportError } from '../../lib/ssh/types.ts';

/** Logs in as `user` over a fresh connection or throws a plain Error saying why it could not. */
export type FreshLogin = (ctx: HostContext, user: string) => Promise<void>;

// the same default as the site command's (lib/site/site.ts) for inventories without known_hosts
const DEFAULT_KNOWN_HOSTS = path.join(os.homedir(), '.ssh', 'known_hosts');
const DEADLINE_MS = 20_000;
/** a refused key or host key does not get better by waiting: stop after this many tries */
const DETERMINISTIC_TRIES = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const sshFreshLogin: FreshLogin = async (ctx, user) => {
  const host = { ...ctx.host, user };
  const deadline = Date.now() + DEADLINE_MS;
  let last = '';
  let deterministic = 0;
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - Date.now();
    const conn = createTransport(host, {
      knownHostsFile: ctx.host.knownHostsFile ?? DEFAULT_KNOWN_HOSTS,
      connectTimeoutMs: Math.max(2_000, Math.min(8_000, remaining)),
    });
    try {
      await conn.connect();
      const res = await conn.exec('id -un', { become: false, timeoutMs: 10_000 });
      if (res.code === 0 && res.stdout.trim() === user) {
        ctx.log.verbose(`fresh login as ${user} worked (attempt ${attempt})`);
        return;
      }
      last = `logged in but \`id -un\` said ${JSON.stringify(res.stdout.trim())} (exit ${res.code})`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
      if (err instanceof TransportError && (err.kind === 'auth' || err.kind.startsWith('hostkey'))) deterministic++;
    } finally {
      await conn.close().catch(() => undefined);
    }
    if (deterministic >= DETERMINISTIC_TRIES || Date.now() + 1_000 >= deadline) {
      throw new Error(`no fresh SSH login as ${user}@${ctx.host.address}:${ctx.host.port} after ${attempt} attempt(s): ${last}`);
    }
    ctx.log.debug(`fresh login attempt ${attempt} as ${user} failed: ${last}; retrying`);
    await sleep(Math.min(1_000 * attempt, 3_000));
  }
};
