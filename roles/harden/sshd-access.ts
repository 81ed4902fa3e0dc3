// Who may log in over SSH once AllowGroups is set: the users clusterseed itself logs in as must be
// in one of the groups, else the next run (or the operator) would be locked out. Checked on the
// host (group membership lives there) before the sshd drop-in is even built.
import type { Change, HostContext, Task } from '../../lib/runner/types.ts';
import { q } from '../../lib/blocks/shell.ts';

export interface LoginUsers {
  /** the inventory's login user of this run */
  login: string;
  /** the user whose fresh login proves a new sshd config (admin user or sshd.verify_user) */
  verify: string;
  /** false when PermitRootLogin no/forced-commands-only: root is not required to get in */
  rootMayLogIn: boolean;
  /** the users other inventory hosts log in as when this host is their `jump` */
  jump?: string[];
}

/** The users that must keep SSH access, each once; root only when root logins stay allowed. */
export function usersNeedingAccess(u: LoginUsers): string[] {
  return [...new Set([u.verify, u.login, ...(u.jump ?? [])])].filter((name) => name !== 'root' || u.rootMayLogIn);
}

/** Probe output "user: group group ..." (or "user: !missing") → the users in none of `allowed`. */
export function usersLockedOut(probe: string, users: string[], allowed: string[]): { user: string; groups: string[] | undefined }[] {
  const groupsOf = new Map<string, string[] | undefined>();
  for (const line of probe.split('\n')) {
    const m = /^([^:\s]+):\s*(.*)$/.exec(line.trim());
    if (m) groupsOf.set(m[1], m[2].trim() === '!missing' ? undefined : m[2].trim().split(/\s+/).filter(Boolean));
  }
  return users
    .map((user) => ({ user, groups: groupsOf.get(user) }))
    .filter(({ groups }) => !groups || !groups.some((g) => allowed.includes(g)));
}

export function allowGroupsTask(allowed: string[], users: string[]): Task {
  return {
    name: `SSH logins limited to groups ${allowed.join(', ')}: clusterseed's users are members`,
    probe: users.map((u) => `printf '%s: ' ${q(u)}; id -nG ${q(u)} 2>/dev/null || echo '!missing'`).join('; '),
    plan(state, ctx: HostContext): Change | null {
      const out = usersLockedOut(state.stdout, users, allowed);
      if (out.length === 0) return null;
      // in check mode base may not have created the admin user or its groups yet
      if (ctx.options.check && out.every((o) => o.groups === undefined)) return null;
      const who = out.map((o) => `${o.user} (${o.groups ? `groups: ${o.groups.join(' ') || 'none'}` : 'no such user'})`).join(', ');
      throw new Error(
        `${ctx.inventory.file}: host ${ctx.host.name}: vars.harden.sshd.allow_groups (${allowed.join(' ')}) would lock out ${who}, ` +
          'whom clusterseed logs in as: add one of their groups to allow_groups, put them in an allowed group (vars.base.admin_groups), or set allow_groups: []',
      );
    },
  };
}

/**
 * AllowGroups (when set) also admits `group`, in place: the on-cluster GitOps repository's user
 * (roles/gitops-repo), whom Argo CD logs in as with its read-only key. No AllowGroups: nothing to do.
 */
export function admitGroup(settings: [string, string][], group: string): void {
  const i = settings.findIndex(([k]) => k === 'AllowGroups');
  if (i < 0) return;
  const groups = settings[i][1].split(' ');
  if (!groups.includes(group)) settings[i] = ['AllowGroups', [...groups, group].join(' ')];
}
