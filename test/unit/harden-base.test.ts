// The base role's pure parts: admin user and keys from the inventory, authorized_keys merging,
// the sudoers line (checked by this machine's visudo), host name and unattended-upgrades files,
// and the errors bad vars produce.
import { probed } from '../support/probe-state.ts';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HostContext } from '../../lib/runner/types.ts';
import { deepMerge } from '../../lib/runner/merge.ts';
import { baseDefaults } from '../../roles/base/index.ts';
import { adminUserName, authorizedKeysContent, collectAdminKeys, MANAGED_KEY_MARK, sudoersContent } from '../../roles/base/admin.ts';
import { hostsLine, timezoneTask } from '../../roles/base/system.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import { baseTasks } from '../../roles/base/tasks.ts';
import { emptyInventory, hostN1 } from '../support/host-context.ts';

const ED = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop';
const RSA = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 ops@desk';

const host = hostN1;
const inventory = emptyInventory;
const reader = (over: Record<string, unknown> = {}) =>
  new VarsReader('/inv/inventory.yaml: host n1', deepMerge(baseDefaults, over), 'vars.base');

test('admin user: configured, else the login user, else admin when logging in as root', () => {
  assert.is(adminUserName(host(), inventory(), baseDefaults), 'pi');
  assert.is(adminUserName(host({ user: 'root' }), inventory(), baseDefaults), 'admin');
  assert.is(adminUserName(host({ vars: { base: { admin_user: 'ops' } } }), inventory(), baseDefaults), 'ops');
  assert.throws(
    () => adminUserName(host({ vars: { base: { admin_user: 'root' } } }), inventory(), baseDefaults),
    /vars\.base\.admin_user: expected a user other than root/,
  );
  assert.throws(
    () => adminUserName(host({ vars: { base: { admin_user: 'Bad User' } } }), inventory(), baseDefaults),
    /\/inv\/inventory\.yaml: host n1: vars\.base\.admin_user: expected a user name/,
  );
});

test('admin keys: key lines, files relative to the inventory, or the ssh_key .pub by default', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-keys-'));
  try {
    writeFileSync(path.join(dir, 'team.pub'), `# team\n${RSA}\n${ED}\n`);
    writeFileSync(path.join(dir, 'id_ed25519.pub'), `${ED}\n`);
    writeFileSync(path.join(dir, 'id_ed25519'), '-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n');
    assert.equal(collectAdminKeys(reader({ admin_keys: [ED, 'team.pub'] }), host(), dir), [ED, RSA]);
    assert.equal(collectAdminKeys(reader(), host({ sshKey: path.join(dir, 'id_ed25519') }), dir), [ED]);
    assert.equal(collectAdminKeys(reader(), host(), dir), [], 'no key anywhere: the task decides');
    assert.throws(
      () => collectAdminKeys(reader({ admin_keys: ['id_ed25519'] }), host(), dir),
      /admin_keys\[0\]: expected a file of public key lines .* has a line that is not one/,
    );
    assert.throws(
      () => collectAdminKeys(reader({ admin_keys: ['missing.pub'] }), host(), dir),
      /admin_keys\[0\]: expected a public key line or an existing file/,
    );
    assert.throws(
      () => collectAdminKeys(reader({ admin_keys: ['ssh-ed25519 not base64!'] }), host(), dir),
      /admin_keys\[0\]: expected a public key line/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('authorized_keys: keys added once (options and comments ignored), exclusive replaces', () => {
  const current = `command="uptime" ${ED.replace('me@laptop', 'old comment')}\nssh-ed25519 AAAAOTHER other@x\n`;
  assert.is(authorizedKeysContent(current, [ED], false), current, 'same key with options counts as present');
  assert.is(authorizedKeysContent(current, [ED, RSA], false), `${current}${MANAGED_KEY_MARK}\n${RSA}\n`);
  assert.is(authorizedKeysContent('', [ED], false), `${MANAGED_KEY_MARK}\n${ED}\n`);
  assert.is(authorizedKeysContent(current, [RSA], true), `${RSA}\n`);
});

test('sudoers line per mode', () => {
  assert.match(sudoersContent('ops', 'nopasswd'), /^ops ALL=\(ALL:ALL\) NOPASSWD: ALL$/m);
  assert.match(sudoersContent('ops', 'password'), /^ops ALL=\(ALL:ALL\) ALL$/m);
});

test('/etc/hosts line for short and dotted names', () => {
  assert.is(hostsLine('n1'), '127.0.1.1\tn1');
  assert.is(hostsLine('n1.home.lan'), '127.0.1.1\tn1.home.lan n1');
});

test('time zone task: ok when linked, change otherwise, unknown zone refused', async () => {
  const ctx = { options: { check: false }, host: host() } as unknown as HostContext;
  const t = timezoneTask('Europe/Berlin');
  assert.is(await t.plan(probed(t, '../usr/share/zoneinfo/Europe/Berlin\n--\nknown\n', { '/etc/timezone': 'Europe/Berlin\n' }), ctx), null);
  const change = await t.plan(probed(t, '/usr/share/zoneinfo/Etc/UTC\n--\nknown\n', { '/etc/timezone': 'Etc/UTC\n' }), ctx);
  assert.match((change as { summary: string }).summary, /set the time zone to Europe\/Berlin \(was Etc\/UTC\)/);
  // linked right but /etc/timezone missing: still a change
  assert.ok(await t.plan(probed(t, '../usr/share/zoneinfo/Europe/Berlin\n--\nknown\n'), ctx));
  const mars = timezoneTask('Mars/Olympus');
  assert.throws(
    () => mars.plan(probed(mars, '/usr/share/zoneinfo/Etc/UTC\n--\nunknown\n', { '/etc/timezone': 'Etc/UTC\n' }), ctx),
    /Mars\/Olympus is not a known time zone/,
  );
});

test('base tasks: packages from the inventory, bad vars named with inventory and host', () => {
  const ctx = (vars: Record<string, unknown>, facts: Partial<HostContext['facts']> = {}) =>
    ({
      host: host(),
      inventory: inventory(),
      vars: deepMerge(baseDefaults, vars),
      options: { check: false, diff: false, verbosity: 0 },
      facts: { osId: 'debian', container: '', ...facts },
      log: { info() {}, verbose() {}, debug() {}, warn() {} },
    }) as unknown as HostContext;
  const tasks = baseTasks(ctx({ packages: ['htop', 'vim-tiny'] }), baseDefaults);
  assert.match(tasks[0].name, /apt packages/);
  assert.ok(tasks[0].packages!.includes('htop'));
  assert.ok(tasks[0].packages!.includes('unattended-upgrades'));
  assert.ok(tasks.some((t) => t.name === 'systemd-timesyncd running' || t.name === 'service systemd-timesyncd'));
  const inContainer = baseTasks(ctx({}, { container: 'systemd-nspawn' }), baseDefaults);
  assert.ok(
    inContainer.some((t) => t.name === 'systemd-timesyncd running'),
    'skipped with a reason inside containers',
  );
  assert.throws(
    () => baseTasks(ctx({ packages: ['Bad Name'] }), baseDefaults),
    /\/inv\/inventory\.yaml: host n1: vars\.base\.packages\[0\]: expected a Debian package name, got "Bad Name"/,
  );
  assert.throws(() => baseTasks(ctx({ timezone: '../../etc/passwd' }), baseDefaults), /vars\.base\.timezone: expected an IANA time zone/);
  assert.throws(
    () => baseTasks(ctx({ admin_sudo: 'maybe' }), baseDefaults),
    /vars\.base\.admin_sudo: expected one of nopasswd, password, none, got "maybe"/,
  );
});

test.run();
