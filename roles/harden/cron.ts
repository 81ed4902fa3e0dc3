// cron restricted (CIS 5.1): only the users in /etc/cron.allow may have a crontab, and the system
// crontab and cron.* directories are root's alone (what runs as root, and when, is nobody else's
// business). Only where cron is installed: a host without it has nothing to restrict, and this
// role does not install it.
import type { Change, Task } from '../../lib/runner/types.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { putFile } from '../../lib/blocks/remote.ts';

export const CRON_ALLOW = '/etc/cron.allow';
/** root-only modes: the system crontab 0600, the directories 0700 (CIS 5.1.2-5.1.7) */
export const CRON_PATHS: [path: string, mode: string][] = [
  ['/etc/crontab', '600'],
  ['/etc/cron.hourly', '700'],
  ['/etc/cron.daily', '700'],
  ['/etc/cron.weekly', '700'],
  ['/etc/cron.monthly', '700'],
  ['/etc/cron.yearly', '700'],
  ['/etc/cron.d', '700'],
];

/** cron.allow's lines: root first, then the other users, each once. */
export function cronAllowContent(users: string[]): string {
  return (
    ['# Managed by clusterseed (role harden, cron.allow_users): only these users may use crontab.', ...new Set(['root', ...users])].join(
      '\n',
    ) + '\n'
  );
}

export function cronTask(users: string[]): Task {
  const content = cronAllowContent(users);
  const paths = CRON_PATHS.map(([p]) => q(p)).join(' ');
  return {
    name: 'cron restricted to root and cron.allow',
    // "installed" = Debian's cron (or cronie) left its crontab binary; stat prints "mode owner group path"
    probe:
      `command -v crontab >/dev/null 2>&1 && echo cron=yes || echo cron=no; getent group crontab >/dev/null && echo group=crontab || echo group=root; ` +
      `stat -c '%a %U %G %n' ${paths} ${CRON_ALLOW} 2>/dev/null; echo --; [ -f ${CRON_ALLOW} ] && base64 -w0 < ${CRON_ALLOW}; echo`,
    plan(state): Change | null {
      const [head = '', allowB64 = ''] = state.stdout.split('--\n');
      const lines = head
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      if (lines[0] !== 'cron=yes') return null; // nothing to restrict
      // Debian's crontab is setgid crontab: the group must be able to read cron.allow
      const group = lines[1] === 'group=crontab' ? 'crontab' : 'root';
      const stats = new Map(
        lines
          .slice(2)
          .map((l) => l.split(' '))
          .map(([mode, owner, grp, p]) => [p, { mode, owner, grp }]),
      );
      const fixes: string[] = [];
      for (const [p, mode] of CRON_PATHS) {
        const st = stats.get(p);
        if (st && (st.mode !== mode || st.owner !== 'root' || st.grp !== 'root'))
          fixes.push(`chown root:root ${q(p)} && chmod ${mode} ${q(p)}`);
      }
      const allow = stats.get(CRON_ALLOW);
      const current = Buffer.from(allowB64.trim(), 'base64').toString('utf8');
      const allowOk = allow && allow.mode === '640' && allow.owner === 'root' && allow.grp === group && current === content;
      if (fixes.length === 0 && allowOk) return null;
      const what = [
        ...(allowOk ? [] : [`${CRON_ALLOW}: ${['root', ...users].join(', ')}`]),
        ...(fixes.length ? [`${fixes.length} path(s) made root's only`] : []),
      ];
      return {
        summary: what.join('; '),
        diff: allowOk ? undefined : [{ path: CRON_ALLOW, before: current, after: content }],
        async apply(c) {
          if (!allowOk) await putFile(c, CRON_ALLOW, content, { mode: 0o640, group });
          if (fixes.length) await run(c, fixes.join(' && '), 'cron permissions');
        },
      };
    },
  };
}
