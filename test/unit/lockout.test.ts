// Issue 20 point 3, the pure side: who a login-affecting change must leave able to log in, the
// prove-or-roll-back step, the keys the control machine logs in with (ssh_key, ssh-agent), and the
// admin_keys_exclusive refusal before any host is touched. The real-host side: test/faults/lockout.test.ts.
import { test } from '../support/uvu.ts';
import { writeKeyPair } from '../support/ssh-keys.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HostSpec } from '../../lib/inventory/model.ts';
import type { Change, HostContext, PlanResult } from '../../lib/runner/types.ts';
import type { ExecOptions, ExecResult, Transport, UploadOptions } from '../../lib/ssh/types.ts';
import { deepMerge } from '../../lib/runner/merge.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import { loginChecks, proveOrRollBack, type FreshLogin } from '../../lib/blocks/login-proof.ts';
import { privateKeyIdentity } from '../../lib/ssh/identities.ts';
import { authorizedKeysTask, sudoersContent, sudoersTask, SUDOERS_FILE, type AdminSpec } from '../../roles/base/admin.ts';
import { adminKeysLockoutProblems } from '../../roles/base/login-keys.ts';
import { baseDefaults } from '../../roles/base/index.ts';
import { hardenDefaults } from '../../roles/harden/index.ts';
import { reloadSshdHandler } from '../../roles/harden/sshd-tasks.ts';
import { sshdLoginChecks } from '../../roles/harden/verify.ts';
import { rulesetTask } from '../../roles/harden/firewall-tasks.ts';
import { writeInventoryFile } from '../harness/inventory.ts';
import { probed } from '../support/probe-state.ts';
import { emptyInventory, hostN1, quiet } from '../support/host-context.ts';

delete process.env.SSH_AUTH_SOCK; // the agent is passed in explicitly where a test wants one

const host = (over: Partial<HostSpec> = {}): HostSpec => hostN1({ address: '192.0.2.10', user: 'admin', ...over });
const inventory = emptyInventory;

/** Answers exec() with success (or what `answer` says) and records scripts and uploads. */
class ScriptedTransport implements Transport {
  roundTrips = 0;
  readonly scripts: string[] = [];
  readonly uploads: { path: string; content: string; opts?: UploadOptions }[] = [];
  constructor(
    readonly host: HostSpec,
    private readonly answer: (script: string) => Partial<ExecResult> = () => ({}),
  ) {}
  async connect() {}
  async exec(script: string, _opts?: ExecOptions): Promise<ExecResult> {
    this.scripts.push(script);
    return { code: 0, stdout: '', stderr: '', ...this.answer(script) };
  }
  async upload(p: string, content: string | Buffer, opts?: UploadOptions) {
    this.uploads.push({ path: p, content: content.toString(), opts });
  }
  async download(): Promise<Buffer> {
    return Buffer.from('');
  }
  async reconnect() {}
  async close() {}
}

function ctx(conn: Transport, over: Partial<HostContext> = {}): HostContext {
  return {
    host: conn.host,
    inventory: inventory(),
    conn,
    vars: deepMerge(hardenDefaults, {}),
    options: { check: false, diff: false, verbosity: 0 },
    facts: { sshdVersion: '9.2' } as HostContext['facts'],
    shared: new Map(),
    log: quiet,
    peers: new Map(),
    ...over,
  } as HostContext;
}

/** A freshLogin that records who it was asked for and refuses the users in `locked`. */
function recorder(locked: string[] = []): { calls: string[]; login: FreshLogin } {
  const calls: string[] = [];
  return {
    calls,
    login: async (_c, user, opts) => {
      calls.push(`${user}${opts?.sudo ? '+sudo' : ''}`);
      if (locked.includes(user))
        throw new Error(`no fresh SSH login as ${user}@192.0.2.10:22 after 3 attempt(s): All configured authentication methods failed`);
    },
  };
}

const isChange = (x: PlanResult): x is Change => !!x && 'apply' in x;

function keyPair(dir: string, name: string): { file: string; pub: string; id: string } {
  const file = path.join(dir, name);
  writeKeyPair(file, { comment: `${name}@test` });
  const pub = readFileSync(`${file}.pub`, 'utf8').trim();
  return { file, pub, id: pub.split(' ').slice(0, 2).join(' ') };
}

// ---- who must still log in ---------------------------------------------------------------------

test('the logins to prove: the connecting user with its sudo first, then verify_user once; root needs no sudo', () => {
  assert.equal(loginChecks({ host: host() }, ['operator']), [
    { user: 'admin', sudo: true },
    { user: 'operator', sudo: false },
  ]);
  assert.equal(loginChecks({ host: host() }, ['admin', '']), [{ user: 'admin', sudo: true }], 'the same user once, empty names ignored');
  assert.equal(loginChecks({ host: host({ user: 'root' }) }), [{ user: 'root', sudo: false }]);
  assert.equal(loginChecks({ host: host({ become: false }) }), [{ user: 'admin', sudo: false }], 'a run without become proves no sudo');
});

test('sshd: root logging in while the new config turns root off on purpose proves the admin user (with sudo) instead', () => {
  const c = ctx(new ScriptedTransport(host({ user: 'root' })));
  assert.equal(sshdLoginChecks(c, 'admin'), [{ user: 'admin', sudo: true }]);
  const keepsRoot = ctx(new ScriptedTransport(host({ user: 'root' })), {
    vars: deepMerge(hardenDefaults, { sshd: { settings: { PermitRootLogin: 'prohibit-password' } } }),
  });
  assert.equal(sshdLoginChecks(keepsRoot, 'admin'), [
    { user: 'root', sudo: false },
    { user: 'admin', sudo: false },
  ]);
  assert.equal(sshdLoginChecks(ctx(new ScriptedTransport(host())), 'operator'), [
    { user: 'admin', sudo: true },
    { user: 'operator', sudo: false },
  ]);
});

test('reload sshd proves the connecting user, not only verify_user; a lockout of the connecting user rolls back', async () => {
  const ok = recorder();
  await reloadSshdHandler(() => 'operator', ok.login).run(ctx(new ScriptedTransport(host())));
  assert.equal(ok.calls, ['admin+sudo', 'operator']);

  const conn = new ScriptedTransport(host());
  const locked = recorder(['admin']);
  try {
    await reloadSshdHandler(() => 'operator', locked.login).run(ctx(conn));
    assert.unreachable('a locked-out connecting user must fail the handler');
  } catch (err) {
    assert.match((err as Error).message, /after reloading the hardened configuration, no fresh SSH login as admin@192\.0\.2\.10:22/);
    assert.match((err as Error).message, /the previous sshd configuration was restored and sshd reloaded/);
  }
  assert.equal(locked.calls, ['admin+sudo'], 'verify_user alone never vouches');
  assert.match(conn.scripts[1], /sshd-rollback[\s\S]*reload-or-restart ssh\.service/);
});

test('firewall: the ruleset is proven by the connecting user (with sudo) and verify_user; either one shut out rolls it back', async () => {
  const ok = recorder();
  const task = rulesetTask('table inet clusterseed\n', 'policy drop', 90, ok.login, ['operator']);
  const conn = new ScriptedTransport(host());
  const change = await task.plan(probed(task, 'missing\n'), ctx(conn));
  assert.ok(isChange(change));
  await change.apply(ctx(conn));
  assert.equal(ok.calls, ['admin+sudo', 'operator']);

  const locked = recorder(['operator']);
  const task2 = rulesetTask('table inet clusterseed\n', 'policy drop', 90, locked.login, ['operator']);
  const conn2 = new ScriptedTransport(host());
  const change2 = await task2.plan(probed(task2, 'missing\n'), ctx(conn2));
  assert.ok(isChange(change2));
  await change2.apply(ctx(conn2)).then(
    () => assert.unreachable(),
    (e: Error) =>
      assert.match(
        e.message,
        /^firewall: after applying the ruleset, no fresh SSH login as operator@.*; the previous ruleset was restored/,
      ),
  );
  assert.match(conn2.scripts[conn2.scripts.length - 1], /firewall-rollback\.sh/);
});

test('proveOrRollBack: nothing rolled back when every login works; otherwise the rollback runs and the message says how it went', async () => {
  const c = ctx(new ScriptedTransport(host()));
  let rolledBack = 0;
  const rollback = async () => {
    rolledBack++;
    return 'the previous file was restored';
  };
  await proveOrRollBack(c, { what: 'x: after y', freshLogin: recorder().login, checks: loginChecks(c), rollback });
  assert.is(rolledBack, 0);
  try {
    await proveOrRollBack(c, { what: 'x: after y', freshLogin: recorder(['admin']).login, checks: loginChecks(c), rollback });
    assert.unreachable();
  } catch (err) {
    assert.match(
      (err as Error).message,
      /^x: after y, no fresh SSH login as admin@.*; the previous file was restored\. This run's own connection was kept\.$/,
    );
  }
  assert.is(rolledBack, 1);
  try {
    await proveOrRollBack(c, {
      what: 'x: after y',
      freshLogin: recorder(['admin']).login,
      checks: loginChecks(c),
      rollback: async () => {
        throw new Error('disk full');
      },
    });
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /; rolling back FAILED too: disk full\./);
  }
});

// ---- authorized_keys and sudo ------------------------------------------------------------------

const ED_OTHER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhxZGhtZ2xqb3RqbmJpbXZnYWh0c2JjaGRlZmdoaWpr other@elsewhere';
const keysState = (content: string | undefined) => ({
  stdout: content === undefined ? 'home=/home/admin\nabsent\n' : `home=/home/admin\npresent\n${Buffer.from(content).toString('base64')}\n`,
  code: 0,
});

test('authorized_keys: exclusive keys without one the control machine holds are refused, even when the file has none of them either', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-lockout-'));
  try {
    const login = keyPair(dir, 'id_login');
    const spec: AdminSpec = {
      user: 'admin',
      groups: [],
      keys: [ED_OTHER],
      exclusive: true,
      revoked: [],
      sudo: 'nopasswd',
      loginKey: login.id,
      loginUser: true,
    };
    const c = ctx(new ScriptedTransport(host({ sshKey: login.file })));
    // the file lets the run in some other way (e.g. a key elsewhere): still refused, it is the key set that is wrong
    const err = await Promise.resolve(
      authorizedKeysTask(spec, recorder().login).plan(
        keysState('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZvcmVpZ25rZXlmb3JlaWdua2V5Zm9yZWlnbmtleWZvcmVp x\n'),
        c,
      ),
    ).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err, 'refused');
    assert.match(
      err!.message,
      /^\/inv\/inventory\.yaml: host n1: vars\.base\.admin_keys_exclusive is true, but none of vars\.base\.admin_keys is a key the control machine logs in to admin with/,
    );
    assert.ok(err!.message.includes(`ssh_key ${login.file}`), err!.message);
    // the same set plus the login key: accepted
    assert.ok(
      isChange(await authorizedKeysTask({ ...spec, keys: [ED_OTHER, login.pub] }, recorder().login).plan(keysState(`${login.pub}\n`), c)),
    );
    // the admin user is not the login user: its keys are its own business
    assert.ok(
      isChange(
        await authorizedKeysTask({ ...spec, loginKey: undefined, loginUser: false }, recorder().login).plan(keysState(`${login.pub}\n`), c),
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('authorized_keys: written, then a fresh login as the connecting user; if it fails the previous file is put back', async () => {
  const before = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZvcmVpZ25rZXlmb3JlaWdua2V5Zm9yZWlnbmtleWZvcmVp before\n';
  const spec: AdminSpec = { user: 'admin', groups: [], keys: [ED_OTHER], exclusive: true, revoked: [], sudo: 'nopasswd' };
  const conn = new ScriptedTransport(host(), (s) => (s.startsWith('id -gn') ? { stdout: 'admin\n' } : {}));
  const c = ctx(conn);
  const locked = recorder(['admin']);
  const change = await authorizedKeysTask(spec, locked.login).plan(keysState(before), c);
  assert.ok(isChange(change));
  try {
    await change.apply(c);
    assert.unreachable();
  } catch (err) {
    assert.match(
      (err as Error).message,
      /^authorized_keys: after writing \/home\/admin\/\.ssh\/authorized_keys, no fresh SSH login as admin@.*; the previous \/home\/admin\/\.ssh\/authorized_keys was restored/,
    );
  }
  assert.equal(locked.calls, ['admin+sudo']);
  assert.equal(
    conn.uploads.map((u) => [u.path, u.content, u.opts?.mode, u.opts?.owner]),
    [
      ['/home/admin/.ssh/authorized_keys', `${ED_OTHER}\n`, 0o600, 'admin'],
      ['/home/admin/.ssh/authorized_keys', before, 0o600, 'admin'],
    ],
  );

  // no file before: removed again
  const fresh = new ScriptedTransport(host(), (s) => (s.startsWith('id -gn') ? { stdout: 'admin\n' } : {}));
  const created = await authorizedKeysTask(spec, recorder(['admin']).login).plan(keysState(undefined), ctx(fresh));
  assert.ok(isChange(created));
  await created.apply(ctx(fresh)).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /was removed again \(there was none before\)/),
  );
  assert.match(fresh.scripts[fresh.scripts.length - 1], /^rm -f '?\/home\/admin\/\.ssh\/authorized_keys'?$/);

  // verify_user = the admin user (not the connecting one): its login is proven too
  const root = new ScriptedTransport(host({ user: 'root', vars: { harden: { sshd: { verify_user: 'admin' } } } }), (s) =>
    s.startsWith('id -gn') ? { stdout: 'admin\n' } : {},
  );
  const both = recorder();
  const ch = await authorizedKeysTask(spec, both.login).plan(keysState(before), ctx(root));
  assert.ok(isChange(ch));
  await ch.apply(ctx(root));
  assert.equal(both.calls, ['root', 'admin']);
});

test('sudo: removing or rewriting the drop-in is followed by sudo over a fresh login; a failure restores the previous drop-in', async () => {
  const previous = sudoersContent('admin', 'nopasswd');
  const spec: AdminSpec = { user: 'admin', groups: [], keys: [], exclusive: false, revoked: [], sudo: 'none' };
  const task = sudoersTask(spec, recorder(['admin']).login);
  const conn = new ScriptedTransport(host());
  const c = ctx(conn);
  const removal = await task.plan(probed(task, 'visudo=yes\n', { [SUDOERS_FILE]: previous }, { mode: '0440' }), c);
  assert.ok(isChange(removal));
  await removal.apply(c).then(
    () => assert.unreachable(),
    (e: Error) =>
      assert.match(
        e.message,
        /^sudo: after removing \/etc\/sudoers\.d\/50-clusterseed-admin, no fresh SSH login as admin@.*; the previous \/etc\/sudoers\.d\/50-clusterseed-admin was restored/,
      ),
  );
  assert.equal(
    conn.uploads.map((u) => [u.path, u.content, u.opts?.mode, u.opts?.owner]),
    [[SUDOERS_FILE, previous, 0o440, 'root']],
  );

  // password mode where there was no drop-in: removed again
  const pw = sudoersTask({ ...spec, sudo: 'password' }, recorder(['admin']).login);
  const conn2 = new ScriptedTransport(host());
  const ch = await pw.plan(probed(pw, 'visudo=yes\n'), ctx(conn2));
  assert.ok(isChange(ch));
  await ch.apply(ctx(conn2)).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /50-clusterseed-admin was removed again \(there was none before\)/),
  );
  assert.match(conn2.scripts[conn2.scripts.length - 1], /^rm -f \/etc\/sudoers\.d\/50-clusterseed-admin$/);

  // sudo still works: nothing rolled back
  const fine = recorder();
  const ok = sudoersTask(spec, fine.login);
  const conn3 = new ScriptedTransport(host());
  const rm = await ok.plan(probed(ok, 'visudo=yes\n', { [SUDOERS_FILE]: previous }, { mode: '0440' }), ctx(conn3));
  assert.ok(isChange(rm));
  await rm.apply(ctx(conn3));
  assert.equal(fine.calls, ['admin+sudo']);
  assert.equal(conn3.uploads, []);
});

// ---- the control machine's keys, and the refusal before any host is touched -------------------------

test('the key a private key file logs in with comes from the key itself, not from a stale .pub beside it', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-lockout-'));
  try {
    const a = keyPair(dir, 'a');
    const b = keyPair(dir, 'b');
    assert.is(privateKeyIdentity(a.file), a.id);
    writeFileSync(`${a.file}.pub`, `${b.pub}\n`); // stale: another key's public half
    assert.is(privateKeyIdentity(a.file), a.id);
    // a key with a passphrase: only its .pub can tell
    const c = path.join(dir, 'c');
    writeKeyPair(c, { passphrase: 'secret-pass', comment: 'c@test' });
    assert.is(privateKeyIdentity(c), readFileSync(`${c}.pub`, 'utf8').split(' ').slice(0, 2).join(' '));
    rmSync(`${c}.pub`);
    assert.is(privateKeyIdentity(c), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("admin_keys_exclusive without a key the control machine holds: an inventory error at the admin_keys line; the agent's keys count", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-lockout-'));
  try {
    const login = keyPair(dir, 'id_login');
    const other = keyPair(dir, 'other');
    const known = path.join(dir, 'known_hosts');
    writeFileSync(known, '');
    const write = (vars: Record<string, unknown>, user = 'admin') =>
      writeInventoryFile(
        path.join(dir, 'inventory.yaml'),
        [
          { name: 'n1', address: '192.0.2.10', port: 22 },
          { name: 'n2', address: '192.0.2.11', port: 22 },
        ],
        { keyPath: login.file, knownHostsFile: known },
        { user, extra: { hosts: { n2: { vars } } } },
      );
    const inv = await loadInventory(write({ base: { admin_keys: [other.pub], admin_keys_exclusive: true } }));
    const problems = await adminKeysLockoutProblems(inv, baseDefaults, []);
    assert.is(problems.length, 1, 'only n2 sets exclusive keys');
    assert.equal(problems[0].path, ['hosts', 'n2', 'vars', 'base', 'admin_keys']);
    assert.match(
      problems[0].message,
      /^host n2: vars\.base\.admin_keys_exclusive is true, but none of vars\.base\.admin_keys is a key the control machine logs in to admin with \(ssh_key .*id_login \(ssh-ed25519 /,
    );
    assert.is(
      (await adminKeysLockoutProblems(inv, baseDefaults, [other.id])).length,
      1,
      'agent keys count only when an agent is configured',
    );
    process.env.SSH_AUTH_SOCK = path.join(dir, 'agent.sock');
    try {
      assert.equal(await adminKeysLockoutProblems(inv, baseDefaults, [other.id]), [], 'ssh-agent holds the key');
    } finally {
      delete process.env.SSH_AUTH_SOCK;
    }
    // the login key among them, not exclusive, or another admin user than the login user: fine
    assert.equal(
      await adminKeysLockoutProblems(
        await loadInventory(write({ base: { admin_keys: [other.pub, login.pub], admin_keys_exclusive: true } })),
        baseDefaults,
        [],
      ),
      [],
    );
    assert.equal(await adminKeysLockoutProblems(await loadInventory(write({ base: { admin_keys: [other.pub] } })), baseDefaults, []), []);
    assert.equal(
      await adminKeysLockoutProblems(
        await loadInventory(write({ base: { admin_keys: [other.pub], admin_keys_exclusive: true, admin_user: 'ops' } })),
        baseDefaults,
        [],
      ),
      [],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
