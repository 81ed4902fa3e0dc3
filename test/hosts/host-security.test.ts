// Issue 18 part 4 on a real host (nspawn container with systemd and sshd): base + harden converge
// and a second run changes nothing with the new tasks in; then, checked from outside the roles:
// AllowGroups keeps a user outside `sudo` out and the admin in, an AllowGroups that would lock out
// clusterseed's own user is refused before sshd is touched, an admin key leaves authorized_keys
// when it leaves the inventory (never the login key), cron.allow works for crontab, /tmp gets
// nosuid back, services get no core limit, and what a container cannot do (AppArmor, auditd,
// kernel.core_pattern) is reported as such, not claimed. The VM tier (test/vm/site.test.ts)
// proves the kernel side: AppArmor enabled, auditd running with its rules, core_pattern.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { Role, RunReport } from '../../lib/runner/types.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { baseRole } from '../../roles/base/index.ts';
import { hardenRole } from '../../roles/harden/index.ts';
import { MANAGED_KEY_MARK } from '../../roles/base/admin.ts';

let lab: TestLab;
let h: string;
let keyDir: string;
let key2: string; // a second admin key, added and then removed through the inventory
const ROLES: Role[] = [baseRole, hardenRole];
const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };
const sh = async (cmd: string) => (await lab.sh(h, cmd)).stdout.trim();
const failures = (r: RunReport) =>
  r.hosts.flatMap((x) =>
    x.tasks.filter((t) => t.outcome === 'failed' || t.outcome === 'unreachable').map((t) => `${t.role}/${t.task}: ${t.message}`),
  );
const taskReport = (r: RunReport, re: RegExp) => r.hosts[0].tasks.find((t) => re.test(t.task));

function inventory(vars: Record<string, unknown> = {}): Promise<Inventory> {
  const base = { packages: ['cron'], ...((vars.base as object) ?? {}) };
  const harden = (vars.harden as object) ?? {};
  return loadInventory(lab.writeInventory({ servers: [h], extra: { vars: { base, harden } } }));
}

function converge(inv: Inventory, warnings: string[] = []): Promise<RunReport> {
  return runSite({
    inventory: inv,
    roles: ROLES,
    options: { check: false, diff: false, verbosity: 0, forks: 1 },
    connect: (x) => createTransport(x, { knownHostsFile: lab.knownHostsFile }),
    log: { ...quiet, warn: (m: string) => warnings.push(m) },
  });
}

/** one fresh SSH login with a key; retried briefly because a connection right after a reload can be reset */
async function login(user: string, keyFile: string): Promise<{ ok: boolean; detail: string }> {
  const attempt = () =>
    new Promise<{ ok: boolean; detail: string }>((resolve) => {
      const client = new ssh2.Client();
      const done = (ok: boolean, detail: string) => {
        clearTimeout(timer);
        client.end();
        resolve({ ok, detail });
      };
      const timer = setTimeout(() => done(false, 'timeout'), 15_000);
      client.on('ready', () => done(true, 'logged in'));
      client.on('error', (err) => done(false, `${(err as { level?: string }).level ?? ''}: ${err.message}`));
      client.connect({
        host: lab.hosts[0].address,
        port: 22,
        username: user,
        privateKey: readFileSync(keyFile),
        hostVerifier: () => true,
        readyTimeout: 10_000,
      });
    });
  for (let i = 1; ; i++) {
    const r = await attempt();
    if (r.ok || !/client-socket|client-timeout|timeout/.test(r.detail) || i === 5) return r;
    await new Promise((res) => setTimeout(res, 500));
  }
}

test.before(async () => {
  lab = await startLab({ count: 1, prefix: 'hs' });
  h = lab.hosts[0].name;
  keyDir = mkdtempSync(path.join(os.tmpdir(), 'cs-hs-keys-'));
  key2 = path.join(keyDir, 'second');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'second@ctl', '-f', key2]);
});
test.after(async () => {
  await lab?.stop();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

test('first run converges with the new tasks, the second changes nothing; container limits are reported, not claimed', async () => {
  // a /tmp that lost nosuid (nspawn mounts it nosuid,nodev): the role must put it back
  await sh('mount -o remount,suid /tmp');
  assert.not.match(await sh('findmnt -n -o OPTIONS --mountpoint /tmp'), /nosuid/);
  const inv = await inventory();
  const warnings: string[] = [];
  const first = await converge(inv, warnings);
  assert.equal(failures(first), []);
  const second = await converge(inv);
  assert.equal(failures(second), []);
  const changed = second.hosts[0].tasks.filter((t) => t.outcome === 'changed').map((t) => t.task);
  assert.equal(changed, [], 'second run changes nothing');
  // container: said, not claimed
  const apparmor = taskReport(second, /AppArmor enabled/)!;
  assert.is(apparmor.outcome, 'skipped');
  assert.match(apparmor.message ?? '', /inside a systemd-nspawn container AppArmor cannot be enabled/);
  const auditd = taskReport(second, /auditd running/)!;
  assert.is(auditd.outcome, 'skipped');
  assert.match(auditd.message ?? '', /auditd cannot run/);
  assert.ok(
    warnings.some((w) => /kernel\.core_pattern=\|\/bin\/false cannot be applied inside a systemd-nspawn container/.test(w)),
    warnings.join('\n'),
  );
});

test('files and settings a container can show: auditd rules and rotation, core dump limits, cron, /tmp, packages', async () => {
  assert.match(await sh('cat /etc/audit/rules.d/60-clusterseed.rules'), /-w \/etc\/sudoers -p wa -k sudoers/);
  assert.match(await sh('cat /etc/audit/auditd.conf'), /^max_log_file = 4$/m);
  assert.match(await sh('cat /etc/audit/auditd.conf'), /^num_logs = 3$/m);
  assert.is(await sh("dpkg-query -W -f='${Status}' apparmor auditd"), 'install ok installedinstall ok installed');
  // systemd re-read system.conf.d: services started from now on get no core dumps
  assert.is(await sh('systemctl show -p DefaultLimitCORE'), 'DefaultLimitCORE=0');
  assert.match(await sh('cat /etc/sysctl.d/zz-clusterseed-coredump.conf'), /^kernel\.core_pattern = \|\/bin\/false$/m);
  assert.match(await sh('cat /etc/systemd/coredump.conf.d/60-clusterseed.conf'), /^Storage=none$/m);
  // a login session (PAM reads limits.d) gets a hard core limit of 0
  assert.is(await sh("su - admin -c 'ulimit -H -c'"), '0');
  // /tmp has nosuid again, live
  assert.match(await sh('findmnt -n -o OPTIONS --mountpoint /tmp'), /(^|,)nosuid(,|$)/);
  // cron: the root-only modes, and cron.allow really decides who may use crontab
  assert.is(await sh('stat -c %a /etc/crontab /etc/cron.d /etc/cron.daily | tr "\\n" " "'), '600 700 700');
  assert.is(await sh("grep -v '^#' /etc/cron.allow | tr '\\n' ' '"), 'root admin');
  assert.match((await lab.sh(h, "su -s /bin/sh operator -c 'crontab -l' 2>&1")).stdout, /not allowed/);
  assert.not.match((await lab.sh(h, "su -s /bin/sh admin -c 'crontab -l' 2>&1")).stdout, /not allowed/);
});

test('sshd: AllowGroups sudo and MaxStartups in force; a user outside sudo is refused, the admin gets in', async () => {
  const eff = await sh('sshd -T -C user=admin,host=x,addr=10.0.0.1');
  assert.match(eff, /^allowgroups sudo$/m);
  assert.match(eff, /^maxstartups 10:30:60$/m);
  await sh(
    `id outsider >/dev/null 2>&1 || useradd -m -s /bin/bash outsider; usermod -p '*' outsider; install -d -m 700 -o outsider -g outsider /home/outsider/.ssh; install -m 600 -o outsider -g outsider /home/admin/.ssh/authorized_keys /home/outsider/.ssh/authorized_keys`,
  );
  const refused = await login('outsider', lab.keyPath);
  assert.is(refused.ok, false, refused.detail);
  assert.ok((await login('admin', lab.keyPath)).ok);
  // the same user in sudo gets in: it was AllowGroups that kept it out
  await sh('usermod -aG sudo outsider');
  assert.ok((await login('outsider', lab.keyPath)).ok);
});

test('an AllowGroups that would lock out the login user is refused before sshd is touched', async () => {
  const before = await sh('sha256sum /etc/ssh/sshd_config.d/00-clusterseed-harden.conf');
  const report = await converge(await inventory({ harden: { sshd: { allow_groups: ['wheel'] } } }));
  assert.match(
    failures(report).join('\n'),
    /allow_groups \(wheel\) would lock out admin \(groups: [^)]*sudo[^)]*\), whom clusterseed logs in as/,
  );
  assert.is(await sh('sha256sum /etc/ssh/sshd_config.d/00-clusterseed-harden.conf'), before);
  assert.ok((await login('admin', lab.keyPath)).ok);
});

test('an admin key leaves authorized_keys when it leaves the inventory; the login key is never removed', async () => {
  const labPub = readFileSync(`${lab.keyPath}.pub`, 'utf8').trim();
  const pub2 = readFileSync(`${key2}.pub`, 'utf8').trim();
  const both = await converge(await inventory({ base: { admin_keys: [labPub, pub2] } }));
  assert.equal(failures(both), []);
  assert.ok((await login('admin', key2)).ok, 'the added key logs in');
  assert.match(
    await sh('cat /home/admin/.ssh/authorized_keys'),
    new RegExp(`${MANAGED_KEY_MARK.replace(/[()]/g, '\\$&')}\\n${pub2.split(' ')[0]} ${pub2.split(' ')[1].replace(/[+/]/g, '\\$&')}`),
  );
  const one = await converge(await inventory({ base: { admin_keys: [labPub] } }));
  assert.equal(failures(one), []);
  assert.not.match(await sh('cat /home/admin/.ssh/authorized_keys'), pub2.split(' ')[1]);
  assert.not.match(await sh('cat /home/admin/.ssh/authorized_keys'), /clusterseed: admin key/);
  const gone = await login('admin', key2);
  assert.is(gone.ok, false, 'the removed key no longer logs in');
  assert.ok((await login('admin', lab.keyPath)).ok);
  // exactly key2, which would drop the key this run logs in with: refused, file untouched
  const before = await sh('sha256sum /home/admin/.ssh/authorized_keys');
  const refused = await converge(await inventory({ base: { admin_keys: [pub2], admin_keys_exclusive: true } }));
  assert.match(failures(refused).join('\n'), /refusing to remove the key clusterseed logs in with/);
  assert.is(await sh('sha256sum /home/admin/.ssh/authorized_keys'), before);
});

test.run();
