// Optional fail2ban with an sshd jail that reads the journal (backend = systemd): on hosts without
// rsyslog there is no auth.log and fail2ban would not start. Started is not enough: the service
// must answer for the sshd jail, which is checked every run and after every restart.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Change, Handler, HostContext, Task } from '../../lib/runner/types.ts';
import { absent, file, packages, renderTemplate } from '../../lib/blocks/index.ts';
import { run } from '../../lib/blocks/shell.ts';
import type { VarsReader } from '../../lib/settings/index.ts';
import { sourcesList } from './firewall.ts';

export const JAIL_FILE = '/etc/fail2ban/jail.d/60-clusterseed-sshd.local';
const TEMPLATE = fileURLToPath(new URL('./templates/fail2ban-sshd.local.hbs', import.meta.url));
const DURATION = /^\d+[smhdw]?$/;

export interface Fail2banSpec {
  enabled: boolean;
  port: number;
  maxretry: number;
  findtime: string;
  bantime: string;
  ignoreip: string[];
}

export function readFail2ban(r: VarsReader, port: number): Fail2banSpec {
  return {
    enabled: r.bool('fail2ban.enabled'),
    port,
    maxretry: r.int('fail2ban.maxretry', 1, 100),
    findtime: r.string('fail2ban.findtime', { pattern: DURATION, expected: 'a duration such as 600, 10m or 1h' }),
    bantime: r.string('fail2ban.bantime', { pattern: DURATION, expected: 'a duration such as 600, 10m or 1h' }),
    ignoreip: sourcesList(r, 'fail2ban.ignoreip'),
  };
}

export function renderJail(spec: Fail2banSpec): string {
  return renderTemplate(path.normalize(TEMPLATE), spec);
}

/** Starts fail2ban and waits until it answers for the sshd jail; on failure prints why. */
export const START_AND_CHECK = String.raw`
systemctl enable --quiet fail2ban && systemctl restart fail2ban || exit 1
i=0
while [ $i -lt 40 ]; do
  fail2ban-client status sshd >/dev/null 2>&1 && exit 0
  systemctl is-failed --quiet fail2ban && break
  sleep 0.5; i=$((i + 1))
done
echo "fail2ban is not serving the sshd jail:" >&2
journalctl -u fail2ban -n 15 --no-pager >&2 2>/dev/null || systemctl status fail2ban --no-pager >&2
exit 1
`;

export function fail2banTasks(spec: Fail2banSpec): Task[] {
  if (!spec.enabled) return [absent(JAIL_FILE, { name: 'no clusterseed fail2ban jail', notify: ['restart fail2ban'] })];
  return [
    packages({ name: 'fail2ban packages', present: ['fail2ban', 'python3-systemd'] }),
    file({ path: JAIL_FILE, content: renderJail(spec), name: 'fail2ban sshd jail', notify: ['restart fail2ban'] }),
    {
      name: 'fail2ban active with the sshd jail',
      probe: `systemctl is-active fail2ban 2>/dev/null || true; fail2ban-client status sshd >/dev/null 2>&1 && echo jail=up || echo jail=down`,
      plan(state): Change | null {
        const [active = '', jail = ''] = state.stdout.split('\n').map((l) => l.trim());
        if (active === 'active' && jail === 'jail=up') return null;
        return {
          summary: `start fail2ban (was ${active || 'unknown'}, sshd jail ${jail.replace('jail=', '')})`,
          apply: (c) => run(c, START_AND_CHECK, 'start fail2ban').then(() => undefined),
        };
      },
    },
  ];
}

export function fail2banHandler(enabled: (ctx: HostContext) => boolean): Handler {
  return {
    name: 'restart fail2ban',
    async run(ctx) {
      // disabled: only a running fail2ban is restarted, to drop the removed jail
      if (enabled(ctx)) await run(ctx, START_AND_CHECK, 'restart fail2ban');
      else await run(ctx, 'systemctl try-restart fail2ban 2>/dev/null || true', 'restart fail2ban');
    },
  };
}
