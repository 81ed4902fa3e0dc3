import type { Handler } from '../../lib/runner/types.ts';
import { VarsReader } from '../base/vars-check.ts';
import { fail2banHandler } from './fail2ban.ts';
import { reloadSshdHandler } from './sshd-tasks.ts';
import { verifyUser } from './tasks.ts';
import type { FreshLogin } from './verify.ts';

/** fail2ban first: the sshd reload and its login proof are the last thing the role does. */
export function hardenHandlers(baseDefaults: Record<string, unknown>, freshLogin: FreshLogin): Handler[] {
  return [
    fail2banHandler((ctx) => VarsReader.of(ctx, 'harden').bool('fail2ban.enabled')),
    reloadSshdHandler((ctx) => verifyUser(ctx, baseDefaults), freshLogin),
  ];
}
