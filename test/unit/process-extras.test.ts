// lib/process, what the former private spawn helpers needed: the synchronous runCollectSync/runOkSync
// (output, input, check with masked secrets, timeout, a missing program), CommandNotFoundError from
// run(), and start() writing into a log file descriptor, unref'd, detached, with the spawn error as
// the rejection's cause.
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { test } from '../support/uvu.ts';
import { CommandNotFoundError, ProcessError, run, runCollectSync, runOkSync, start, withoutBashrc } from '../../lib/process/index.ts';

const NODE = process.execPath;

test('runCollectSync: exit code, stdout and stderr, bytes whole', () => {
  const r = runCollectSync(['sh', '-c', 'printf out; printf err >&2; exit 3']);
  assert.is(r.code, 3);
  assert.is(r.stdout, 'out');
  assert.is(r.stderr, 'err');
  assert.is(r.timedOut, false);
  const big = runCollectSync(['head', '-c', String(4 << 20), '/dev/zero']);
  // more than spawnSync's default 1 MiB limit
  assert.is(big.stdoutBytes.length, 4 << 20);
});

test('runCollectSync: input (string and Buffer), env, cwd, stdin closed or /dev/null', () => {
  assert.is(runOkSync(['cat'], { input: 'héllo\n' }), 'héllo\n');
  const bytes = Buffer.from([0, 1, 255]);
  assert.ok(runCollectSync(['cat'], { input: bytes }).stdoutBytes.equals(bytes));
  assert.is(runOkSync(['cat'], { timeoutMs: 5000 }), '');
  assert.is(runOkSync(['cat'], { noStdin: true, timeoutMs: 5000 }), '');
  assert.is(runOkSync(['sh', '-c', 'echo "$FOO"; pwd'], { env: { PATH: process.env.PATH, FOO: 'x y' }, cwd: '/tmp' }), 'x y\n/tmp\n');
});

test('runOkSync: a failure throws a ProcessError naming the command, secrets masked', () => {
  try {
    runOkSync(['sh', '-c', 'echo "bad s3cret" >&2; exit 4', 'x', 's3cret'], { secrets: ['s3cret'] });
    assert.unreachable('should throw');
  } catch (err) {
    assert.instance(err, ProcessError);
    const e = err as ProcessError;
    assert.is(e.code, 4);
    assert.match(e.message, /^sh -c .* x \*\*\* failed \(exit 4\): bad \*\*\*$/);
    assert.not.match(e.message, 's3cret');
  }
  assert.is(runCollectSync(['sh', '-c', 'exit 1'], { check: true, okCodes: [1] }).code, 1);
});

test('runCollectSync: a timeout kills the command (code 124)', () => {
  const t0 = Date.now();
  const r = runCollectSync(['sleep', '10'], { timeoutMs: 200 });
  assert.ok(Date.now() - t0 < 5000);
  assert.is(r.timedOut, true);
  assert.is(r.code, 124);
  assert.throws(() => runOkSync(['sleep', '10'], { timeoutMs: 200 }), /sleep 10 failed \(killed after 200 ms\)/);
});

test('a missing program is a CommandNotFoundError, sync and async', async () => {
  const missing = 'clusterseed-no-such-program';
  try {
    runCollectSync([missing, 'x']);
    assert.unreachable('should throw');
  } catch (err) {
    assert.instance(err, CommandNotFoundError);
    assert.is((err as CommandNotFoundError).command, missing);
    assert.is((err as Error).message, `cannot run ${missing} x: ${missing} not found`);
  }
  const e = await run([missing]).catch((err: unknown) => err);
  assert.instance(e, CommandNotFoundError);
  assert.is((e as Error).message, `cannot run ${missing}: ${missing} not found`);
});

test('start: output straight into a log file descriptor, detached and unref, signal reported', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'clusterseed-start-'));
  try {
    const log = path.join(dir, 'out.log');
    const fd = openSync(log, 'a');
    const s = start([NODE, '-e', 'console.log("to the log"); console.error("err too"); process.exit(5)'], {
      detached: true,
      stdio: ['ignore', fd, fd],
      unref: true,
    });
    // the caller closes its copy at once; the child keeps writing
    closeSync(fd);
    assert.ok(s.pid);
    assert.is(s.child.stdout, null);
    const done = await s.done;
    assert.equal(done, { code: 5, signal: null, timedOut: false });
    assert.is(readFileSync(log, 'utf8'), 'to the log\nerr too\n');

    const k = start([NODE, '-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore', unref: true });
    k.child.kill('SIGTERM');
    assert.equal(await k.done, { code: 128 + 15, signal: 'SIGTERM', timedOut: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('start: an unref child does not keep this process alive', async () => {
  // a node process that starts a 30 s sleeper unref'd must end at once
  const code = [
    `const { start } = await import(${JSON.stringify(path.resolve('lib/process/index.ts'))});`,
    `const s = start(['sleep', '30'], { stdio: 'ignore', detached: true, unref: true });`,
    `process.stdout.write(String(s.pid));`,
  ].join('\n');
  const t0 = Date.now();
  const r = await run([NODE, '--import', 'tsx', '--input-type=module', '-e', code], { timeoutMs: 20_000, check: true });
  assert.ok(Date.now() - t0 < 15_000, 'the parent waited for its child');
  const pid = Number(r.stdout.trim());
  assert.ok(pid > 0, `no pid in ${JSON.stringify(r.stdout)} ${JSON.stringify(r.stderr)}`);
  // the sleeper still runs on its own: end it
  process.kill(pid, 'SIGKILL');
});

test('start: a spawn failure rejects with the spawn error as cause', async () => {
  const s = start(['clusterseed-no-such-program'], { unref: true });
  const err = (await s.done.catch((e: unknown) => e)) as Error;
  assert.instance(err, Error);
  assert.match(err.message, 'cannot run clusterseed-no-such-program');
  assert.is((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
});

test("run() never sources the user's ~/.bashrc, even started without SHLVL (bash's rule for sshd-started shells)", async () => {
  const home = mkdtempSync(path.join(tmpdir(), 'cs-bashrc-'));
  try {
    const marker = path.join(home, 'bashrc-ran');
    writeFileSync(path.join(home, '.bashrc'), `touch ${marker}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env.SHLVL;
    const r = await run(['sh', '-c', 'echo ok'], { env });
    assert.is(r.stdout, 'ok\n');
    assert.not.ok(existsSync(marker), '~/.bashrc was sourced');
    assert.is(withoutBashrc({ SHLVL: '3' }).SHLVL, '3');
    assert.is(withoutBashrc({ SHLVL: '0' }).SHLVL, '1');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
