// auditd with a handful of rules, sized for an SD card: who changed accounts, sudo rights or the
// sshd configuration, the clock, and which kernel modules were loaded. Watches on a few files cost
// nothing; the two syscall rules fire rarely (clock changes, module loads). No rule on execve or
// on every file access: those fill a card and wear it out. Logs rotate at 4 MB, 3 files kept.
// In a container auditd cannot run (the audit netlink socket belongs to the container host's
// kernel): the package and files are put in place, the service is reported as not possible there.
import type { Change, Handler, HostContext, Task } from '../../lib/runner/types.ts';
import { fileFact, textOf } from '../../lib/blocks/file.ts';
import { file, packages, writeEdited } from '../../lib/blocks/index.ts';
import { run } from '../../lib/blocks/shell.ts';

export const AUDIT_RULES_FILE = '/etc/audit/rules.d/60-clusterseed.rules';
export const AUDITD_CONF = '/etc/audit/auditd.conf';
/** the -k keys of our rules: the VM tier and the status check look for them in `auditctl -l` */
export const AUDIT_KEYS = ['identity', 'sudoers', 'sshd', 'time-change', 'modules'];

export interface AuditdSpec {
  enabled: boolean;
  maxLogFileMb: number;
  numLogs: number;
}

/** The syscall rule ABIs of an architecture (uname -m): 64-bit hosts also catch 32-bit calls on x86. */
export function auditArches(arch: string): string[] {
  if (arch === 'x86_64') return ['b64', 'b32'];
  if (arch === 'aarch64') return ['b64'];
  return ['b32'];
}

export function auditRules(arch: string): string {
  const lines = [
    '## Managed by clusterseed (role harden, auditd): a small rule set for SD cards.',
    '-w /etc/passwd -p wa -k identity',
    '-w /etc/group -p wa -k identity',
    '-w /etc/shadow -p wa -k identity',
    '-w /etc/gshadow -p wa -k identity',
    '-w /etc/sudoers -p wa -k sudoers',
    '-w /etc/sudoers.d/ -p wa -k sudoers',
    '-w /etc/ssh/sshd_config -p wa -k sshd',
    '-w /etc/ssh/sshd_config.d/ -p wa -k sshd',
    '-w /etc/localtime -p wa -k time-change',
  ];
  for (const abi of auditArches(arch)) {
    lines.push(`-a always,exit -F arch=${abi} -S adjtimex,settimeofday,clock_settime -k time-change`);
    lines.push(`-a always,exit -F arch=${abi} -S init_module,finit_module,delete_module -k modules`);
  }
  return lines.join('\n') + '\n';
}

/** auditd.conf with our keys set in place (or appended), every other line kept. */
export function auditdConfWith(current: string, settings: Record<string, string | number>): string {
  const done = new Set<string>();
  const lines = current
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => {
      const m = /^\s*([a-z_]+)\s*=/.exec(line);
      if (!m || !(m[1] in settings)) return line;
      done.add(m[1]);
      return `${m[1]} = ${settings[m[1]]}`;
    });
  for (const [k, v] of Object.entries(settings)) if (!done.has(k)) lines.push(`${k} = ${v}`);
  return lines.join('\n') + '\n';
}

export function auditdSettings(spec: AuditdSpec): Record<string, string | number> {
  // SUSPEND (not HALT) when the disk fills: auditing pauses, the node keeps running
  return {
    max_log_file: spec.maxLogFileMb,
    num_logs: spec.numLogs,
    max_log_file_action: 'ROTATE',
    disk_full_action: 'SUSPEND',
    disk_error_action: 'SUSPEND',
  };
}

export function auditdTasks(ctx: HostContext, spec: AuditdSpec): Task[] {
  if (!spec.enabled) return [];
  const settings = auditdSettings(spec);
  return [
    packages({ name: 'auditd package', present: ['auditd'] }),
    file({
      path: AUDIT_RULES_FILE,
      content: auditRules(ctx.facts.arch),
      mode: '0640',
      name: 'audit rules (identity, sudoers, sshd, time, modules)',
      notify: ['reload auditd'],
    }),
    {
      name: 'auditd log rotation (auditd.conf)',
      files: [{ path: AUDITD_CONF, content: true }],
      notify: ['reload auditd'],
      plan(state, c: HostContext): Change | null {
        const st = fileFact(state, AUDITD_CONF);
        if (!st.exists) {
          if (c.options.check)
            return {
              summary: `${AUDITD_CONF}: set ${Object.keys(settings).join(', ')} (after auditd is installed)`,
              apply: async () => undefined,
            };
          throw new Error(`${AUDITD_CONF} does not exist although auditd is installed`);
        }
        const current = textOf(st);
        const next = auditdConfWith(current, settings);
        if (next === current) return null;
        return {
          summary: `${AUDITD_CONF}: ${Object.entries(settings)
            .map(([k, v]) => `${k} = ${v}`)
            .join(', ')}`,
          diff: [{ path: AUDITD_CONF, before: current, after: next }],
          apply: (h) => writeEdited(h, AUDITD_CONF, next, st),
        };
      },
    },
    {
      name: 'auditd running with the rules loaded',
      probe: `systemctl is-active auditd 2>/dev/null || true; auditctl -l 2>/dev/null || true`,
      plan(state, c: HostContext) {
        if (c.facts.container) {
          return {
            skip: `inside a ${c.facts.container} container auditd cannot run (the audit netlink socket belongs to the container host's kernel): package and rules are installed, a VM or real host runs them`,
          };
        }
        const [active = '', ...rules] = state.stdout.split('\n');
        const missing = AUDIT_KEYS.filter((k) => !rules.some((l) => l.includes(`-k ${k}`) || l.includes(`key=${k}`)));
        if (active.trim() === 'active' && missing.length === 0) return null;
        return {
          summary: `${active.trim() === 'active' ? '' : 'start auditd; '}${missing.length ? `load the rules (${missing.join(', ')} missing)` : ''}`,
          apply: (h) =>
            run(h, `systemctl enable auditd && systemctl start auditd && augenrules --load`, 'start auditd').then(() => undefined),
        };
      },
    },
  ];
}

/** New rules: augenrules loads them; auditd re-reads auditd.conf on SIGHUP (systemd refuses a manual restart of it). */
export const reloadAuditdHandler: Handler = {
  name: 'reload auditd',
  async run(ctx) {
    if (ctx.facts.container) return;
    await run(
      ctx,
      'if systemctl is-active --quiet auditd; then augenrules --load && systemctl kill --signal=HUP auditd; fi',
      'reload auditd',
    );
  },
};
