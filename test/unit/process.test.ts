// lib/process: the one local-process helper (argv, stdin, timeout, abort, checked errors with masked
// secrets, large output, the streaming start()).
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { test } from '../support/uvu.ts';
import { killGroup, maskValues, ProcessError, run, runOk, start } from '../../lib/process/index.ts';

test('exit codes are returned, not thrown, without check', async () => {
  assert.is((await run(['true'])).code, 0);
  assert.is((await run(['sh', '-c', 'exit 7'])).code, 7);
  const r = await run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.is(r.stdout, 'out\n');
  assert.is(r.stderr, 'err\n');
});

test('arguments are passed as they are, never through a shell', async () => {
  const odd = ["it's", '$HOME', '`id`', 'a b', '\n;rm -rf /', ''];
  const r = await run(['printf', '%s|', ...odd]);
  assert.is(r.stdout, `${odd.join('|')}|`);
});

test('stdin: string and Buffer are read, and stdin is closed without input', async () => {
  assert.is(await runOk(['cat'], { input: 'héllo\n' }), 'héllo\n');
  const bytes = Buffer.from([0, 1, 2, 255, 254]);
  const r = await run(['cat'], { input: bytes });
  assert.ok(r.stdoutBytes.equals(bytes));
  assert.is(await runOk(['cat'], { timeoutMs: 5000 }), '');
  // a command that never reads its input is no error
  assert.is((await run(['true'], { input: Buffer.alloc(4 << 20) })).code, 0);
});

test('env and cwd', async () => {
  const r = await runOk(['sh', '-c', 'echo "$FOO"; pwd'], { env: { PATH: process.env.PATH, FOO: 'x y' }, cwd: '/tmp' });
  assert.is(r, 'x y\n/tmp\n');
});

test('large output is collected whole', async () => {
  const r = await run(['head', '-c', String(8 << 20), '/dev/zero']);
  assert.is(r.stdoutBytes.length, 8 << 20);
});

test('a timeout kills the command (and, detached, what it started)', async () => {
  const t0 = Date.now();
  const r = await run(['sleep', '30'], { timeoutMs: 300 });
  assert.ok(Date.now() - t0 < 10_000);
  assert.ok(r.timedOut);
  assert.is(r.code, 124);
  const g = await run(['sh', '-c', 'sleep 30 & echo $!; wait'], { timeoutMs: 500, detached: true });
  assert.ok(g.timedOut);
  const grandchild = Number(g.stdout.trim());
  await new Promise((res) => setTimeout(res, 200));
  assert.not.ok(alive(grandchild), 'the background sleep went with its group');
  const err = await run(['sleep', '30'], { timeoutMs: 200, check: true }).catch((e: Error) => e);
  assert.instance(err, ProcessError);
  assert.match((err as Error).message, /^sleep 30 failed \(killed after 200 ms\)/);
});

test('an AbortSignal kills the command', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  const t0 = Date.now();
  const r = await run(['sleep', '30'], { signal: ac.signal });
  assert.ok(Date.now() - t0 < 10_000);
  assert.ok(r.aborted);
  assert.is.not(r.code, 0);
});

test('check: the error names the command and masks every secret', async () => {
  const secret = 's3cr3t-token';
  const err = await run(['sh', '-c', `echo "denied for ${secret}" >&2; exit 5`, 'x', secret], { check: true, secrets: [secret] }).catch(
    (e: Error) => e,
  );
  assert.instance(err, ProcessError);
  const e = err as ProcessError;
  assert.is(e.code, 5);
  assert.match(e.message, /^sh -c .* failed \(exit 5\): denied for \*\*\*$/);
  assert.not.match(e.message, /s3cr3t/);
  assert.not.match(e.stderr, /s3cr3t/);
  assert.is((await run(['sh', '-c', 'exit 1'], { check: true, okCodes: [1] })).code, 1);
  assert.is(maskValues('ab abc', ['ab', 'abc']), '*** ***');
});

test('a missing program is an error naming it', async () => {
  const err = await run(['no-such-program-here', 'x']).catch((e: Error) => e);
  assert.instance(err, Error);
  assert.match((err as Error).message, /cannot run no-such-program-here x: no-such-program-here not found/);
});

test('start streams output and reports the exit; the timeout kills the group', async () => {
  const chunks: string[] = [];
  const s = start(['sh', '-c', 'echo one; echo two >&2; exit 4'], { onOutput: (c) => chunks.push(c.toString()) });
  const done = await s.done;
  assert.is(done.code, 4);
  assert.is(chunks.join('').split('\n').filter(Boolean).sort().join(','), 'one,two');
  const slow = start(['sleep', '30'], { detached: true, timeoutMs: 200 });
  const d = await slow.done;
  assert.ok(d.timedOut);
  assert.is(d.signal, 'SIGKILL');
  assert.not.ok(killGroup(slow.pid!), 'the group is gone');
  await start(['no-such-program-here']).done.then(
    () => assert.unreachable('started'),
    (e: Error) => assert.match(e.message, /cannot run no-such-program-here/),
  );
});

/** Running (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test.run();
