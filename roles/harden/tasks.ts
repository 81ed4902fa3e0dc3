// The harden role's task list. Order matters for safety: the sshd tasks come last, so that
// between installing the new sshd configuration and the handler that reloads and proves it
// nothing else can fail and leave an unproven configuration waiting for the next sshd restart.
import { sshPortOf } from './ssh-port.ts';
import type { HostContext, Task } from '../../lib/runner/types.ts';
import { absent, sysctl } from '../../lib/blocks/index.ts';
import { adminUserName } from '../base/admin.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import { fail2banTasks, readFail2ban } from './fail2ban.ts';
import { readFilesystems, readProtocols, unusedModulesTask } from './filesystems.ts';
import { firewallTasks, noFirewallTask } from './firewall-tasks.ts';
import { moduliTask, sshdConfigTask } from './sshd-tasks.ts';
import { readSshdVars } from './sshd.ts';
import { contextUsers } from './sshd-contexts.ts';
import { admitGroup, allowGroupsTask, usersNeedingAccess } from './sshd-access.ts';
import { hostedRepoOf } from '../../lib/gitops/hosted-repo.ts';
import { LEGACY_SYSCTL_FILE, readSysctl, SYSCTL_FILE } from './sysctl.ts';
import { interfaceSysctlTask } from './interface-sysctl.ts';
import type { FreshLogin } from './verify.ts';
import { hostSecurityTasks } from './host-security.ts';

export interface HardenDeps {
  baseDefaults: Record<string, unknown>;
  freshLogin: FreshLogin;
}

/** The user whose fresh login proves sshd still lets us in: vars.harden.sshd.verify_user or base's admin. */
export function verifyUser(ctx: HostContext, baseDefaults: Record<string, unknown>): string {
  const r = VarsReader.of(ctx, 'harden');
  return (
    r.string('sshd.verify_user', { allowEmpty: true, pattern: /^[a-z_][a-z0-9_.-]{0,31}$/, expected: 'a user name' }) ||
    adminUserName(ctx.host, ctx.inventory, baseDefaults)
  );
}

/** sysctl keys the inventory sets for this host itself (vars.harden.sysctl.values), not the defaults. */
function explicitSysctlKeys(ctx: HostContext): Set<string> {
  const harden = ctx.host.vars.harden as { sysctl?: { values?: Record<string, unknown> } } | undefined;
  const values = harden?.sysctl?.values;
  return new Set(values && typeof values === 'object' ? Object.keys(values) : []);
}

/** A host other inventory hosts reach through (their `jump`) must keep TCP forwarding for them. */
export function isJumpHost(ctx: HostContext): boolean {
  return ctx.inventory.hosts.some((h) => h.jump && h.jump.address === ctx.host.address && h.jump.port === ctx.host.port);
}

export async function hardenTasks(ctx: HostContext, deps: HardenDeps): Promise<Task[]> {
  const r = VarsReader.of(ctx, 'harden');
  const tasks: Task[] = [];

  const cluster = ctx.inventory.clusters.find((c) => c.name === ctx.host.cluster);
  const sys = readSysctl(r, { userCni: cluster?.flannelBackend === 'none', explicit: explicitSysctlKeys(ctx) });
  if (sys.unmanaged.length) ctx.log.verbose(`sysctl not managed: ${sys.unmanaged.join(', ')}`);
  tasks.push(absent(LEGACY_SYSCTL_FILE, { name: `no sysctl file at its old place (${LEGACY_SYSCTL_FILE})` }));
  tasks.push(
    sysctl({
      file: SYSCTL_FILE,
      values: sys.values,
      optional: sys.optional,
      name: 'kernel and network hardening (sysctl)',
      comment: 'Managed by clusterseed (role harden); K3s forwarding/bridge keys live in 70-clusterseed-k3s.conf.',
    }),
  );
  tasks.push(interfaceSysctlTask(sys.values));

  tasks.push(unusedModulesTask(readFilesystems(r), readProtocols(r)));

  tasks.push(...(r.bool('firewall.enabled') ? await firewallTasks(ctx, r, deps.freshLogin) : [noFirewallTask()]));

  const sshPort = sshPortOf(ctx, r.int('firewall.ssh_port', 0, 65535));
  tasks.push(...fail2banTasks(readFail2ban(r, sshPort)));

  tasks.push(...hostSecurityTasks(ctx, r, adminUserName(ctx.host, ctx.inventory, deps.baseDefaults)));

  if (ctx.facts.sshdVersion) {
    const vars = readSshdVars(r, ctx.facts.sshdVersion);
    const user = verifyUser(ctx, deps.baseDefaults);
    const rootLogin = vars.settings.find(([k]) => k.toLowerCase() === 'permitrootlogin')?.[1];
    // prohibit-password still lets root in with a key; no and forced-commands-only do not
    if (user === 'root' && (rootLogin === 'no' || rootLogin === 'forced-commands-only')) {
      throw new Error(
        `${ctx.inventory.file}: host ${ctx.host.name}: root logins are being turned off (PermitRootLogin ${rootLogin}) but the login that must keep working is root; set vars.base.admin_user (the base role creates it with your keys) and log in as that user`,
      );
    }
    if (isJumpHost(ctx)) {
      const i = vars.settings.findIndex(([k, v]) => k.toLowerCase() === 'allowtcpforwarding' && v === 'no');
      if (i >= 0) {
        vars.settings[i] = [vars.settings[i][0], 'local'];
        ctx.log.verbose(`AllowTcpForwarding local: other inventory hosts are reached through ${ctx.host.name}`);
      }
    }
    const allowGroups = vars.settings.find(([k]) => k === 'AllowGroups')?.[1].split(' ');
    if (allowGroups) {
      const rootMayLogIn = rootLogin !== 'no' && rootLogin !== 'forced-commands-only';
      const jump = ctx.inventory.hosts
        .filter((h) => h.jump && h.jump.address === ctx.host.address && h.jump.port === ctx.host.port)
        .map((h) => h.jump!.user);
      tasks.push(allowGroupsTask(allowGroups, usersNeedingAccess({ login: ctx.host.user, verify: user, rootMayLogIn, jump })));
    }
    // the on-cluster GitOps repository's user (its group has its name) reads over SSH here; added
    // after the lock-out check, whose message names the inventory's allow_groups
    const hostedRepo = hostedRepoOf(ctx.inventory);
    if (hostedRepo?.host.name === ctx.host.name) admitGroup(vars.settings, hostedRepo.user);
    tasks.push(moduliTask(vars.moduliMinBits), sshdConfigTask({ vars, verifyUser: user, contextUsers: contextUsers(user, ctx.host.user) }));
  } else {
    tasks.push({ name: 'sshd hardened configuration', plan: () => ({ skip: 'openssh-server is not installed' }) });
  }
  return tasks;
}
