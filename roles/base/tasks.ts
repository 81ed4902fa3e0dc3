// The base role's task list, in order: packages first (sudo, tzdata, unattended-upgrades and
// systemd-timesyncd come from there), then identity, clock, the admin account and updates.
import type { HostContext, Task } from '../../lib/runner/types.ts';
import { packages } from '../../lib/blocks/index.ts';
import { adminUserTask, authorizedKeysTask, readAdminSpec, sudoersTask } from './admin.ts';
import { hostnameTasks, readUnattended, timeSyncTasks, timezoneTask, TIMEZONE, unattendedTasks } from './system.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import type { FreshLogin } from '../../lib/blocks/login-proof.ts';

const PACKAGE = /^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9]+)?$/;
const NTP_SERVER = /^[A-Za-z0-9.:-]+$/;

/** `freshLogin`: how the keys and sudo tasks prove a login after a change (default: a real SSH login) */
export function baseTasks(ctx: HostContext, defaults: Record<string, unknown>, freshLogin?: FreshLogin): Task[] {
  const r = VarsReader.of(ctx, 'base');
  const unattended = readUnattended(r, ctx.facts.osId, ctx.facts.raspberryPi);
  const timeSync = r.bool('time_sync.enabled');
  const admin = readAdminSpec(ctx, defaults);
  const wanted = [
    'sudo',
    'tzdata',
    ...(timeSync ? ['systemd-timesyncd'] : []),
    ...(unattended.enabled ? ['unattended-upgrades'] : []),
    ...r.stringList('packages', { pattern: PACKAGE, expected: 'a Debian package name' }),
  ];
  const tasks: Task[] = [
    packages({
      name: 'apt packages',
      present: wanted,
      absent: r.stringList('packages_absent', { pattern: PACKAGE, expected: 'a Debian package name' }),
      cacheValidSeconds: r.int('apt_cache_valid_seconds', 0, 30 * 86400),
    }),
  ];
  if (r.bool('manage_hostname')) tasks.push(...hostnameTasks(ctx.host.name));
  tasks.push(timezoneTask(r.string('timezone', { pattern: TIMEZONE, expected: 'an IANA time zone such as Etc/UTC or Europe/Berlin' })));
  if (timeSync)
    tasks.push(
      ...timeSyncTasks(r.stringList('time_sync.servers', { pattern: NTP_SERVER, expected: 'an NTP server name or address' }), ctx),
    );
  tasks.push(adminUserTask(admin), authorizedKeysTask(admin, freshLogin), sudoersTask(admin, freshLogin));
  tasks.push(...unattendedTasks(unattended, ctx.facts.osId));
  return tasks;
}
