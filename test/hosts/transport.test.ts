// The SSH transport against three real sshd hosts of the test lab (systemd-nspawn containers):
// exec, sudo with and without a password, atomic uploads (also when the connection dies midway),
// downloads, host key checking, reconnect after an sshd restart and a reboot, jump hosts, and
// the error kinds the runner relies on.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import ssh2 from 'ssh2';
import type { HostSpec } from '../../lib/inventory/model.ts';
import {
  closeAll,
  createTransport,
  RemoteFileNotFound,
  TransportError,
  type SshTransport,
  type TransportOptions,
} from '../../lib/ssh/index.ts';
import { entryMatches, fingerprint, formatEntry, readKnownHosts } from '../../lib/ssh/known-hosts.ts';
import { startLab, type TestHost, type TestLab } from '../harness/hosts.ts';

const PASSWORD_ENV = 'CS_TEST_TRANSPORT_OPERATOR_PASSWORD';
let lab: TestLab | undefined;
let scratch = '';
const logs: string[] = [];

test.before(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-transport-test-'));
  lab = await startLab({ count: 3, prefix: 'tp' });
  process.env[PASSWORD_ENV] = lab.operatorPassword;
});

test.after.each(async () => {
  await closeAll();
});

test.after(async () => {
  delete process.env[PASSWORD_ENV];
  await closeAll();
  await lab?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

function theLab(): TestLab {
  if (!lab) throw new Error('the lab did not start');
  return lab;
}

function hosts(): TestHost[] {
  return theLab().hosts;
}

function spec(h: TestHost, user: string, extra: Partial<HostSpec> = {}): HostSpec {
  return {
    name: h.name,
    address: h.address,
    port: h.port,
    user,
    become: user !== 'root',
    becomePasswordEnv: user === 'operator' ? PASSWORD_ENV : undefined,
    sshKey: theLab().keyPath,
    cluster: 'test',
    groups: ['servers'],
    labels: {},
    taints: [],
    vars: {},
    ...extra,
  };
}

function connectTo(h: TestHost, user: string, extra: Partial<HostSpec> = {}, opts: Partial<TransportOptions> = {}): SshTransport {
  return createTransport(spec(h, user, extra), {
    knownHostsFile: theLab().knownHostsFile,
    connectTimeoutMs: 10_000,
    log: (line) => logs.push(line),
    ...opts,
  });
}

async function onHost(h: TestHost, cmd: string): Promise<string> {
  const r = await theLab().sh(h.name, cmd);
  if (r.code !== 0) throw new Error(`lab.sh ${h.name} "${cmd}": exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function rejection(promise: Promise<unknown>): Promise<TransportError> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, TransportError, `expected a TransportError, got ${String(err)}`);
    return err as TransportError;
  }
  throw new assert.Assertion({ message: 'expected a rejection', expects: 'rejection', actual: 'fulfilled', operator: 'rejects' });
}

/** the lab's host key for an address */
function labHostKey(h: TestHost): Buffer {
  const entry = readKnownHosts(theLab().knownHostsFile).find((e) => entryMatches(e, h.address, h.port));
  if (!entry) throw new Error(`${h.address} is not in the lab's known_hosts`);
  return entry.key;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

// ---- exec --------------------------------------------------------------------------------------

test('exec on 3 hosts at once: exit codes, stdout/stderr, stdin, large output, one reused connection', async () => {
  await Promise.all(
    hosts().map(async (h) => {
      const t = connectTo(h, 'root');
      const r1 = await t.exec('echo "out $(hostname)"; echo err >&2; exit 3');
      assert.equal(r1, { code: 3, stdout: `out ${h.name}\n`, stderr: 'err\n' });
      const r2 = await t.exec('set -e\nread -r a\nprintf "%s|" "$a"\ncat', { stdin: 'first line\nrest \u00e9\n' });
      assert.equal([r2.code, r2.stdout], [0, 'first line|rest \u00e9\n']);
      // large output: 16 MiB of a known pattern on stdout and 1 MiB on stderr, interleaved
      const big = await t.exec('yes 0123456789abcdef | head -c 16777216; head -c 1048576 /dev/zero | tr "\\0" e >&2');
      assert.is(big.code, 0);
      // compared through hashes: a failed comparison of 16 MiB strings would take uvu forever to print
      assert.is(big.stdout.length, 16 * 1024 * 1024);
      assert.is(sha256(big.stdout), sha256('0123456789abcdef\n'.repeat((16 * 1024 * 1024) / 17 + 1).slice(0, 16 * 1024 * 1024)));
      assert.is(sha256(big.stderr), sha256('e'.repeat(1024 * 1024)));
      // more commands at once than sshd's MaxSessions (10): they queue on the one connection
      const many = await Promise.all(Array.from({ length: 25 }, (_, i) => t.exec(`sleep 0.2; echo ${i}`)));
      assert.equal(
        many.map((r) => r.stdout),
        Array.from({ length: 25 }, (_, i) => `${i}\n`),
      );
      const sessions = await onHost(h, "ss -tnH state established '( sport = :22 )' | wc -l");
      assert.is(sessions.trim(), '1', `one SSH connection to ${h.name}`);
      assert.is(t.roundTrips, 3 + 25);
      const killed = await t.exec('kill -TERM $$');
      assert.equal([killed.code, killed.signal], [143, 'SIGTERM']);
    }),
  );
});

test('a script larger than one argv string still runs, with sudo and stdin', async () => {
  const [h] = hosts();
  const t = connectTo(h, 'operator');
  const script = `${'# filler line for a long generated script\n'.repeat(5000)}read -r x; echo "$x $(id -u)"`;
  assert.ok(script.length > 200_000);
  // on the persistent shell the script travels on stdin: no argv limit, nothing staged
  const r = await t.exec(script, { stdin: 'payload\n' });
  assert.equal([r.code, r.stdout, r.stderr], [0, 'payload 0\n', '']);
  assert.is(t.roundTrips, 1);
  // with a timeout the command gets a session of its own: the script is staged as a file
  const timed = await t.exec(script, { stdin: 'timed\n', timeoutMs: 60_000 });
  assert.equal([timed.code, timed.stdout, timed.stderr], [0, 'timed 0\n', '']);
  assert.is(t.roundTrips, 3, 'the staged script counts as one more round trip');
  const left = await onHost(h, 'ls -A /home/operator/.clusterseed-staging');
  assert.is(left.trim(), '', 'the staged script is removed');
});

test('persistent shell: one sudo for many commands, each command isolated, stdin never leaks into the next', async () => {
  const [h] = hosts();
  const t = connectTo(h, 'admin');
  const shells = async () => (await onHost(h, "ps -eo args | grep -c '^sudo -n -- sh -c SSH_CONNECTION=' || true")).trim();
  // state set by one command (cwd, variables, options, traps, exit) stays in it
  const first = await t.exec('cd /tmp; X=set; export Y=set; set -e; trap "echo trapped" EXIT; false; echo unreachable');
  assert.equal([first.code, first.stdout], [1, 'trapped\n']);
  const second = await t.exec('pwd; echo "x=${X-unset} y=${Y-unset}"; false; echo "set -e is off"');
  assert.equal([second.code, second.stdout], [0, '/home/admin\nx=unset y=unset\nset -e is off\n']);
  // a command that reads only part of its stdin: the rest is drained, the next header is intact
  const partial = await t.exec('read -r a; echo "$a"', { stdin: 'one\n7 8 9\nthree\n' });
  assert.equal([partial.code, partial.stdout], [0, 'one\n']);
  // output without a final newline, marker-like text, and bytes that are not UTF-8
  const odd = await t.exec("printf '@@cs-0 0@@\\n\\n@@x'; printf 'e\\n@@' >&2; exit 7");
  assert.equal([odd.code, odd.stdout, odd.stderr], [7, '@@cs-0 0@@\n\n@@x', 'e\n@@']);
  const binary = await t.exec("printf '\\377\\000\\001'");
  assert.is(binary.stdout, Buffer.from([0xff, 0, 1]).toString('utf8'));
  // the login's SSH_CONNECTION survives sudo's reset environment: the port sshd was reached on
  const conn = (await t.exec('echo "$SSH_CONNECTION"; id -u')).stdout.trim().split('\n');
  assert.equal([conn[0].split(' ').length, conn[0].split(' ')[3], conn[1]], [4, '22', '0']);
  // downloads through sudo run on the same shell
  assert.is((await t.download('/etc/hostname')).toString(), `${h.name}\n`);
  assert.is(await shells(), '1', 'one sudo shell served every command');
  // a command that ends the shell itself is reported like a session's; the next gets a new shell
  const killed = await t.exec('kill -KILL $$');
  assert.equal([killed.code, killed.signal], [137, 'SIGKILL']);
  assert.is((await t.exec('id -un')).stdout, 'root\n');
  assert.is(await shells(), '1');
  await t.close();
  await sleep(300);
  assert.is(await shells(), '0', 'the shell ends with the connection');
});

test('exec timeout kills the command on the host', async () => {
  const [h] = hosts();
  const t = connectTo(h, 'root');
  const started = Date.now();
  const err = await rejection(t.exec('sleep 31.5; echo never', { timeoutMs: 1500 }));
  assert.is(err.kind, 'timeout');
  assert.ok(Date.now() - started < 8000);
  const ps = await onHost(h, 'ps -eo args');
  assert.not.ok(
    ps.split('\n').some((l) => l.trim() === 'sleep 31.5'),
    'the remote sleep is gone',
  );
  assert.is((await t.exec('echo still usable')).stdout, 'still usable\n');
});

// ---- sudo --------------------------------------------------------------------------------------

test('sudo NOPASSWD (admin) on 3 hosts: root, stdin intact, also when a password is configured anyway', async () => {
  await Promise.all(
    hosts().map(async (h) => {
      const t = connectTo(h, 'admin');
      assert.is((await t.exec('id -un')).stdout, 'root\n', 'become defaults to the host setting');
      assert.is((await t.exec('id -un', { become: false })).stdout, 'admin\n');
      // a password set for a NOPASSWD user: sudo reads nothing, the script still sees only its stdin
      const withPw = connectTo(h, 'admin', { becomePasswordEnv: PASSWORD_ENV });
      const r = await withPw.exec('cat; id -u', { stdin: 'a\nb\n' });
      assert.equal([r.code, r.stdout], [0, 'a\nb\n0\n']);
    }),
  );
});

test('sudo with a password (operator) on 3 hosts: password and secret stdin never in the process list', async () => {
  const password = theLab().operatorPassword;
  const secret = `token-${randomBytes(8).toString('hex')}`;
  await Promise.all(
    hosts().map(async (h) => {
      const t = connectTo(h, 'operator');
      const running = t.exec('read -r s; sleep 3; id -u; printf %s "$s" | wc -c', {
        stdin: `${secret}\n`,
      });
      const samples: string[] = [];
      let sawSudo = false;
      for (let i = 0; i < 10; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const ps = await onHost(h, "ps -eo user,args; for e in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $e; done 2>/dev/null; true");
        samples.push(ps);
        if (ps.includes('sudo -k -S -p  -- sh -c')) sawSudo = true;
      }
      const r = await running;
      assert.equal([r.code, r.stdout.replace(/ +/g, '')], [0, `0\n${secret.length}\n`]);
      assert.ok(sawSudo, `sampled ${h.name} while sudo was running`);
      for (const s of samples) {
        assert.not.ok(s.includes(password), 'sudo password in the remote process list or environment');
        assert.not.ok(s.includes(secret), 'secret stdin in the remote process list or environment');
      }
    }),
  );
  for (const line of logs) {
    assert.not.ok(line.includes(password), 'password in the transport log');
    assert.not.ok(line.includes(secret), 'secret stdin in the transport log');
  }
});

test('sudo failures are auth errors: no password configured, wrong password, variable unset', async () => {
  const [h] = hosts();
  const noPw = connectTo(h, 'operator', { becomePasswordEnv: undefined });
  const e1 = await rejection(noPw.exec('true'));
  assert.is(e1.kind, 'auth');
  assert.match(e1.message, /a password is required.*becomePasswordEnv/);
  process.env.CS_TEST_WRONG_PASSWORD = 'not-the-password';
  try {
    const wrong = connectTo(h, 'operator', { becomePasswordEnv: 'CS_TEST_WRONG_PASSWORD' });
    const e2 = await rejection(wrong.exec('true', { stdin: 'x\n' }));
    assert.is(e2.kind, 'auth');
    assert.match(e2.message, /incorrect password/);
  } finally {
    delete process.env.CS_TEST_WRONG_PASSWORD;
  }
  const unset = connectTo(h, 'operator', { becomePasswordEnv: 'CS_TEST_UNSET_VARIABLE' });
  const e3 = await rejection(unset.exec('true'));
  assert.is(e3.kind, 'auth');
  assert.match(e3.message, /CS_TEST_UNSET_VARIABLE is not set/);
});

// ---- upload / download -------------------------------------------------------------------------

test('atomic upload on 3 hosts: root directly, admin and operator through sudo; mode, owner, round trips', async () => {
  await Promise.all(
    hosts().map(async (h) => {
      for (const user of ['root', 'admin', 'operator']) {
        const t = connectTo(h, user);
        const file = `/etc/cs-upload-${user}.conf`;
        const content = `written by ${user} on ${h.name}\n${randomBytes(100_000).toString('base64')}\n`;
        await t.upload(file, content, { mode: 0o640, owner: 'admin', group: 'operator' });
        const [stat, sum] = (await onHost(h, `stat -c '%a %U %G' ${file}; sha256sum < ${file}`)).split('\n');
        assert.is(stat, '640 admin operator', `${user}@${h.name}`);
        assert.is(sum.split(' ')[0], sha256(content));
        assert.is(t.roundTrips, 2, 'write + one command for owner/install');
        // replace: mode and owner of the old file are kept when not given
        await t.upload(file, 'second\n');
        assert.is(await onHost(h, `stat -c '%a %U %G' ${file}; cat ${file}`), '640 admin operator\nsecond\n');
        assert.is(t.roundTrips, user === 'root' ? 3 : 4);
        // download: SFTP as root, through sudo for the others (a root-only file)
        assert.is((await t.download(file)).toString(), 'second\n');
        assert.is((await t.download('/etc/shadow')).toString(), await onHost(h, 'cat /etc/shadow'));
        const missing = await rejection(t.download('/etc/cs-no-such-file'));
        assert.instance(missing, RemoteFileNotFound);
        const leftovers = await onHost(h, `ls -A /etc | grep -c '^\\.cs-upload' || true`);
        assert.is(leftovers.trim(), '0', 'no temp files left next to the target');
      }
      const staging = await onHost(h, 'stat -c %a /home/operator/.clusterseed-staging; ls -A /home/operator/.clusterseed-staging');
      assert.is(staging, '700\n', 'staging dir private and empty');
      // a user writing its own files without sudo: SFTP straight into place
      const own = connectTo(h, 'admin', { become: false });
      await own.upload('/home/admin/notes.txt', 'mine\n', { mode: 0o600 });
      assert.is(await onHost(h, 'stat -c "%a %U" /home/admin/notes.txt'), '600 admin\n');
      assert.is(own.roundTrips, 1);
      const denied = await rejection(own.upload('/etc/cs-denied', 'x'));
      assert.is(denied.kind, 'exec');
      assert.match(denied.message, /Permission denied/i);
    }),
  );
});

/** A TCP relay to a host that can cut the connection after a number of client->host bytes. */
async function cuttingRelay(h: TestHost) {
  const sockets = new Set<net.Socket>();
  let armed: { bytes: number; seen: number; done: () => void } | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: h.address, port: h.port });
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => {
      if (!armed) return;
      armed.seen += d.length;
      if (armed.seen >= armed.bytes) {
        for (const s of sockets) s.destroy();
        armed.done();
        armed = undefined;
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const knownHostsFile = path.join(scratch, `relay-${h.name}-${port}`);
  fs.writeFileSync(knownHostsFile, `${formatEntry('127.0.0.1', port, labHostKey(h))}\n`);
  return {
    port,
    knownHostsFile,
    cutAfter: (bytes: number) => new Promise<void>((done) => (armed = { bytes, seen: 0, done })),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('a connection that dies mid-upload leaves the target untouched (direct and through sudo)', async () => {
  const payload = randomBytes(32 * 1024 * 1024);
  await Promise.all(
    hosts().map(async (h, i) => {
      const user = ['root', 'operator', 'admin'][i];
      await onHost(h, "printf 'old content\\n' > /etc/cs-big.bin; rm -f /etc/cs-new.bin");
      const relay = await cuttingRelay(h);
      try {
        const via = { address: '127.0.0.1', port: relay.port };
        for (const file of ['/etc/cs-big.bin', '/etc/cs-new.bin']) {
          const t = connectTo(h, user, via, { knownHostsFile: relay.knownHostsFile });
          await t.connect();
          const cut = relay.cutAfter(4 * 1024 * 1024);
          const err = await rejection(t.upload(file, payload, { mode: 0o600 }));
          assert.ok(await Promise.race([cut.then(() => true), sleep(10_000).then(() => false)]), `relay cut (${err.message})`);
          assert.is(err.kind, 'unreachable', `${user}: ${err.message}`);
          assert.ok(await t.waitForDisconnect(5000), 'the transport saw the connection go');
        }
        assert.is(await onHost(h, 'cat /etc/cs-big.bin'), 'old content\n', `${user}@${h.name}: old file intact`);
        assert.is(await onHost(h, 'test -e /etc/cs-new.bin && echo present || echo absent'), 'absent\n');
        // the same transport connects again on next use and the upload then goes through
        const t = connectTo(h, user, via, { knownHostsFile: relay.knownHostsFile });
        await t.upload('/etc/cs-big.bin', payload, { mode: 0o600 });
        assert.is((await onHost(h, 'sha256sum < /etc/cs-big.bin')).split(' ')[0], sha256(payload));
      } finally {
        await relay.close();
      }
    }),
  );
});

// ---- host keys ---------------------------------------------------------------------------------

test('unknown host keys are refused, then accepted and recorded with acceptNewHostKeys (3 hosts at once)', async () => {
  const file = path.join(scratch, 'known_hosts_new');
  fs.writeFileSync(file, '');
  const errors = await Promise.all(hosts().map((h) => rejection(connectTo(h, 'root', {}, { knownHostsFile: file }).connect())));
  for (const [i, err] of errors.entries()) {
    assert.is(err.kind, 'hostkey-unknown');
    assert.ok(err.message.includes(hosts()[i].name) && err.message.includes(file), err.message);
    assert.ok(err.message.includes(fingerprint(labHostKey(hosts()[i]))), 'names the presented fingerprint');
  }
  assert.is(fs.readFileSync(file, 'utf8'), '', 'nothing recorded without acceptNewHostKeys');

  await Promise.all(
    hosts().map(async (h) => {
      const t = connectTo(h, 'root', {}, { knownHostsFile: file, acceptNewHostKeys: true });
      assert.is((await t.exec('hostname')).stdout, `${h.name}\n`);
    }),
  );
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').sort();
  assert.equal(
    lines,
    hosts()
      .map((h) => formatEntry(h.address, h.port, labHostKey(h)))
      .sort(),
  );
  // recorded keys are now simply known
  const again = connectTo(hosts()[0], 'root', {}, { knownHostsFile: file });
  await again.connect();
});

test('hashed known_hosts entries are honoured', async () => {
  const [h] = hosts();
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update(h.address).digest('base64');
  const file = path.join(scratch, 'known_hosts_hashed');
  fs.writeFileSync(file, `|1|${salt.toString('base64')}|${hash} ssh-ed25519 ${labHostKey(h).toString('base64')}\n`);
  await connectTo(h, 'root', {}, { knownHostsFile: file }).connect();
});

test('a changed host key is refused with a warning naming host, file, line and both fingerprints', async () => {
  const fake = ssh2.utils.parseKey(ssh2.utils.generateKeyPairSync('ed25519').public);
  if (fake instanceof Error) throw fake;
  const fakeBlob = fake.getPublicSSH();
  await Promise.all(
    hosts().map(async (h) => {
      const file = path.join(scratch, `known_hosts_changed_${h.name}`);
      fs.writeFileSync(file, `# other hosts\n${formatEntry(h.address, h.port, fakeBlob)}\n`);
      for (const acceptNewHostKeys of [false, true]) {
        const err = await rejection(connectTo(h, 'root', {}, { knownHostsFile: file, acceptNewHostKeys }).connect());
        assert.is(err.kind, 'hostkey-changed');
        for (const part of [h.name, file, 'line 2', fingerprint(fakeBlob), fingerprint(labHostKey(h)), 'CHANGED']) {
          assert.ok(err.message.includes(part), `message lacks "${part}": ${err.message}`);
        }
      }
      assert.is(fs.readFileSync(file, 'utf8').split('\n').length, 3, 'file not modified');
    }),
  );
});

// ---- auth and connection errors ----------------------------------------------------------------

test('auth: key from TransportOptions, ssh-agent fallback, wrong key refused', async () => {
  const [h] = hosts();
  await connectTo(h, 'admin', { sshKey: undefined }, { privateKey: theLab().keyPath }).connect();

  const sock = path.join(scratch, 'agent.sock');
  const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  const savedSock = process.env.SSH_AUTH_SOCK;
  try {
    for (let i = 0; i < 50 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise<void>((resolve, reject) => {
      const add = spawn('ssh-add', [theLab().keyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
      add.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ssh-add exited ${code}`))));
    });
    process.env.SSH_AUTH_SOCK = sock;
    const viaAgent = connectTo(h, 'admin', { sshKey: undefined });
    assert.is((await viaAgent.exec('whoami', { become: false })).stdout, 'admin\n');
  } finally {
    if (savedSock === undefined) delete process.env.SSH_AUTH_SOCK;
    else process.env.SSH_AUTH_SOCK = savedSock;
    agent.kill();
  }

  const otherKey = path.join(scratch, 'other_key');
  fs.writeFileSync(otherKey, ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
  const err = await rejection(connectTo(h, 'admin', { sshKey: otherKey }).connect());
  assert.is(err.kind, 'auth');
  assert.ok(err.message.includes(otherKey), err.message);

  const none = await rejection(connectTo(h, 'admin', { sshKey: path.join(scratch, 'missing_key') }).connect());
  assert.is(none.kind, 'auth');
  assert.match(none.message, /cannot read private key file/);
});

test('unreachable and timeout are told apart', async () => {
  const [h] = hosts();
  const refused = await rejection(connectTo(h, 'root', { port: 2 }).connect());
  assert.is(refused.kind, 'unreachable');
  assert.match(refused.message, /ECONNREFUSED/);

  // accepts TCP but never says a word
  const silent = net.createServer(() => {});
  const held: net.Socket[] = [];
  silent.on('connection', (s) => held.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const port = (silent.address() as net.AddressInfo).port;
    const started = Date.now();
    const err = await rejection(connectTo(h, 'root', { address: '127.0.0.1', port }, { connectTimeoutMs: 1000 }).connect());
    assert.is(err.kind, 'timeout');
    assert.ok(Date.now() - started < 5000);
  } finally {
    for (const s of held) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

// ---- reconnect ---------------------------------------------------------------------------------

test('reconnect after systemctl restart ssh on 3 hosts at once', async () => {
  await Promise.all(
    hosts().map(async (h) => {
      const t = connectTo(h, 'admin');
      const before = (await t.exec('systemctl show -p MainPID --value ssh')).stdout.trim();
      await t.exec('systemctl restart ssh');
      await t.reconnect(30_000);
      const after = (await t.exec('systemctl show -p MainPID --value ssh')).stdout.trim();
      assert.is.not(after, before, 'a new sshd');
      assert.is((await t.exec('hostname')).stdout, `${h.name}\n`);
      assert.is(await onHost(h, "ss -tnH state established '( sport = :22 )' | wc -l"), '1\n');
    }),
  );
});

test('reconnect after a reboot on 3 hosts at once', async () => {
  await Promise.all(
    hosts().map(async (h) => {
      const t = connectTo(h, 'operator');
      await t.exec('touch /run/cs-before-reboot');
      // the reboot may take the connection down before the exit status arrives
      await t.exec('systemctl reboot').catch((e: TransportError) => assert.is(e.kind, 'unreachable'));
      assert.ok(await t.waitForDisconnect(60_000), `${h.name} went down`);
      await t.reconnect(90_000);
      const r = await t.exec('test -e /run/cs-before-reboot && echo same boot || echo rebooted');
      assert.is(r.stdout, 'rebooted\n');
    }),
  );
});

// ---- jump host ---------------------------------------------------------------------------------

test('jump host: reach host 2 through host 1, with sudo and upload', async () => {
  const [h1, h2] = hosts();
  const t = connectTo(h2, 'operator', { jump: { address: h1.address, port: h1.port, user: 'admin', sshKey: theLab().keyPath } });
  assert.is((await t.exec('hostname; id -u')).stdout, `${h2.name}\n0\n`);
  await t.upload('/etc/cs-via-jump', 'jumped\n', { mode: 0o600 });
  assert.is(await onHost(h2, 'cat /etc/cs-via-jump'), 'jumped\n');
  const peers = await onHost(h2, "ss -tnH state established '( sport = :22 )'");
  assert.ok(peers.includes(`${h1.address}:`), `the connection comes from ${h1.name}: ${peers}`);
  // a target the jump host cannot reach
  const dead = connectTo(h2, 'root', { port: 2, jump: { address: h1.address, port: h1.port, user: 'admin' } });
  const err = await rejection(dead.connect());
  assert.is(err.kind, 'unreachable');
  assert.match(err.message, /jump host cannot reach/);
});

test.run();
