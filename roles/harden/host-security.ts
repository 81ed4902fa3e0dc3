// The host-side hardening dev-sec's os_hardening covers besides sshd, sysctl and the firewall:
// AppArmor, auditd, core dumps, cron and /tmp. Each reads its part of vars.harden; see README.md.
import type { HostContext, Task } from '../../lib/runner/types.ts';
import type { VarsReader } from '../../lib/settings/index.ts';
import { apparmorTasks } from './apparmor.ts';
import { auditdTasks } from './auditd.ts';
import { coreDumpTasks } from './coredump.ts';
import { cronTask } from './cron.ts';
import { tmpMountTasks } from './tmp-mount.ts';

const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;
const MOUNT_OPTION = /^[a-z_]+(=[A-Za-z0-9%._-]+)?$/;

export function hostSecurityTasks(ctx: HostContext, r: VarsReader, adminUser: string): Task[] {
  const tasks: Task[] = [];
  tasks.push(...apparmorTasks(ctx, r.bool('apparmor.enabled')));
  tasks.push(
    ...auditdTasks(ctx, {
      enabled: r.bool('auditd.enabled'),
      maxLogFileMb: r.int('auditd.max_log_file_mb', 1, 1024),
      numLogs: r.int('auditd.num_logs', 2, 99),
    }),
  );
  tasks.push(...coreDumpTasks(r.bool('core_dumps.disabled')));
  if (r.bool('cron.restrict'))
    tasks.push(cronTask([adminUser, ...r.stringList('cron.allow_users', { pattern: USER, expected: 'a user name' })]));
  tasks.push(
    ...tmpMountTasks({
      tmpfs: r.bool('tmp_mount.tmpfs'),
      size: r.string('tmp_mount.size', { pattern: /^\d+[kmgKMG%]?$/, expected: 'a tmpfs size such as 25%, 512M or 1G' }),
      options: r.stringList('tmp_mount.options', { pattern: MOUNT_OPTION, expected: 'a mount option such as nosuid, nodev or noexec' }),
    }),
  );
  return tasks;
}
