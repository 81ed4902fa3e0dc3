// Issue 20 point 3, on a real host (nspawn container, real sshd and sudo), through the site command
// itself (exit codes as an operator sees them): lockout-prone inventories are refused before the
// host is touched, or rolled back with exit 2 — never a host the next run cannot log in to.
//   1. admin_keys_exclusive with a key the control machine does not hold: exit 1, nothing touched;
//   2. the same key held by ssh-agent: accepted, written, proven by a fresh login through the agent;
//      held by an agent that will not sign with it: written, the login fails, the old file is back;
//   3. sudo: a sudoers change that leaves the connecting user without sudo is put back, exit 2
//      (sudo -n as admin, and sudo with the password of operator through become_password_env);
//   4. sshd.verify_user = another user while the settings shut out the connecting user (DenyUsers):
//      the proof as the connecting user fails, the previous sshd configuration is back, exit 2;
//      the next run without the bad setting converges and both users still log in.
// Each assertion checks the host afterwards with a fresh ssh2 login made by the test itself.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';
import { startLab, type TestLab } from '../harness/hosts.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SITE = path.join(ROOT, 'scripts', 'site.mjs');
const DROPIN = '/etc/ssh/sshd_config.d/00-clusterseed-harden.conf';
const SUDOERS = '/etc/sudoers.d/50-clusterseed-admin';
const AUTH_KEYS = '/home/admin/.ssh/authorized_keys';
const STEP_MS = 150_000;

let lab: TestLab;
let h: string;
let tmp: string;
let key2: string; // a key the control machine does not hold (unless put into the agent)
let pub2: string;
let agent: { sock: string; pid: string } | undefined;

// small roles: what the scenarios need, without the packages of every hardening feature
const BASE = { time_sync: { enabled: false }, unattended_upgrades: { enabled: false } };
const HARDEN = {
  firewall: { enabled: false },
  auditd: { enabled: false },
  apparmor: { enabled: false },
  cron: { restrict: false },
  tmp_mount: { options: [] },
};

function inventory(vars: { base?: object; harden?: object } = {}): string {
  return lab.writeInventory({ servers: [h], extra: { vars: { base: { ...BASE, ...vars.base }, harden: { ...HARDEN, ...vars.harden } } } });
}

interface SiteRun {
  code: number;
  out: string;
  /** per-task outcomes from --json, when the run got that far */
  tasks: { role: string; task: string; outcome: string; message?: string }[];
}

/** The site command in a child process, as an operator runs it; bounded by STEP_MS. */
function site(inv: string, tags: string, env: NodeJS.ProcessEnv = {}): Promise<SiteRun> {
  const json = path.join(tmp, `run-${Date.now()}.json`);
  const childEnv = { ...process.env, ...env };
  if (!env.SSH_AUTH_SOCK) delete childEnv.SSH_AUTH_SOCK;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SITE, '-i', inv, '--tags', tags, '--skip-push', '--json', json],
      { cwd: ROOT, env: childEnv, timeout: STEP_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        const tasks = existsSync(json) ? (JSON.parse(readFileSync(json, 'utf8')).hosts?.[0]?.tasks ?? []) : [];
        resolve({ code, out: stdout + stderr, tasks });
      },
    );
  });
}

const sh = async (cmd: string) => (await lab.sh(h, cmd)).stdout.trim();

/** A fresh SSH login made by the test (not by clusterseed) running `cmd`; retried briefly after a reload. */
async function login(
  user: string,
  opts: { key?: string; agentSock?: string; cmd?: string; input?: string } = {},
): Promise<{ ok: boolean; out: string }> {
  const attempt = () =>
    new Promise<{ ok: boolean; out: string; transient: boolean }>((resolve) => {
      const client = new ssh2.Client();
      let out = '';
      const done = (ok: boolean, detail: string, transient = false) => {
        clearTimeout(timer);
        client.end();
        resolve({ ok, out: detail, transient });
      };
      const timer = setTimeout(() => done(false, 'timeout', true), 15_000);
      client.on('ready', () => {
        client.exec(opts.cmd ?? 'id -un', (err, stream) => {
          if (err) return done(false, err.message);
          stream.on('data', (d: Buffer) => (out += d));
          stream.stderr.on('data', (d: Buffer) => (out += d));
          stream.on('close', (code: number) => done(code === 0, out.trim()));
          stream.end(opts.input ?? '');
        });
      });
      client.on('error', (err) => done(false, err.message, (err as { level?: string }).level !== 'client-authentication'));
      client.connect({
        host: lab.hosts[0].address,
        port: 22,
        username: user,
        readyTimeout: 10_000,
        hostVerifier: () => true,
        ...(opts.agentSock ? { agent: opts.agentSock } : { privateKey: readFileSync(opts.key ?? lab.keyPath) }),
      });
    });
  for (let i = 1; ; i++) {
    const r = await attempt();
    if (r.ok || !r.transient || i === 4) return { ok: r.ok, out: r.out };
    await new Promise((res) => setTimeout(res, 700));
  }
}

/** sshd's own record of logins: how the test knows whether a run reached the host at all */
const acceptedLogins = async () => Number(await sh("journalctl -q --no-pager _COMM=sshd | grep -c 'Accepted publickey' || true"));

test.before(async () => {
  lab = await startLab({ count: 1, prefix: 'lk' });
  h = lab.hosts[0].name;
  tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-lockout-'));
  key2 = path.join(tmp, 'not-held');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'not-held@elsewhere', '-f', key2]);
  pub2 = readFileSync(`${key2}.pub`, 'utf8').trim();
});

test.after(async () => {
  if (agent) {
    try {
      process.kill(Number(agent.pid));
    } catch {
      // already gone
    }
  }
  await lab?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('admin_keys_exclusive with a key the control machine does not hold: exit 1 before the host is touched', async () => {
  const before = await sh(`sha256sum ${AUTH_KEYS}`);
  const logins = await acceptedLogins();
  const inv = inventory({ base: { admin_keys: [pub2], admin_keys_exclusive: true } });
  const r = await site(inv, 'base');
  assert.is(r.code, 1, r.out);
  // names the inventory file, the field, the user and the key the run logs in with
  assert.match(r.out, new RegExp(`${inv.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+`));
  assert.match(
    r.out,
    /admin_keys_exclusive is true, but none of vars\.base\.admin_keys is a key the control machine logs in to admin with/,
  );
  assert.ok(r.out.includes(`ssh_key ${lab.keyPath}`), r.out);
  assert.not.match(r.out, /^\s+at /m, 'no stack trace');
  assert.not.match(r.out, /changed:/);
  // nothing touched: no login reached sshd, the file is as it was, the key still logs in
  assert.is(await acceptedLogins(), logins, 'the run did not even log in');
  assert.is(await sh(`sha256sum ${AUTH_KEYS}`), before);
  const me = await login('admin');
  assert.ok(me.ok, me.out);
  assert.is(me.out, 'admin');
});

test('the same key held by ssh-agent is a key the control machine logs in with: written, proven through the agent, exit 0', async () => {
  const out = execFileSync('ssh-agent', ['-s', '-a', path.join(tmp, 'agent.sock')], { encoding: 'utf8', timeout: 10_000 });
  agent = { sock: /SSH_AUTH_SOCK=([^;]+);/.exec(out)![1], pid: /SSH_AGENT_PID=(\d+);/.exec(out)![1] };
  execFileSync('ssh-add', ['-q', key2], { env: { ...process.env, SSH_AUTH_SOCK: agent.sock }, timeout: 10_000 });
  const r = await site(inventory({ base: { admin_keys: [pub2], admin_keys_exclusive: true } }), 'base', { SSH_AUTH_SOCK: agent.sock });
  assert.is(r.code, 0, r.out);
  const keysTask = r.tasks.find((t) => /authorized keys of admin/.test(t.task));
  assert.is(keysTask?.outcome, 'changed', JSON.stringify(r.tasks));
  // exactly the inventory's key now: the lab key is out, the agent's key logs in
  assert.is(await sh(`cat ${AUTH_KEYS}`), pub2);
  assert.is((await login('admin')).ok, false, 'the old key was replaced');
  assert.ok((await login('admin', { agentSock: agent.sock })).ok);
  // back to the lab key for the next scenarios (as an operator would: by hand)
  await sh(`install -m 0600 -o admin -g admin /root/.ssh/authorized_keys ${AUTH_KEYS}`);
  assert.ok((await login('admin')).ok);
});

test('authorized_keys written, but the login it promised fails (agent key that needs a confirmation nobody gives): the previous file is back, exit 2', async () => {
  // the agent lists key2 (so the key set passes the check before the run), but will not sign with it:
  // `ssh-add -c` asks for a confirmation through ssh-askpass, which this machine does not have
  const sock = path.join(tmp, 'agent-confirm.sock');
  const out = execFileSync('ssh-agent', ['-s', '-a', sock], { encoding: 'utf8', timeout: 10_000 });
  const pid = /SSH_AGENT_PID=(\d+);/.exec(out)![1];
  try {
    execFileSync('ssh-add', ['-q', '-c', key2], {
      env: { ...process.env, SSH_AUTH_SOCK: sock, SSH_ASKPASS: '/nonexistent', DISPLAY: '' },
      timeout: 10_000,
    });
    const before = await sh(`sha256sum ${AUTH_KEYS}`);
    const r = await site(inventory({ base: { admin_keys: [pub2], admin_keys_exclusive: true } }), 'base', {
      SSH_AUTH_SOCK: sock,
      SSH_ASKPASS: '/nonexistent',
    });
    assert.is(r.code, 2, r.out);
    const keysTask = r.tasks.find((t) => /authorized keys of admin/.test(t.task));
    assert.is(keysTask?.outcome, 'failed', JSON.stringify(r.tasks));
    assert.match(
      keysTask?.message ?? '',
      /^authorized_keys: after writing \/home\/admin\/\.ssh\/authorized_keys, no fresh SSH login as admin@/,
    );
    assert.match(keysTask?.message ?? '', /the previous \/home\/admin\/\.ssh\/authorized_keys was restored/);
    // the host: the file from before, the run's key logs in
    assert.is(await sh(`sha256sum ${AUTH_KEYS}`), before);
    assert.is(await sh(`stat -c '%a %U' ${AUTH_KEYS}`), '600 admin');
    const me = await login('admin');
    assert.ok(me.ok, me.out);
  } finally {
    try {
      process.kill(Number(pid));
    } catch {
      // already gone
    }
  }
});

test('sudo: a sudoers change that leaves the connecting user without sudo is put back, exit 2', async () => {
  // clusterseed's drop-in is the only grant admin has (the lab's own NOPASSWD file is gone)
  const granted = await sh(`cat ${SUDOERS}`);
  assert.match(granted, /^admin ALL=\(ALL:ALL\) NOPASSWD: ALL$/m);
  await sh('rm -f /etc/sudoers.d/90-admin-nopasswd');
  const r = await site(inventory({ base: { admin_sudo: 'none' } }), 'base');
  assert.is(r.code, 2, r.out);
  const sudoTask = r.tasks.find((t) => /^sudo for admin/.test(t.task));
  assert.is(sudoTask?.outcome, 'failed', JSON.stringify(r.tasks));
  assert.match(
    sudoTask?.message ?? '',
    /sudo: after removing \/etc\/sudoers\.d\/50-clusterseed-admin, a fresh SSH login as admin worked, but sudo as the run uses it did not/,
  );
  assert.match(sudoTask?.message ?? '', /the previous \/etc\/sudoers\.d\/50-clusterseed-admin was restored/);
  // the host: the grant is back, byte for byte and 0440 root, and a fresh login as admin can sudo
  assert.is(await sh(`cat ${SUDOERS}`), granted);
  assert.is(await sh(`stat -c '%a %U' ${SUDOERS}`), '440 root');
  const su = await login('admin', { cmd: 'sudo -n id -u' });
  assert.ok(su.ok, su.out);
  assert.is(su.out, '0');
});

test('sudo with a password (become_password_env): proven with the password; a change that leaves the connecting user without sudo is put back, exit 2', async () => {
  const env = { CS_OPERATOR_PW: lab.operatorPassword };
  const asOperator = (base: object) =>
    lab.writeInventory({
      servers: [h],
      user: 'operator',
      extra: {
        defaults: { become_password_env: 'CS_OPERATOR_PW' },
        vars: { base: { ...BASE, admin_user: 'operator', admin_groups: [], ...base }, harden: HARDEN },
      },
    });
  await sh(`cp -p ${SUDOERS} /root/sudoers.saved`);
  try {
    // operator (sudo with its password) gets clusterseed's drop-in; the proof's sudo used the password
    const first = await site(asOperator({ admin_sudo: 'password' }), 'base', env);
    assert.is(first.code, 0, first.out);
    assert.is(first.tasks.find((t) => /^sudo for operator/.test(t.task))?.outcome, 'changed', JSON.stringify(first.tasks));
    assert.is(await sh(`grep -v '^#' ${SUDOERS}`), 'operator ALL=(ALL:ALL) ALL');
    // now the drop-in is operator's only grant: removing it must not pass
    await sh('gpasswd -d operator sudo >/dev/null');
    const r = await site(asOperator({ admin_sudo: 'none' }), 'base', env);
    assert.is(r.code, 2, r.out);
    const sudoTask = r.tasks.find((t) => /^sudo for operator/.test(t.task));
    assert.match(
      sudoTask?.message ?? '',
      /sudo: after removing \/etc\/sudoers\.d\/50-clusterseed-admin, a fresh SSH login as operator worked, but sudo as the run uses it did not/,
    );
    assert.not.ok(r.out.includes(lab.operatorPassword), 'the password is never printed');
    assert.is(await sh(`grep -v '^#' ${SUDOERS}`), 'operator ALL=(ALL:ALL) ALL');
    const su = await login('operator', { cmd: "sudo -S -p '' id -u", input: `${lab.operatorPassword}\n` });
    assert.ok(su.ok, su.out);
    assert.is(su.out, '0');
  } finally {
    // the next scenario logs in as admin with sudo and needs operator in `sudo` (AllowGroups)
    await sh(`cp -p /root/sudoers.saved ${SUDOERS}; usermod -aG sudo operator`);
  }
});

test('sshd: verify_user is another user while DenyUsers shuts out the connecting user: rolled back, exit 2; the next run converges', async () => {
  const before = await sh(`ls ${DROPIN} 2>/dev/null; sha256sum /etc/ssh/sshd_config`);
  const bad = inventory({ harden: { sshd: { verify_user: 'operator', settings: { DenyUsers: 'admin' } } } });
  const r = await site(bad, 'harden');
  assert.is(r.code, 2, r.out);
  const handler = r.tasks.find((t) => t.task === 'handler: reload sshd');
  assert.is(handler?.outcome, 'failed', JSON.stringify(r.tasks));
  assert.match(handler?.message ?? '', /after reloading the hardened configuration, no fresh SSH login as admin@/);
  assert.match(handler?.message ?? '', /the previous sshd configuration was restored and sshd reloaded/);
  // the host: the configuration from before, live; the connecting user and verify_user both get in
  assert.is(await sh(`ls ${DROPIN} 2>/dev/null; sha256sum /etc/ssh/sshd_config`), before);
  assert.not.match(await sh('sshd -T -C user=admin,host=x,addr=10.0.0.1 | grep -i denyusers || true'), /admin/);
  const admin = await login('admin');
  assert.ok(admin.ok, admin.out);
  assert.ok((await login('operator')).ok);

  // the same inventory without the setting: converges, both logins proven by the run and by us
  const good = await site(inventory({ harden: { sshd: { verify_user: 'operator' } } }), 'harden');
  assert.is(good.code, 0, good.out);
  assert.is(good.tasks.find((t) => t.task === 'handler: reload sshd')?.outcome, 'changed', JSON.stringify(good.tasks));
  assert.match(await sh(`cat ${DROPIN}`), /^PermitRootLogin no$/m);
  assert.ok((await login('admin')).ok);
  assert.ok((await login('operator')).ok);
});

test.run();
