// Core dumps off: a dump of sshd, sudo or K3s holds keys, tokens and secrets from memory, written
// to disk (an SD card on a Pi) readable by whoever gets the file. Four layers, because each one
// alone leaves a gap:
//  - kernel.core_pattern "|/bin/false": the kernel hands every dump to /bin/false, which reads
//    nothing. With a pipe pattern the kernel ignores RLIMIT_CORE (core(5)), so this also covers
//    K3s, whose unit sets LimitCORE=infinity, and the containers containerd starts under it,
//    which inherit that limit. It is a kernel-wide knob: a container cannot set it.
//  - DefaultLimitCORE=0 for every systemd service that does not set its own limit;
//  - "* hard core 0" (and root, which `*` does not cover) for login sessions through PAM;
//  - systemd-coredump Storage=none, ProcessSizeMax=0, for when someone installs it: its package
//    points core_pattern at itself, our file sorts after its 50-coredump.conf.
// fs.suid_dumpable=0 is already in the sysctl list (no dumps of setuid programs).
import type { Handler, Task } from '../../lib/runner/types.ts';
import { absent, directory, file, sysctl } from '../../lib/blocks/index.ts';
import { run } from '../../lib/blocks/shell.ts';

export const CORE_SYSCTL_FILE = '/etc/sysctl.d/zz-clusterseed-coredump.conf';
export const SYSTEMD_MANAGER_DROPIN = '/etc/systemd/system.conf.d/60-clusterseed-coredump.conf';
export const LIMITS_FILE = '/etc/security/limits.d/60-clusterseed-coredump.conf';
export const COREDUMP_DROPIN = '/etc/systemd/coredump.conf.d/60-clusterseed.conf';
export const CORE_PATTERN = '|/bin/false';

const HEADER = '# Managed by clusterseed (role harden, core_dumps.disabled): no core dumps.\n';

export const MANAGER_CONF = `${HEADER}[Manager]\nDefaultLimitCORE=0\n`;
export const LIMITS_CONF = `${HEADER}* hard core 0\n* soft core 0\nroot hard core 0\nroot soft core 0\n`;
export const COREDUMP_CONF = `${HEADER}[Coredump]\nStorage=none\nProcessSizeMax=0\n`;

export function coreDumpTasks(disabled: boolean): Task[] {
  // turned off: our files go (the live core_pattern stays until the next boot)
  if (!disabled) return [CORE_SYSCTL_FILE, SYSTEMD_MANAGER_DROPIN, LIMITS_FILE, COREDUMP_DROPIN].map((p) => absent(p, { name: `no ${p}` }));
  return [
    sysctl({
      file: CORE_SYSCTL_FILE,
      values: { 'kernel.core_pattern': CORE_PATTERN },
      name: 'core dumps discarded by the kernel (kernel.core_pattern)',
      comment: "Managed by clusterseed (role harden): every core dump goes to /bin/false, whatever a unit's LimitCORE says.",
    }),
    directory({ path: '/etc/systemd/system.conf.d' }),
    file({
      path: SYSTEMD_MANAGER_DROPIN,
      content: MANAGER_CONF,
      name: 'no core dumps for services (DefaultLimitCORE=0)',
      notify: ['reload systemd manager'],
    }),
    directory({ path: '/etc/security/limits.d' }),
    file({ path: LIMITS_FILE, content: LIMITS_CONF, name: 'no core dumps for login sessions (limits.d)' }),
    directory({ path: '/etc/systemd/coredump.conf.d' }),
    file({ path: COREDUMP_DROPIN, content: COREDUMP_CONF, name: 'systemd-coredump stores nothing (Storage=none)' }),
  ];
}

/** systemd reads system.conf.d on daemon-reload: DefaultLimitCORE applies to units started after it. */
export const reloadManagerHandler: Handler = {
  name: 'reload systemd manager',
  run: (ctx) => run(ctx, 'systemctl daemon-reload', 'systemctl daemon-reload').then(() => undefined),
};
