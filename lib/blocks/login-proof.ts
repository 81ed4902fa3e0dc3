// The proof that a change which can affect logging in (authorized_keys, sudoers, sshd, the
// firewall) left the host usable: a NEW SSH connection (the run's own one stays open throughout
// and would hide a lockout) as the user clusterseed connects as, with its own key and its sudo as
// the inventory configures it, plus any other user that must keep logging in (sshd.verify_user).
// proveOrRollBack is the "install → prove → roll back" step every such change ends with.
// Right after `systemctl reload ssh` a connection can be refused or reset for a moment, so login
// failures are retried for a short while before they count.
import os from 'node:os';
import path from 'node:path';
import { HandlerRolledBack, type HostContext } from '../runner/types.ts';
import { createTransport } from '../ssh/index.ts';
import { TransportError, type Transport } from '../ssh/types.ts';

/** One login that must work after the change. */
export interface LoginCheck {
  user: string;
  /** also become root the way the run does (sudo, with the inventory's password if any) */
  sudo: boolean;
}

/** Logs in as `user` over a fresh connection (and proves sudo when asked) or throws a plain Error saying why not. */
export type FreshLogin = (ctx: HostContext, user: string, opts?: { sudo?: boolean }) => Promise<void>;

// the same default as the site command's (cli/site/pipeline.ts) for inventories without known_hosts
const DEFAULT_KNOWN_HOSTS = path.join(os.homedir(), '.ssh', 'known_hosts');
const DEADLINE_MS = 20_000;
/** a refused key or host key does not get better by waiting: stop after this many tries */
const DETERMINISTIC_TRIES = 3;
const COMMAND_TIMEOUT_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The logins to prove: first the user this run connects as (ctx.host.user: its key, and sudo
 * when the run becomes root through sudo), then each of `others` not already listed (login only).
 */
export function loginChecks(ctx: Pick<HostContext, 'host'>, others: string[] = []): LoginCheck[] {
  const checks: LoginCheck[] = [{ user: ctx.host.user, sudo: ctx.host.become && ctx.host.user !== 'root' }];
  for (const user of others) if (user && !checks.some((c) => c.user === user)) checks.push({ user, sudo: false });
  return checks;
}

/** Every check in order; throws the first failure. */
export async function proveLogins(ctx: HostContext, freshLogin: FreshLogin, checks: LoginCheck[]): Promise<void> {
  for (const c of checks) await freshLogin(ctx, c.user, { sudo: c.sudo });
}

/** What a rollback did: `restored` = the previous content is back and live. */
export interface RollbackOutcome {
  restored: boolean;
  /** for the message: "the previous ruleset was restored", "restoring ... FAILED too: ..." */
  message: string;
}

export interface ProvenChange {
  /** the start of the error message, e.g. "sudo: after removing /etc/sudoers.d/50-clusterseed-admin" */
  what: string;
  freshLogin: FreshLogin;
  checks: LoginCheck[];
  /**
   * Puts back what was there. Returns what it did, for the message: a plain string ("the previous
   * file was restored") means restored; a throw means the rollback failed.
   */
  rollback(ctx: HostContext): Promise<string | RollbackOutcome>;
  /**
   * A handler's proof: a rollback that restored the previous state throws HandlerRolledBack (the
   * runner drops its pending record: nothing is left to do). Otherwise a plain Error.
   */
  handler?: boolean;
}

/**
 * After a change is installed: prove every login, else roll back and throw (the host then fails,
 * exit 2). The message says why the proof failed and whether the rollback worked:
 * "<what>, <why>; <rollback outcome>. This run's own connection was kept."
 * The whole validate → install → prove → roll back sequence is lib/blocks/guarded-install.ts.
 */
export async function proveOrRollBack(ctx: HostContext, spec: ProvenChange): Promise<void> {
  try {
    await proveLogins(ctx, spec.freshLogin, spec.checks);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    let outcome: RollbackOutcome;
    try {
      const back = await spec.rollback(ctx);
      outcome = typeof back === 'string' ? { restored: true, message: back } : back;
    } catch (back) {
      outcome = { restored: false, message: `rolling back FAILED too: ${back instanceof Error ? back.message : String(back)}` };
    }
    const message = `${spec.what}, ${why}; ${outcome.message}. This run's own connection was kept.`;
    throw spec.handler && outcome.restored ? new HandlerRolledBack(message) : new Error(message);
  }
}

export const sshFreshLogin: FreshLogin = async (ctx, user, opts = {}) => {
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
    let loggedIn = false;
    try {
      await conn.connect();
      const res = await conn.exec('id -un', { become: false, timeoutMs: COMMAND_TIMEOUT_MS });
      if (res.code === 0 && res.stdout.trim() === user) {
        loggedIn = true;
        if (opts.sudo) await proveSudo(conn, user);
        ctx.log.verbose(`fresh login as ${user}${opts.sudo ? ' with sudo' : ''} worked (attempt ${attempt})`);
        return;
      }
      last = `logged in but \`id -un\` said ${JSON.stringify(res.stdout.trim())} (exit ${res.code})`;
    } catch (err) {
      // sudo refusing a fresh login is the sudoers' answer, not a moment of sshd reloading
      if (loggedIn) throw err;
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

/** sudo on the fresh connection exactly as the run uses it (sudo -n, or -S with the inventory's password). */
async function proveSudo(conn: Transport, user: string): Promise<void> {
  let why: string;
  try {
    const res = await conn.exec('id -u', { become: true, timeoutMs: COMMAND_TIMEOUT_MS });
    if (res.code === 0 && res.stdout.trim() === '0') return;
    why = `exit ${res.code}: ${(res.stderr || res.stdout).trim()}`;
  } catch (err) {
    why = err instanceof Error ? err.message : String(err);
  }
  throw new Error(`a fresh SSH login as ${user} worked, but sudo as the run uses it did not (${why})`);
}
