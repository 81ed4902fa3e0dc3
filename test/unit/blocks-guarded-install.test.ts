// lib/blocks/guarded-install.ts on this machine (LocalTransport: real sh, a temp directory as the
// host): a refused candidate installs nothing; a failed proof puts the previous content back, live
// again; a proven one is kept and its rollback copy dropped. lib/blocks/reboot.ts with a fake
// transport: waits for a new boot mark, bounded by its timeout.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HandlerRolledBack, NothingApplied, type HostContext } from '../../lib/runner/types.ts';
import type { ExecResult, Transport } from '../../lib/ssh/types.ts';
import {
  candidatePath,
  guardedCommands,
  guardedInstall,
  installCandidate,
  proveLive,
  validateCandidate,
  VALIDATOR_REFUSED,
  type GuardedInstall,
} from '../../lib/blocks/guarded-install.ts';
import { rebootAndWait } from '../../lib/blocks/reboot.ts';
import { q } from '../../lib/blocks/shell.ts';
import { LocalTransport, localHost } from '../support/local-transport.ts';

const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };

function ctxOn(conn: Transport): HostContext {
  return {
    host: conn.host,
    conn,
    options: { check: false, diff: false, verbosity: 0 },
    log: quiet,
    shared: new Map(),
    peers: new Map(),
    vars: {},
  } as unknown as HostContext;
}

/**
 * A "tool" in a temp directory: `conf` is its installed file, `live` what it runs (copied from
 * conf by makeLive, as a reload would), `prev` the rollback copy. The validator accepts files
 * whose first line is `valid`; a fresh login fails while the live content says `lockout`.
 */
function setup(initial: string | null) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-guarded-'));
  const conf = path.join(dir, 'tool.conf');
  const live = path.join(dir, 'live');
  const prev = path.join(dir, 'prev');
  if (initial !== null) {
    writeFileSync(conf, initial);
    writeFileSync(live, initial);
  }
  const conn = new LocalTransport(localHost());
  const logins: string[] = [];
  const installScript = (candidate: string) =>
    [
      `c=${q(candidate)}; f=${q(conf)}; rb=${q(prev)}`,
      `trap 'rm -f -- "$c"' EXIT`,
      `head -n1 "$c" | grep -qx valid || { echo "line 1: not valid" >&2; exit ${VALIDATOR_REFUSED}; }`,
      'if [ -f "$f" ]; then cp -p -- "$f" "$rb" || exit 67; else : > "$rb.none"; fi',
      'mv -f -- "$c" "$f" || exit 67',
    ].join('\n');
  const spec = (content: string, over: Partial<GuardedInstall> = {}): GuardedInstall => ({
    what: 'tool: after installing tool.conf',
    freshLogin: async (_c, user) => {
      logins.push(user);
      if (readFileSync(live, 'utf8').includes('lockout')) throw new Error(`no fresh SSH login as ${user}`);
    },
    checks: [{ user: 'admin', sudo: true }],
    async install(c) {
      const candidate = candidatePath(path.join(dir, '.tool.conf.candidate'));
      const res = await installCandidate(c, { path: candidate, content, mode: 0o600 }, installScript(candidate));
      if (res.code === VALIDATOR_REFUSED)
        throw new NothingApplied(`the validator refused tool.conf; nothing was installed: ${res.stderr.trim()}`);
      if (res.code !== 0) throw new Error(`installing tool.conf failed (exit ${res.code})`);
    },
    makeLive: async () => writeFileSync(live, readFileSync(conf)),
    async rollback() {
      if (existsSync(`${prev}.none`)) {
        rmSync(conf, { force: true });
        rmSync(live, { force: true });
        rmSync(`${prev}.none`);
        return 'tool.conf was removed again (there was none before)';
      }
      writeFileSync(conf, readFileSync(prev));
      writeFileSync(live, readFileSync(prev));
      rmSync(prev);
      return 'the previous tool.conf was restored and is live again';
    },
    keep: async () => {
      rmSync(prev, { force: true });
      rmSync(`${prev}.none`, { force: true });
    },
    ...over,
  });
  const files = () => readdirSync(dir).sort();
  const text = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : null);
  return {
    dir,
    conf,
    live,
    prev,
    conn,
    ctx: ctxOn(conn),
    spec,
    logins,
    files,
    text,
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

test('a candidate the validator refuses: NothingApplied, nothing installed or made live, no candidate left, no login tried', async () => {
  const t = setup('valid\nold\n');
  try {
    await guardedInstall(t.ctx, t.spec('broken\n'));
    assert.unreachable('must fail');
  } catch (err) {
    assert.instance(err, NothingApplied);
    assert.match((err as Error).message, /the validator refused tool\.conf; nothing was installed: line 1: not valid/);
  } finally {
    assert.is(t.text(t.conf), 'valid\nold\n');
    assert.is(t.text(t.live), 'valid\nold\n');
    assert.equal(t.files(), ['live', 'tool.conf'], 'no candidate and no rollback copy left');
    assert.equal(t.logins, []);
    t.done();
  }
});

test('a proof that fails: the previous content is back and live, and the error says why and what the rollback did', async () => {
  const t = setup('valid\nold\n');
  try {
    await guardedInstall(t.ctx, t.spec('valid\nlockout\n'));
    assert.unreachable('must fail');
  } catch (err) {
    assert.not.instance(err, HandlerRolledBack, 'a task, not a handler');
    assert.is(
      (err as Error).message,
      "tool: after installing tool.conf, no fresh SSH login as admin; the previous tool.conf was restored and is live again. This run's own connection was kept.",
    );
  } finally {
    assert.is(t.text(t.conf), 'valid\nold\n');
    assert.is(t.text(t.live), 'valid\nold\n');
    assert.equal(t.files(), ['live', 'tool.conf']);
    assert.equal(t.logins, ['admin']);
    t.done();
  }
});

test('a proof that fails where there was no file before: the file goes again', async () => {
  const t = setup(null);
  try {
    await guardedInstall(t.ctx, t.spec('valid\nlockout\n'));
    assert.unreachable('must fail');
  } catch (err) {
    assert.match((err as Error).message, /tool\.conf was removed again \(there was none before\)/);
  } finally {
    assert.equal(t.files(), []);
    t.done();
  }
});

test('a proven install is kept, live, and its rollback copy dropped', async () => {
  const t = setup('valid\nold\n');
  try {
    await guardedInstall(t.ctx, t.spec('valid\nnew\n'));
    assert.is(t.text(t.conf), 'valid\nnew\n');
    assert.is(t.text(t.live), 'valid\nnew\n');
    assert.equal(t.files(), ['live', 'tool.conf']);
    assert.equal(t.logins, ['admin']);
  } finally {
    t.done();
  }
});

test("a handler's proof: restored → HandlerRolledBack; a rollback that fails → a plain Error saying so", async () => {
  const t = setup('valid\nold\n');
  try {
    const spec = t.spec('valid\nlockout\n', { handler: true });
    await spec.install(t.ctx); // a task installed it; the handler makes it live and proves it
    assert.is(t.text(t.live), 'valid\nold\n', 'not live before the handler');
    try {
      await proveLive(t.ctx, spec);
      assert.unreachable('must fail');
    } catch (err) {
      assert.instance(err, HandlerRolledBack);
    }
    assert.is(t.text(t.live), 'valid\nold\n');

    await spec.install(t.ctx);
    const broken = t.spec('valid\nlockout\n', {
      handler: true,
      rollback: async () => {
        throw new Error('cp: No space left on device');
      },
    });
    try {
      await proveLive(t.ctx, broken);
      assert.unreachable('must fail');
    } catch (err) {
      assert.not.instance(err, HandlerRolledBack);
      assert.match((err as Error).message, /no fresh SSH login as admin; rolling back FAILED too: cp: No space left on device\./);
    }
    const notRestored = t.spec('valid\nlockout\n', {
      handler: true,
      rollback: async () => ({ restored: false, message: 'there was nothing saved to restore' }),
    });
    try {
      await proveLive(t.ctx, notRestored);
      assert.unreachable('must fail');
    } catch (err) {
      assert.not.instance(err, HandlerRolledBack);
      assert.match((err as Error).message, /; there was nothing saved to restore\./);
    }
  } finally {
    t.done();
  }
});

test('making it live fails: no rollback and no proof (the copy stays for the next run to make live and prove)', async () => {
  const t = setup('valid\nold\n');
  let rolledBack = false;
  try {
    await guardedInstall(
      t.ctx,
      t.spec('valid\nnew\n', {
        makeLive: async () => {
          throw new Error('reload failed');
        },
        rollback: async () => {
          rolledBack = true;
          return 'restored';
        },
      }),
    );
    assert.unreachable('must fail');
  } catch (err) {
    assert.is((err as Error).message, 'reload failed');
  } finally {
    assert.not.ok(rolledBack);
    assert.equal(t.logins, []);
    assert.is(t.text(t.prev), 'valid\nold\n');
    t.done();
  }
});

test("validateCandidate: a non-zero exit is NothingApplied with the caller's message; stdin reaches the script", async () => {
  const ctx = ctxOn(new LocalTransport(localHost()));
  const ok = await validateCandidate(ctx, 'cat', () => 'unused', 'hello');
  assert.is(ok.stdout, 'hello');
  try {
    await validateCandidate(ctx, 'echo bad >&2; exit 3', (res) => `refused (exit ${res.code}): ${res.stderr.trim()}`);
    assert.unreachable('must fail');
  } catch (err) {
    assert.instance(err, NothingApplied);
    assert.is((err as Error).message, 'refused (exit 3): bad');
  }
});

test('guardedCommands: the steps, then the proof naming each login (for --check -vv)', () => {
  assert.equal(
    guardedCommands(
      ['visudo -cf /c', 'mv -f -- /c /f'],
      [
        { user: 'admin', sudo: true },
        { user: 'operator', sudo: false },
      ],
    ),
    [
      'visudo -cf /c',
      'mv -f -- /c /f',
      'fresh SSH login as admin (with sudo), operator; on failure the previous content goes back, live again',
    ],
  );
  assert.match(candidatePath('/etc/x.candidate'), /^\/etc\/x\.candidate\.[0-9a-f]{12}$/);
  assert.is.not(candidatePath('/p'), candidatePath('/p'));
});

/** A transport whose boot mark changes after `bootAfter` reconnects (never when undefined). */
function rebooting(bootAfter: number | undefined) {
  let boot = 'boot-1';
  let reconnects = 0;
  const scripts: string[] = [];
  const conn = {
    host: localHost('pi'),
    roundTrips: 0,
    async connect() {},
    async exec(script: string): Promise<ExecResult> {
      scripts.push(script);
      return { code: 0, stdout: script.includes('boot_id') ? `${boot}\n100\n` : '', stderr: '' };
    },
    async upload() {},
    async download() {
      return Buffer.from('');
    },
    async reconnect() {
      reconnects++;
      if (bootAfter !== undefined && reconnects >= bootAfter) boot = 'boot-2';
      if (reconnects === 1) throw new Error('connection refused'); // still down
    },
    async close() {},
  } as Transport;
  return { conn, scripts, reconnects: () => reconnects };
}

test('rebootAndWait: schedules the reboot, then reconnects until the boot mark changed', async () => {
  const r = rebooting(3);
  await rebootAndWait(ctxOn(r.conn), 5000, { settleMs: 1, pollMs: 1 });
  assert.is(r.reconnects(), 3);
  assert.ok(
    r.scripts.some((s) => s.includes('systemctl reboot')),
    'the reboot was scheduled',
  );
});

test('rebootAndWait: a host that never comes back with a new boot fails after the timeout; a timeout that is not a number is refused first', async () => {
  const r = rebooting(undefined);
  const started = Date.now();
  try {
    await rebootAndWait(ctxOn(r.conn), 300, { settleMs: 1, pollMs: 20 });
    assert.unreachable('must fail');
  } catch (err) {
    assert.match((err as Error).message, /pi did not come back from its reboot within 0\.3 s/);
  }
  assert.ok(Date.now() - started < 2000);
  const n = rebooting(1);
  for (const bad of [NaN, 0, -1]) {
    try {
      await rebootAndWait(ctxOn(n.conn), bad);
      assert.unreachable('must fail');
    } catch (err) {
      assert.match((err as Error).message, /the timeout must be a positive number/);
    }
  }
  assert.equal(n.scripts, [], 'nothing ran on the host');
});

test.run();
