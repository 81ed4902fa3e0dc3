// Shell quoting and the sudo launch, run through the local /bin/sh the way sshd runs a command
// (`$SHELL -c <command>`), with a stand-in `sudo` on PATH that reads the password the way sudo -S
// does (one line from stdin) or, in NOPASSWD mode, reads nothing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { buildLaunch, sudoRefusal, TIMEOUT_EXIT_CODE } from '../../lib/ssh/become.ts';
import { shJoin, shQuote, shSingleQuote } from '../../lib/ssh/shell.ts';
import { q } from '../../lib/blocks/shell.ts';

const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-fake-sudo-'));
const argvLog = path.join(bin, 'argv.log');
fs.writeFileSync(
  path.join(bin, 'sudo'),
  `#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_SUDO_LOG"
while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done
shift
if [ "$FAKE_SUDO_MODE" = password ]; then
  IFS= read -r pw
  [ "$pw" = "$FAKE_SUDO_PASSWORD" ] || { echo 'sudo: 1 incorrect password attempt' >&2; exit 1; }
fi
exec "$@"
`,
  { mode: 0o755 },
);

function runRemote(command: string, input: Buffer | string | undefined, env: Record<string, string> = {}) {
  const r = spawnSync('sh', ['-c', command], {
    input,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_SUDO_LOG: argvLog, ...env },
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const NASTY = ['', 'plain', "it's", 'a b\tc\nd', '$HOME `id` $(id) \\ " \' ; & | < > * ? [ ] { } ~ # !', "''''", 'ünïcødé ✓', '-n'];

test('shQuote round-trips every string through sh', () => {
  for (const s of NASTY) {
    const r = runRemote(`printf %s ${shQuote(s)}`, undefined);
    assert.is(r.stdout, s, JSON.stringify(s));
  }
  assert.is(shQuote('/etc/k3s/config.yaml'), '/etc/k3s/config.yaml', 'safe words stay readable');
  assert.throws(() => shQuote('a\0b'), /NUL/);
});

test("shSingleQuote (the blocks' q) round-trips every string through sh, always quoted", () => {
  assert.is(q, shSingleQuote, 'one quoter: lib/blocks/shell.ts re-exports it');
  for (const s of NASTY) {
    const r = runRemote(`printf %s ${shSingleQuote(s)}`, undefined);
    assert.is(r.stdout, s, JSON.stringify(s));
  }
  assert.is(shSingleQuote('/etc/k3s/config.yaml'), "'/etc/k3s/config.yaml'");
  assert.is(shSingleQuote("it's"), `'it'\\''s'`);
  assert.throws(() => shSingleQuote('a\0b'), /NUL/);
});

test('shJoin keeps word boundaries', () => {
  const r = runRemote(`for w in ${shJoin(NASTY)}; do printf '<%s>' "$w"; done`, undefined);
  assert.is(r.stdout, NASTY.map((s) => `<${s}>`).join(''));
});

test('plain launch: script, exit code, stdout/stderr and stdin reach the script', () => {
  const script = 'set -e\nread -r line\necho "got $line"\necho "$0" >&2\nexit 7';
  const launch = buildLaunch(script, { sudo: false });
  assert.is(launch.stdinPrefix, undefined);
  const r = runRemote(launch.command, 'hello\n');
  assert.equal([r.code, r.stdout, r.stderr], [7, 'got hello\n', 'sh\n']);
});

for (const mode of ['password', 'nopasswd'] as const) {
  test(`sudo with a password (${mode} rule): the script's stdin starts with the caller's bytes, password never in argv`, () => {
    fs.rmSync(argvLog, { force: true });
    const password = "pa ss'word$(id)";
    const launch = buildLaunch('cat; echo "[$(id -u)]"', { sudo: true, password });
    assert.ok(launch.command.startsWith("sudo -k -S -p '' -- sh -c "), launch.command);
    assert.not.ok(launch.command.includes(password));
    const payload = 'line1\nsecret-token\n';
    const r = runRemote(launch.command, Buffer.concat([launch.stdinPrefix!, Buffer.from(payload)]), {
      FAKE_SUDO_MODE: mode,
      FAKE_SUDO_PASSWORD: password,
    });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, `${payload}[${process.getuid!()}]\n`);
    assert.not.ok(fs.readFileSync(argvLog, 'utf8').includes(password), 'sudo argv holds no password');
    assert.not.ok(fs.readFileSync(argvLog, 'utf8').includes('secret-token'));
  });
}

test('sudo without a password uses sudo -n and writes nothing ahead of stdin', () => {
  const launch = buildLaunch('cat', { sudo: true });
  assert.ok(launch.command.startsWith('sudo -n -- sh -c '));
  assert.is(launch.stdinPrefix, undefined);
  const r = runRemote(launch.command, 'abc', { FAKE_SUDO_MODE: 'nopasswd' });
  assert.is(r.stdout, 'abc');
});

test('a wrong password is reported as a sudo refusal', () => {
  const launch = buildLaunch('echo ran', { sudo: true, password: 'wrong' });
  const r = runRemote(launch.command, launch.stdinPrefix, { FAKE_SUDO_MODE: 'password', FAKE_SUDO_PASSWORD: 'right' });
  assert.is(r.stdout, '');
  assert.is(sudoRefusal(r.code!, r.stderr), 'sudo: 1 incorrect password attempt');
});

test('passwords with a newline are refused (sudo -S reads one line)', () => {
  assert.throws(() => buildLaunch('true', { sudo: true, password: 'a\nb' }), /newline/);
});

test('timeoutMs kills the script on the host with timeout(1)', () => {
  const launch = buildLaunch('sleep 30; echo not reached', { sudo: false, timeoutMs: 1000 });
  const started = Date.now();
  const r = runRemote(launch.command, undefined);
  assert.is(r.code, TIMEOUT_EXIT_CODE);
  assert.is(r.stdout, '');
  assert.ok(Date.now() - started < 10_000);
});

test('sudoRefusal recognises sudo messages only at the top of stderr and only for exit 1', () => {
  assert.is(sudoRefusal(1, 'sudo: a password is required\n'), 'sudo: a password is required');
  assert.is(
    sudoRefusal(1, 'Sorry, try again.\nSorry, try again.\nsudo: 3 incorrect password attempts\n'),
    'sudo: 3 incorrect password attempts',
  );
  assert.is(sudoRefusal(1, 'admin is not in the sudoers file.\n'), 'admin is not in the sudoers file.');
  assert.is(sudoRefusal(2, 'sudo: a password is required\n'), undefined);
  assert.is(sudoRefusal(1, 'grep: no match\n'), undefined);
  assert.is(sudoRefusal(1, `${'x\n'.repeat(10)}sudo: a password is required\n`), undefined);
});

test.after(() => fs.rmSync(bin, { recursive: true, force: true }));
test.run();
