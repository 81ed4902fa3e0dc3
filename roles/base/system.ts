// Host identity and clock: host name, time zone, time sync, and apt's unattended security updates.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Change, HostContext, Task } from '../../lib/runner/types.ts';
import { command, directory, file, lineInFile, renderTemplate, service, unitState } from '../../lib/blocks/index.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { fileFact, textOf } from '../../lib/blocks/file.ts';
import type { VarsReader } from '../../lib/settings/index.ts';

const TEMPLATES = fileURLToPath(new URL('./templates/', import.meta.url));
const template = (name: string, data: unknown) => renderTemplate(path.join(TEMPLATES, name), data);

// ---- host name -------------------------------------------------------------------------------

/** The /etc/hosts line for the host's own name: "127.0.1.1 fqdn short" (Debian's convention). */
export function hostsLine(name: string): string {
  const short = name.split('.')[0];
  return short === name ? `127.0.1.1\t${name}` : `127.0.1.1\t${name} ${short}`;
}

export function hostnameTasks(name: string): Task[] {
  return [
    file({ path: '/etc/hostname', content: `${name}\n`, name: 'host name in /etc/hostname' }),
    command({
      name: 'running host name',
      // the kernel's host name read by the shell (no hostname process), hostname(1) where /proc lacks it
      probe: `h=; IFS= read -r h </proc/sys/kernel/hostname || h=$(hostname); [ "$h" = ${q(name)} ]`,
      // hostnamectl needs systemd-hostnamed over D-Bus; plain hostname(1) works everywhere else
      run: `hostnamectl set-hostname ${q(name)} 2>/dev/null || hostname ${q(name)}`,
      summary: `set the running host name to ${name}`,
    }),
    lineInFile({ path: '/etc/hosts', name: 'own name in /etc/hosts', line: hostsLine(name), regexp: /^127\.0\.1\.1\s/ }),
  ];
}

// ---- time zone -------------------------------------------------------------------------------

export const TIMEZONE = /^(?!.*\.\.)[A-Za-z0-9_+-]+(?:\/[A-Za-z0-9_+-]+)*$/;

/** /etc/localtime → /usr/share/zoneinfo/<zone> and /etc/timezone, which is what timedatectl does. */
export function timezoneTask(zone: string): Task {
  const target = `/usr/share/zoneinfo/${zone}`;
  return {
    name: `time zone ${zone}`,
    probe: `readlink /etc/localtime || true; echo --; [ -f ${q(target)} ] && echo known || echo unknown`,
    files: [{ path: '/etc/timezone', content: true }],
    plan(state, ctx): Change | null {
      const [link = '', known = ''] = state.stdout.split('--\n').map((s) => s.trim());
      const tzFile = textOf(fileFact(state, '/etc/timezone')).trim();
      const linkOk = link !== '' && path.posix.resolve('/etc', link) === target;
      const fileOk = tzFile === zone;
      if (linkOk && fileOk) return null;
      if (known !== 'known' && !ctx.options.check) {
        throw new Error(`vars.base.timezone: ${zone} is not a known time zone on ${ctx.host.name} (${target} does not exist)`);
      }
      return {
        summary: `set the time zone to ${zone}${link ? ` (was ${path.posix.relative('/usr/share/zoneinfo', path.posix.resolve('/etc', link))})` : ''}`,
        apply: (c) =>
          run(c, `ln -sfn ${q(target)} /etc/localtime && printf '%s\\n' ${q(zone)} > /etc/timezone`, `time zone ${zone}`).then(
            () => undefined,
          ),
      };
    },
  };
}

// ---- time sync -------------------------------------------------------------------------------

export const TIMESYNCD_DROPIN = '/etc/systemd/timesyncd.conf.d/50-clusterseed.conf';

export function timeSyncTasks(servers: string[], ctx: HostContext): Task[] {
  const tasks: Task[] = [];
  if (servers.length) {
    tasks.push(directory({ path: path.posix.dirname(TIMESYNCD_DROPIN) }));
    tasks.push(
      file({
        path: TIMESYNCD_DROPIN,
        content: template('timesyncd.conf.hbs', { servers: servers.join(' ') }),
        notify: ['restart timesyncd'],
        name: 'NTP servers',
      }),
    );
  }
  if (ctx.facts.container) {
    tasks.push(service({ name: 'systemd-timesyncd', enabled: true, taskName: 'systemd-timesyncd enabled' }));
    tasks.push({
      name: 'systemd-timesyncd running',
      plan: () => ({
        skip: `inside a ${ctx.facts.container} container the clock is the container host's (systemd-timesyncd does not start there)`,
      }),
    });
  } else {
    tasks.push(service({ name: 'systemd-timesyncd', enabled: true, state: 'started' }));
  }
  return tasks;
}

// ---- unattended upgrades ---------------------------------------------------------------------

const ORIGIN = /^[^"\\\n\r]+$/;

export interface UnattendedSpec {
  enabled: boolean;
  origins: string[];
  blacklist: string[];
  automaticReboot: boolean;
  rebootTime: string;
  removeUnusedKernels: boolean;
}

/**
 * `raspberryPi`: Raspberry Pi OS 64-bit reports ID=debian, but its kernel, firmware and Pi tools
 * come from archive.raspberrypi.com (Release file: Origin/Label "Raspberry Pi Foundation"), which
 * no Debian origin matches: its entries (`origins_raspberry_pi`) are added on Pi hosts.
 */
export function readUnattended(r: VarsReader, osId: string, raspberryPi = false): UnattendedSpec {
  const p = 'unattended_upgrades';
  const enabled = r.bool(`${p}.enabled`);
  const perOs = r.map(`${p}.origins`);
  const extra = r.stringList(`${p}.extra_origins`, { pattern: ORIGIN, expected: 'an Origins-Pattern entry (no quotes or backslashes)' });
  let origins: string[] = [];
  if (enabled) {
    if (!(osId in perOs)) {
      r.fail(
        `${p}.origins.${osId || 'unknown'}`,
        `the Origins-Pattern entries for ${osId || 'this OS'} (or ${p}.enabled: false)`,
        undefined,
      );
    }
    const pi = raspberryPi
      ? r.stringList(`${p}.origins_raspberry_pi`, { pattern: ORIGIN, expected: 'an Origins-Pattern entry (no quotes or backslashes)' })
      : [];
    origins = [
      ...new Set([
        ...r.stringList(`${p}.origins.${osId}`, { pattern: ORIGIN, expected: 'an Origins-Pattern entry (no quotes or backslashes)' }),
        ...pi,
        ...extra,
      ]),
    ];
  }
  return {
    enabled,
    origins,
    blacklist: r.stringList(`${p}.blacklist`, { pattern: ORIGIN, expected: 'a package name pattern (no quotes or backslashes)' }),
    automaticReboot: r.bool(`${p}.automatic_reboot`),
    rebootTime: r.string(`${p}.automatic_reboot_time`, { pattern: /^([01]\d|2[0-3]):[0-5]\d$/, expected: 'a time HH:MM' }),
    removeUnusedKernels: r.bool(`${p}.remove_unused_kernel_packages`),
  };
}

export function renderAutoUpgrades(spec: UnattendedSpec): string {
  return template('20auto-upgrades.hbs', { enabled: spec.enabled });
}

export function renderUnattendedUpgrades(spec: UnattendedSpec, osId: string): string {
  return template('50unattended-upgrades.hbs', { ...spec, osId });
}

export function unattendedTasks(spec: UnattendedSpec, osId: string): Task[] {
  const tasks: Task[] = [
    file({
      path: '/etc/apt/apt.conf.d/20auto-upgrades',
      content: renderAutoUpgrades(spec),
      name: 'apt periodic settings (20auto-upgrades)',
    }),
  ];
  if (!spec.enabled) return tasks;
  tasks.push(
    file({
      path: '/etc/apt/apt.conf.d/50unattended-upgrades',
      content: renderUnattendedUpgrades(spec, osId),
      name: 'unattended-upgrades origins (50unattended-upgrades)',
    }),
  );
  tasks.push(aptTimersTask());
  return tasks;
}

/** apt's daily timers drive unattended-upgrades; a timer an admin masked is reported, not unmasked. */
function aptTimersTask(): Task {
  const timers = ['apt-daily.timer', 'apt-daily-upgrade.timer'];
  return {
    name: 'apt daily timers enabled',
    units: timers,
    plan(state, ctx): Change | null {
      const status = new Map(timers.map((t) => [t, unitState(state, t).unitFile]));
      const masked = timers.filter((t) => status.get(t) === 'masked');
      if (masked.length)
        ctx.log.warn(`${masked.join(' and ')} masked on this host: unattended upgrades will not run until they are unmasked`);
      const disabled = timers.filter((t) => !['enabled', 'static', 'masked'].includes(status.get(t) ?? ''));
      if (!disabled.length) return null;
      return {
        summary: `enable ${disabled.join(', ')}`,
        apply: (c) => run(c, `systemctl enable --now ${disabled.join(' ')}`, 'enable apt timers').then(() => undefined),
      };
    },
  };
}
