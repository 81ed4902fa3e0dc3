// The persistent shell's protocol against a real local `sh` running the same loop the hosts run
// (the SSH channel replaced by the child's pipes): framing, exit statuses, stdin boundaries,
// markers split across chunks, a command that ends the shell, and the pool's limits.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import type { ClientChannel } from 'ssh2';
import { PersistentShell, SHELL_LOOP, ShellPool } from '../../lib/ssh/persistent-shell.ts';

/** A local `sh -c LOOP` that looks like an ssh2 channel; `chunk` re-emits stdout in pieces of that size. */
function localChannel(chunk = 0): { channel: ClientChannel; pid: number } {
  const child = spawn('sh', ['-c', SHELL_LOOP], { stdio: ['pipe', 'pipe', 'pipe'] });
  const channel = new EventEmitter() as EventEmitter & { stderr: EventEmitter; write(b: Buffer): void; end(): void };
  child.stdout.on('data', (d: Buffer) => {
    if (!chunk) return channel.emit('data', d);
    for (let i = 0; i < d.length; i += chunk) channel.emit('data', d.subarray(i, i + chunk));
  });
  channel.stderr = child.stderr;
  child.on('exit', (code, signal) => channel.emit('exit', code, signal ?? undefined));
  child.on('close', () => channel.emit('close'));
  channel.write = (b) => child.stdin.write(b);
  channel.end = () => child.stdin.end();
  return { channel: channel as unknown as ClientChannel, pid: child.pid! };
}

const run = (shell: PersistentShell, script: string, stdin?: string) =>
  shell.run(Buffer.from(script), stdin === undefined ? undefined : Buffer.from(stdin)).then((r) => ({
    code: r.code,
    stdout: r.stdout.toString(),
    stderr: r.stderr.toString(),
    ...(r.shellExited ? { shellExited: true, signal: r.signal } : {}),
  }));

test('commands run one after the other on one shell, each in its own subshell', async () => {
  const { channel } = localChannel();
  const shell = new PersistentShell(channel, 'local');
  assert.equal(await run(shell, 'echo out; echo err >&2; exit 3'), { code: 3, stdout: 'out\n', stderr: 'err\n' });
  assert.equal(await run(shell, 'cd /; X=1; set -e; false; echo no'), { code: 1, stdout: '', stderr: '' });
  assert.equal(await run(shell, 'echo "${X-unset}"; false; echo "$(pwd)" | grep -qx / && echo moved || echo stayed'), {
    code: 0,
    stdout: 'unset\nstayed\n',
    stderr: '',
  });
  assert.equal(await run(shell, "printf 'no newline'"), { code: 0, stdout: 'no newline', stderr: '' });
  assert.equal(await run(shell, 'for w in a b c; do echo "$w"; done\n\n\n'), { code: 0, stdout: 'a\nb\nc\n', stderr: '' });
  shell.close();
});

test('stdin: exactly the bytes given, drained when unread, /dev/null when none', async () => {
  const { channel } = localChannel();
  const shell = new PersistentShell(channel, 'local');
  assert.equal(await run(shell, 'cat', 'a\nb\n\u00e9'), { code: 0, stdout: 'a\nb\n\u00e9', stderr: '' });
  // reads one line of three; the other two must not be taken for the next header
  assert.equal(await run(shell, 'read -r l; echo "[$l]"', 'x\n9 9 9\nlast'), { code: 0, stdout: '[x]\n', stderr: '' });
  assert.equal(await run(shell, 'true', 'never read at all'), { code: 0, stdout: '', stderr: '' });
  assert.equal(await run(shell, 'cat; echo "eof at once"'), { code: 0, stdout: 'eof at once\n', stderr: '' });
  assert.equal(await run(shell, 'wc -c', ''), { code: 0, stdout: '0\n', stderr: '' });
  shell.close();
});

test('markers split across one-byte chunks, large output, marker-like text', async () => {
  const { channel } = localChannel(1);
  const shell = new PersistentShell(channel, 'local');
  assert.equal(await run(shell, "printf '@@cs-00 0@@\\n\\n@@'; echo done"), { code: 0, stdout: '@@cs-00 0@@\n\n@@done\n', stderr: '' });
  shell.close();
  const big = localChannel(7);
  const bigShell = new PersistentShell(big.channel, 'local');
  const r = await bigShell.run(Buffer.from('head -c 300000 /dev/zero | tr "\\0" x; exit 4'));
  assert.is(r.code, 4);
  assert.is(r.stdout.length, 300000);
  assert.ok(r.stdout.every((b) => b === 0x78));
  bigShell.close();
});

test('a command that ends the shell is reported like a session of its own; the shell is then dead', async () => {
  const { channel } = localChannel();
  const shell = new PersistentShell(channel, 'local');
  assert.equal(await run(shell, 'echo before; kill -TERM $$'), {
    code: 143,
    stdout: 'before\n',
    stderr: '',
    shellExited: true,
    signal: 'SIGTERM',
  });
  assert.not.ok(shell.alive);
  try {
    await run(shell, 'true');
    assert.unreachable('a closed shell runs nothing');
  } catch (err) {
    assert.match((err as Error).message, /closed/);
  }
});

test('pool: at most max shells, callers queue, idle shells are reused and dead ones replaced', async () => {
  const pool = new ShellPool(2);
  const pids: number[] = [];
  const start = async () => {
    const { channel, pid } = localChannel();
    pids.push(pid);
    return new PersistentShell(channel, 'local');
  };
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => pool.run('sudo', start, Buffer.from(`sleep 0.1; echo ${i}`))));
  assert.equal(
    results.map((r) => r.stdout.toString()),
    ['0\n', '1\n', '2\n', '3\n', '4\n', '5\n'],
  );
  assert.is(pids.length, 2, 'two shells for six commands');
  // another kind takes the place of an idle shell when the pool is full
  const user = await pool.run('user', start, Buffer.from('echo user'));
  assert.is(user.stdout.toString(), 'user\n');
  assert.is(pids.length, 3);
  // a shell that died is not handed out again
  const killed = await pool.run('user', start, Buffer.from('kill -KILL $$'));
  assert.ok(killed.shellExited);
  assert.is((await pool.run('user', start, Buffer.from('echo again'))).stdout.toString(), 'again\n');
  assert.is(pids.length, 4);
  pool.closeAll();
});

test.run();
