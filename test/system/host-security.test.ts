// Issue 18 part 4, the pure side: Raspberry Pi OS update origins, admin keys removed when they
// leave the inventory (never the login key), AllowGroups that cannot lock out clusterseed's own
// users, and the AppArmor / auditd / core dump / cron / tmp tasks' files and decisions.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HostSpec } from '../../lib/inventory/model.ts';
import type { Change, HostContext, PlanResult, Task } from '../../lib/runner/types.ts';
import { deepMerge } from '../../lib/runner/merge.ts';
import { baseDefaults } from '../../roles/base/index.ts';
import { hardenDefaults } from '../../roles/harden/index.ts';
import { authorizedKeysContent, authorizedKeysTask, loginKeyIdentity, MANAGED_KEY_MARK, type AdminSpec } from '../../roles/base/admin.ts';
import { readUnattended, renderUnattendedUpgrades } from '../../roles/base/system.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import { readSshdVars } from '../../roles/harden/sshd.ts';
import { allowGroupsTask, usersLockedOut, usersNeedingAccess } from '../../roles/harden/sshd-access.ts';
import { apparmorTasks, piCmdlineWords } from '../../roles/harden/apparmor.ts';
import { auditdConfWith, auditRules, auditdTasks, AUDITD_CONF } from '../../roles/harden/auditd.ts';
import { coreDumpTasks, CORE_PATTERN, LIMITS_CONF, MANAGER_CONF } from '../../roles/harden/coredump.ts';
import { cronAllowContent, cronTask } from '../../roles/harden/cron.ts';
import { fstabWithTmpOptions, tmpMountTasks, tmpMountUnit } from '../../roles/harden/tmp-mount.ts';
import { hardenTasks } from '../../roles/harden/tasks.ts';
import { inState, probed } from '../support/probe-state.ts';
import { emptyInventory, hostN1, quiet } from '../support/host-context.ts';
import { hardenReader } from '../support/harden-firewall.ts';

const ED = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop';
const OLD = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0ldKeyK0ldKeyK0ldKeyK0ldKeyK0ldKeyK0ldKey01 old@laptop';
const HAND = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHandAddedHandAddedHandAddedHandAddedHandAdd0 someone@else';
const baseReader = (over: Record<string, unknown> = {}) =>
  new VarsReader('/inv/inventory.yaml: host n1', deepMerge(baseDefaults, over), 'vars.base');
const host = (over: Partial<HostSpec> = {}): HostSpec => hostN1({ groups: ['agents'], ...over });
const inventory = emptyInventory;
function ctx(facts: Partial<HostContext['facts']> = {}, over: Partial<HostContext> = {}, warnings: string[] = []): HostContext {
  return {
    host: host(),
    inventory: inventory(),
    vars: hardenDefaults,
    options: { check: false, diff: false, verbosity: 0, forks: 1 },
    facts: {
      osId: 'debian',
      container: '',
      arch: 'x86_64',
      raspberryPi: false,
      piCmdlineFile: '',
      kernel: '6.1.0',
      sshdVersion: '9.2',
      ...facts,
    },
    log: { ...quiet, warn: (m: string) => warnings.push(m) },
    shared: new Map(),
    ...over,
  } as unknown as HostContext;
}
async function rejects(fn: () => unknown, re: RegExp): Promise<void> {
  try {
    await fn();
  } catch (err) {
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`expected an error matching ${re}`);
}
const summaryOf = (c: PlanResult) => (c && 'summary' in c ? c.summary : c && 'skip' in c ? `skip: ${c.skip}` : 'null');
const taskNamed = (tasks: Task[], re: RegExp) => {
  const t = tasks.find((x) => re.test(x.name));
  if (!t) throw new Error(`no task ${re} in ${tasks.map((x) => x.name).join(' | ')}`);
  return t;
};

test('Raspberry Pi OS (ID=debian on a Pi): the archive.raspberrypi.com origin is added; apt-config accepts the file', () => {
  const pi = readUnattended(baseReader(), 'debian', true);
  const pc = readUnattended(baseReader(), 'debian', false);
  const PI_ORIGIN = 'origin=Raspberry Pi Foundation,codename=${distro_codename},label=Raspberry Pi Foundation';
  assert.ok(pi.origins.includes(PI_ORIGIN), pi.origins.join('\n'));
  assert.ok(pi.origins.includes('origin=Debian,codename=${distro_codename}-security,label=Debian-Security'));
  assert.not.ok(pc.origins.includes(PI_ORIGIN), 'not on a PC');
  // 32-bit Raspberry Pi OS (raspbian) already lists it: once only
  assert.is(readUnattended(baseReader(), 'raspbian', true).origins.filter((o) => o === PI_ORIGIN).length, 1);
  assert.not.ok(
    readUnattended(baseReader({ unattended_upgrades: { origins_raspberry_pi: [] } }), 'debian', true).origins.includes(PI_ORIGIN),
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-apt-'));
  try {
    const file = path.join(dir, '50unattended-upgrades');
    writeFileSync(file, renderUnattendedUpgrades(pi, 'debian'));
    const r = spawnSync('apt-config', ['-c', file, 'dump', 'Unattended-Upgrade::Origins-Pattern'], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /Raspberry Pi Foundation/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('authorized_keys: a key clusterseed added leaves with the inventory; keys it did not add stay; revoked keys go anywhere', () => {
  const first = authorizedKeysContent(`${HAND}\n`, [ED, OLD], false);
  assert.is(first, `${HAND}\n${MANAGED_KEY_MARK}\n${ED}\n${MANAGED_KEY_MARK}\n${OLD}\n`);
  assert.is(authorizedKeysContent(first, [ED, OLD], false), first, 'converged: unchanged');
  // OLD removed from admin_keys: its line and its mark go, the hand-added key stays
  const second = authorizedKeysContent(first, [ED], false);
  assert.is(second, `${HAND}\n${MANAGED_KEY_MARK}\n${ED}\n`);
  assert.is(authorizedKeysContent(second, [ED], false), second);
  // a key that was there before clusterseed (unmarked) is never removed by leaving the inventory...
  assert.is(authorizedKeysContent(`${OLD}\n`, [ED], false), `${OLD}\n${MANAGED_KEY_MARK}\n${ED}\n`);
  // ...but a revoked one is, wherever it is and whoever added it
  assert.is(
    authorizedKeysContent(`${HAND}\n${OLD}\n${MANAGED_KEY_MARK}\n${ED}\n`, [ED], false, [HAND, OLD]),
    `${MANAGED_KEY_MARK}\n${ED}\n`,
  );
  assert.is(authorizedKeysContent(`${ED}\n`, [ED], true, [ED]), `${ED}\n`, 'a key in admin_keys is never revoked');
});

test('authorized_keys: removing the key this run logs in with is refused with the reason', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-login-'));
  try {
    const key = path.join(dir, 'id_ed25519');
    const gen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'login@ctl', '-f', key]);
    assert.is(gen.status, 0);
    const pub = `${spawnSync('cat', [`${key}.pub`], { encoding: 'utf8' }).stdout.trim()}`;
    const identity = pub.split(' ').slice(0, 2).join(' ');
    assert.is(loginKeyIdentity(host({ sshKey: key })), identity, 'from the .pub');
    rmSync(`${key}.pub`);
    assert.is(loginKeyIdentity(host({ sshKey: key })), identity, 'derived from the private key when there is no .pub');
    const spec = (over: Partial<AdminSpec>): AdminSpec => ({
      user: 'pi',
      groups: [],
      keys: [ED],
      exclusive: false,
      revoked: [],
      sudo: 'nopasswd',
      loginKey: identity,
      ...over,
    });
    const c = ctx({}, { host: host({ sshKey: key }) });
    const state = (content: string) => ({ stdout: `home=/home/pi\npresent\n${Buffer.from(content).toString('base64')}\n`, code: 0 });
    // the login key was added by clusterseed and has left admin_keys
    const marked = `${MANAGED_KEY_MARK}\n${pub}\n${MANAGED_KEY_MARK}\n${ED}\n`;
    const t = authorizedKeysTask(spec({}));
    await rejects(
      async () => t.plan(state(marked), c),
      /refusing to remove the key clusterseed logs in with \(.*id_ed25519\) from pi's authorized_keys/,
    );
    await rejects(
      async () => authorizedKeysTask(spec({ exclusive: true })).plan(state(`${pub}\n${ED}\n`), c),
      /refusing to remove the key clusterseed logs in with/,
    );
    await rejects(async () => authorizedKeysTask(spec({ revoked: [pub] })).plan(state(`${pub}\n${ED}\n`), c), /refusing to remove/);
    // kept in admin_keys: fine
    assert.is(await authorizedKeysTask(spec({ keys: [ED, pub] })).plan(state(marked), c), null);
    // another user's file (the admin user is not the login user): no guard needed
    assert.ok(await authorizedKeysTask(spec({ loginKey: undefined })).plan(state(marked), c));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('AllowGroups: from sshd.allow_groups (not settings), and the users clusterseed logs in as must be in one', async () => {
  const settings = readSshdVars(hardenReader(), '9.2').settings;
  assert.ok(
    settings.some(([k, v]) => k === 'AllowGroups' && v === 'sudo'),
    JSON.stringify(settings),
  );
  assert.ok(settings.some(([k, v]) => k === 'MaxStartups' && v === '10:30:60'));
  assert.ok(
    readSshdVars(hardenReader({ sshd: { allow_groups: ['sudo', 'ops'] } }), '9.2').settings.some(
      ([k, v]) => k === 'AllowGroups' && v === 'sudo ops',
    ),
  );
  assert.not.ok(readSshdVars(hardenReader({ sshd: { allow_groups: [] } }), '9.2').settings.some(([k]) => k === 'AllowGroups'));
  assert.throws(
    () => readSshdVars(hardenReader({ sshd: { settings: { AllowGroups: 'wheel' } } }), '9.2'),
    /use vars\.harden\.sshd\.allow_groups/,
  );
  assert.throws(
    () => readSshdVars(hardenReader({ sshd: { allow_groups: ['Bad Group'] } }), '9.2'),
    /sshd\.allow_groups\[0\]: expected a group name/,
  );

  assert.equal(usersNeedingAccess({ login: 'root', verify: 'admin', rootMayLogIn: false }), ['admin']);
  assert.equal(usersNeedingAccess({ login: 'root', verify: 'admin', rootMayLogIn: true }), ['admin', 'root']);
  assert.equal(usersNeedingAccess({ login: 'pi', verify: 'pi', rootMayLogIn: false }), ['pi']);
  assert.equal(
    usersNeedingAccess({ login: 'pi', verify: 'pi', rootMayLogIn: false, jump: ['bastion', 'pi'] }),
    ['pi', 'bastion'],
    'users that jump through this host',
  );
  const probe = 'pi: pi adm sudo\nops: ops\nghost: !missing\n';
  assert.equal(usersLockedOut(probe, ['pi'], ['sudo']), []);
  assert.equal(usersLockedOut(probe, ['pi', 'ops', 'ghost'], ['sudo']), [
    { user: 'ops', groups: ['ops'] },
    { user: 'ghost', groups: undefined },
  ]);

  const t = allowGroupsTask(['sudo'], ['pi', 'ops']);
  assert.match(t.probe!, /id -nG 'pi'/);
  assert.is(await t.plan({ stdout: 'pi: pi sudo\nops: ops sudo\n', code: 0 }, ctx()), null);
  await rejects(
    async () => t.plan({ stdout: 'pi: pi sudo\nops: ops\n', code: 0 }, ctx()),
    /vars\.harden\.sshd\.allow_groups \(sudo\) would lock out ops \(groups: ops\), whom clusterseed logs in as/,
  );
  // check mode on a fresh host: base has not created the user yet
  assert.is(
    await t.plan({ stdout: 'pi: pi sudo\nops: !missing\n', code: 0 }, ctx({}, { options: { check: true, diff: false, verbosity: 0 } })),
    null,
  );
});

test('harden task list: the new tasks sit before the sshd ones (which stay last)', async () => {
  const c = ctx(
    {},
    { vars: hardenDefaults, host: host({ user: 'admin' }), inventory: { ...inventory(), hosts: [host({ user: 'admin' })] } },
  );
  const tasks = await hardenTasks(c, { baseDefaults, freshLogin: async () => undefined });
  const names = tasks.map((t) => t.name);
  for (const re of [
    /AppArmor packages/,
    /auditd package/,
    /core_pattern/,
    /cron restricted/,
    /\/tmp mounted nosuid,nodev/,
    /SSH logins limited to groups sudo/,
  ]) {
    assert.ok(
      names.some((n) => re.test(n)),
      `${re} in ${names.join(' | ')}`,
    );
  }
  assert.is(names[names.length - 1], 'sshd hardened configuration');
  const off = await hardenTasks(
    ctx(
      {},
      {
        vars: deepMerge(hardenDefaults, {
          apparmor: { enabled: false },
          auditd: { enabled: false },
          cron: { restrict: false },
          tmp_mount: { options: [] },
          sshd: { allow_groups: [] },
        }),
        host: host({ user: 'admin' }),
      },
    ),
    { baseDefaults, freshLogin: async () => undefined },
  );
  for (const re of [/AppArmor/, /auditd/, /cron restricted/, /\/tmp mounted/, /SSH logins limited/])
    assert.not.ok(
      off.some((t) => re.test(t.name)),
      `${re} turned off`,
    );
});

test('AppArmor: a container says it cannot, a PC warns when the kernel has it off, a Pi gets cmdline words (with the cgroup flags on K3s nodes)', async () => {
  const status = (c: HostContext) => taskNamed(apparmorTasks(c, true), /enabled in the kernel/);
  const inNspawn = ctx({ container: 'systemd-nspawn' });
  const skipped = await status(inNspawn).plan({ stdout: 'enabled=\ninactive\n', code: 0 }, inNspawn);
  assert.match(summaryOf(skipped), /^skip: inside a systemd-nspawn container AppArmor cannot be enabled/);
  const warnings: string[] = [];
  const pc = ctx({}, {}, warnings);
  assert.is(await status(pc).plan({ stdout: 'enabled=Y\nactive\n', code: 0 }, pc), null);
  assert.match(summaryOf(await status(pc).plan({ stdout: 'enabled=Y\ninactive\n', code: 0 }, pc)), /load the AppArmor profiles/);
  assert.match(summaryOf(await status(pc).plan({ stdout: 'enabled=N\ninactive\n', code: 0 }, pc)), /^skip: AppArmor is off/);
  assert.match(warnings.join('\n'), /apparmor=1 security=apparmor/);
  assert.equal(piCmdlineWords(false), ['apparmor=1', 'security=apparmor']);
  assert.ok(piCmdlineWords(true).includes('cgroup_memory=1'));
  const pi = ctx({ raspberryPi: true, arch: 'aarch64', piCmdlineFile: '/boot/firmware/cmdline.txt' });
  const cmdline = taskNamed(apparmorTasks(pi, true), /Raspberry Pi kernel command line/);
  assert.equal(cmdline.notify, ['reboot']);
  const change = (await cmdline.plan(
    probed(cmdline, '', { '/boot/firmware/cmdline.txt': 'console=tty1 root=PARTUUID=x rootwait\n' }),
    pi,
  )) as Change;
  assert.is(
    change.diff![0].after,
    'console=tty1 root=PARTUUID=x rootwait apparmor=1 security=apparmor cgroup_memory=1 cgroup_enable=memory cgroup_enable=cpuset\n',
  );
  assert.ok(inState(await cmdline.plan(probed(cmdline, '', { '/boot/firmware/cmdline.txt': change.diff![0].after }), pi)));
  assert.not.ok(
    apparmorTasks(ctx({ raspberryPi: true, container: 'systemd-nspawn' }), true).some((t) => /command line/.test(t.name)),
    'no reboot for nothing in a container',
  );
});

test('auditd: rules per architecture, auditd.conf keys set in place, a container reports it cannot run it', async () => {
  assert.match(auditRules('x86_64'), /-a always,exit -F arch=b32 -S init_module,finit_module,delete_module -k modules/);
  assert.not.match(auditRules('aarch64'), /arch=b32/);
  for (const key of ['identity', 'sudoers', 'sshd', 'time-change', 'modules'])
    assert.match(auditRules('aarch64'), new RegExp(`-k ${key}$`, 'm'));
  const conf = 'log_file = /var/log/audit/audit.log\nmax_log_file = 8\nnum_logs = 5\nmax_log_file_action = ROTATE\n';
  const next = auditdConfWith(conf, { max_log_file: 4, num_logs: 3, disk_full_action: 'SUSPEND' });
  assert.is(
    next,
    'log_file = /var/log/audit/audit.log\nmax_log_file = 4\nnum_logs = 3\nmax_log_file_action = ROTATE\ndisk_full_action = SUSPEND\n',
  );
  assert.is(auditdConfWith(next, { max_log_file: 4, num_logs: 3, disk_full_action: 'SUSPEND' }), next);
  const spec = { enabled: true, maxLogFileMb: 4, numLogs: 3 };
  const nspawn = ctx({ container: 'systemd-nspawn' });
  const running = taskNamed(auditdTasks(nspawn, spec), /running/);
  assert.match(
    summaryOf(await running.plan({ stdout: 'failed\n', code: 0 }, nspawn)),
    /^skip: inside a systemd-nspawn container auditd cannot run/,
  );
  const vm = ctx();
  const vmRunning = taskNamed(auditdTasks(vm, spec), /running/);
  const loaded =
    'active\n-w /etc/passwd -p wa -k identity\n-w /etc/sudoers -p wa -k sudoers\n-w /etc/ssh/sshd_config -p wa -k sshd\n-a always,exit -F arch=b64 -S adjtimex -F key=time-change\n-a always,exit -F arch=b64 -S init_module -F key=modules\n';
  assert.is(await vmRunning.plan({ stdout: loaded, code: 0 }, vm), null);
  assert.match(
    summaryOf(await vmRunning.plan({ stdout: 'active\n-w /etc/passwd -p wa -k identity\n', code: 0 }, vm)),
    /load the rules \(sudoers, sshd, time-change, modules missing\)/,
  );
  const confTask = taskNamed(auditdTasks(vm, spec), /log rotation/);
  assert.match(summaryOf(await confTask.plan(probed(confTask, '', { [AUDITD_CONF]: conf }), vm)), /max_log_file = 4, num_logs = 3/);
});

test('core dumps: kernel pipe to /bin/false, DefaultLimitCORE=0, limits for root too; turned off removes the files', () => {
  assert.is(CORE_PATTERN, '|/bin/false');
  assert.match(MANAGER_CONF, /^\[Manager\]\nDefaultLimitCORE=0$/m);
  assert.match(LIMITS_CONF, /^\* hard core 0$/m);
  assert.match(LIMITS_CONF, /^root hard core 0$/m, '`*` does not cover root in limits.conf');
  const on = coreDumpTasks(true);
  assert.ok(on.some((t) => t.notify?.includes('reload systemd manager')));
  assert.ok(coreDumpTasks(false).every((t) => /^no \/etc\//.test(t.name)) && coreDumpTasks(false).length === 4);
});

test('cron: cron.allow (root, admin, extra) readable by the crontab group, root-only crontab and cron dirs; nothing without cron', async () => {
  assert.is(
    cronAllowContent(['admin', 'root', 'admin'])
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .join(','),
    'root,admin',
  );
  const t = cronTask(['admin']);
  const c = ctx();
  assert.is(await t.plan({ stdout: 'cron=no\ngroup=root\n--\n\n', code: 0 }, c), null);
  const loose = 'cron=yes\ngroup=crontab\n644 root root /etc/crontab\n755 root root /etc/cron.d\n700 root root /etc/cron.daily\n--\n\n';
  const change = (await t.plan({ stdout: loose, code: 0 }, c)) as Change;
  assert.match(change.summary, /\/etc\/cron\.allow: root, admin; 2 path\(s\) made root's only/);
  const tight = `cron=yes\ngroup=crontab\n600 root root /etc/crontab\n700 root root /etc/cron.d\n640 root crontab /etc/cron.allow\n--\n${Buffer.from(cronAllowContent(['admin'])).toString('base64')}\n`;
  assert.is(await t.plan({ stdout: tight, code: 0 }, c), null);
});

test('/tmp: options added to a /tmp mount and its fstab line; a /tmp on / is reported, tmpfs only on request', async () => {
  assert.is(
    fstabWithTmpOptions('UUID=1 / ext4 defaults 0 1\ntmpfs /tmp tmpfs defaults 0 0\n', ['nosuid', 'nodev']),
    'UUID=1 / ext4 defaults 0 1\ntmpfs\t/tmp\ttmpfs\tdefaults,nosuid,nodev\t0\t0\n',
  );
  assert.is(fstabWithTmpOptions('tmpfs /tmp tmpfs rw,nosuid,nodev 0 0\n', ['nosuid', 'nodev']), 'tmpfs /tmp tmpfs rw,nosuid,nodev 0 0\n');
  assert.match(
    tmpMountUnit({ tmpfs: true, size: '25%', options: ['nosuid', 'nodev'] }),
    /^Options=mode=1777,strictatime,nosuid,nodev,size=25%,nr_inodes=1m$/m,
  );
  const c = ctx();
  const spec = { tmpfs: false, size: '25%', options: ['nosuid', 'nodev'] };
  const t = taskNamed(tmpMountTasks(spec), /\/tmp mounted/);
  const fstab = Buffer.from('UUID=1 / ext4 defaults 0 1\n').toString('base64');
  assert.match(
    summaryOf(await t.plan({ stdout: `!none\n--\n${fstab}\n`, code: 0 }, c)),
    /^skip: \/tmp is part of the root filesystem.*tmp_mount\.tmpfs: true/,
  );
  assert.is(await t.plan({ stdout: `rw,nosuid,nodev,size=10k\n--\n${fstab}\n`, code: 0 }, c), null);
  assert.match(summaryOf(await t.plan({ stdout: `rw,nodev,size=10k\n--\n${fstab}\n`, code: 0 }, c)), /^remount \/tmp with nosuid$/);
  assert.not.ok(tmpMountTasks(spec).some((x) => /tmp\.mount/.test(x.name)));
  assert.ok(tmpMountTasks({ ...spec, tmpfs: true }).some((x) => x.name === 'tmp.mount enabled'));
});

test('every new harden and base key is documented in its role README', async () => {
  const { readFileSync } = await import('node:fs');
  const harden = readFileSync(new URL('../../roles/harden/README.md', import.meta.url), 'utf8');
  for (const key of [
    'apparmor.enabled',
    'auditd.enabled',
    'max_log_file_mb',
    'num_logs',
    'core_dumps.disabled',
    'cron.restrict',
    'allow_users',
    'tmp_mount.options',
    'tmp_mount.tmpfs',
    'tmp_mount.size',
    'allow_groups',
    'MaxStartups',
  ]) {
    assert.ok(harden.includes(key), `roles/harden/README.md mentions ${key}`);
  }
  const base = readFileSync(new URL('../../roles/base/README.md', import.meta.url), 'utf8');
  for (const key of ['origins_raspberry_pi', 'admin_keys_revoked', 'admin_keys_exclusive'])
    assert.ok(base.includes(key), `roles/base/README.md mentions ${key}`);
});

test.run();
