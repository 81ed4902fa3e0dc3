import type { Handler } from '../../lib/runner/types.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import { fail2banHandler } from './fail2ban.ts';
import { reloadSshdHandler } from './sshd-tasks.ts';
import { reloadAuditdHandler } from './auditd.ts';
import { reloadManagerHandler } from './coredump.ts';
import { rebootHandler } from '../k3s-prereq/index.ts';
import { verifyUser } from './tasks.ts';
import type { FreshLogin } from './verify.ts';

/**
 * fail2ban first: the sshd reload and its login proof are the last change the role makes. Then a
 * reboot, only when the Raspberry Pi kernel command line changed (AppArmor): it comes after the
 * proof, so the host boots into a configuration already shown to let the admin in.
 */
export function hardenHandlers(baseDefaults: Record<string, unknown>, freshLogin: FreshLogin): Handler[] {
  return [
    fail2banHandler((ctx) => VarsReader.of(ctx, 'harden').bool('fail2ban.enabled')),
    reloadManagerHandler,
    reloadAuditdHandler,
    reloadSshdHandler((ctx) => verifyUser(ctx, baseDefaults), freshLogin),
    rebootHandler,
  ];
}
