// Who must still get in after sshd or the firewall changed. The proof itself (a fresh SSH login,
// sudo as the run uses it, roll back otherwise) lives in lib/blocks/login-proof.ts: the base role
// needs it too and must not import harden. Re-exported here for the harden role's modules.
import type { HostContext } from '../../lib/runner/types.ts';
import { loginChecks, type LoginCheck } from '../../lib/blocks/login-proof.ts';
import { VarsReader } from '../../lib/settings/index.ts';

export {
  loginChecks,
  proveLogins,
  proveOrRollBack,
  sshFreshLogin,
  type FreshLogin,
  type LoginCheck,
} from '../../lib/blocks/login-proof.ts';

/** true when the hardened sshd keeps root out (prohibit-password still lets root in with a key) */
export function rootLoginsTurnedOff(ctx: Pick<HostContext, 'inventory' | 'host' | 'vars'>): boolean {
  const settings = VarsReader.of(ctx, 'harden').map('sshd.settings');
  const value = Object.entries(settings).find(([k]) => k.toLowerCase() === 'permitrootlogin')?.[1];
  return value === 'no' || value === 'forced-commands-only';
}

/**
 * The logins a new sshd configuration must leave working: the user this run connects as (with
 * its sudo) and `verifyUser` (sshd.verify_user, else the admin user). One exception: a run that
 * connects as root while the configuration turns root logins off on purpose (the first run of a
 * root-only host, which base gives an admin user): root's login is meant to end, and the user that
 * replaces it is proven with sudo instead, as the next run will use it.
 */
export function sshdLoginChecks(ctx: HostContext, verifyUser: string): LoginCheck[] {
  if (ctx.host.user === 'root' && verifyUser !== 'root' && rootLoginsTurnedOff(ctx)) return [{ user: verifyUser, sudo: ctx.host.become }];
  return loginChecks(ctx, [verifyUser]);
}
