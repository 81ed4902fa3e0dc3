// The control-machine run lock (lib/locks/state-lock.ts) and race-free create-once state
// (lib/locks/create-once.ts and its users): real processes racing on real files.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LockHeldError, STATE_LOCK_FILE, acquireStateLock, processStartTime, type LockHolder } from '../../lib/locks/state-lock.ts';
import { withFileMutex } from '../../lib/locks/create-once.ts';
import { createPrivate } from '../../lib/state/private-files.ts';
import { loadOrCreateSealingKeys } from '../../lib/gitops/sealing-keys.ts';
import { loadOrCreateKeyPair } from '../../lib/publish/deploy-key.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-locks-'));
const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };

/** run a TypeScript snippet in a process of its own (through tsx); resolves with its output */
function child(source: string, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = path.join(tmp, `child-${Math.random().toString(36).slice(2)}.mts`);
  writeFileSync(file, source.replaceAll('@ROOT@', root));
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', file, ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function deadPid(): number {
  // a process that ran and exited: its pid is gone (reuse within the test is vanishingly unlikely)
  return spawnSync('true').pid;
}

function leftovers(dir: string): string[] {
  // the lock file itself is not a leftover
  return readdirSync(dir).filter((f) => f !== STATE_LOCK_FILE && /\.tmp$|\.lock$|\.takeover$/.test(f));
}

test('the lock file names pid, host, command and start time; release removes it', () => {
  const dir = path.join(tmp, 'basic');
  const lock = acquireStateLock(dir, { command: 'site.mjs -i inventory.yaml' });
  const file = path.join(dir, STATE_LOCK_FILE);
  const holder = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
  assert.is(holder.pid, process.pid);
  assert.is(holder.host, os.hostname());
  assert.is(holder.command, 'site.mjs -i inventory.yaml');
  assert.ok(Date.now() - Date.parse(holder.startedAt) < 60_000);
  assert.is(readdirSync(dir).length, 1, 'only the lock file, no temp file');
  lock.release();
  assert.not.ok(existsSync(file));
  lock.release(); // idempotent
});

test('a live holder refuses at once, naming it; the file stays theirs', () => {
  const dir = path.join(tmp, 'live');
  const file = path.join(dir, STATE_LOCK_FILE);
  // PID 1 of this machine is alive for sure: a lock held by it is a live lock
  const other: LockHolder = {
    pid: 1,
    host: os.hostname(),
    command: 'site.mjs --check',
    startedAt: new Date(Date.now() - 5000).toISOString(),
    procStart: processStartTime(1),
    id: 'theirs',
  };
  spawnSync('mkdir', ['-p', dir]);
  writeFileSync(file, JSON.stringify(other), { mode: 0o600 });
  const err = (() => {
    try {
      acquireStateLock(dir, { command: 'site.mjs' });
    } catch (e) {
      return e as LockHeldError;
    }
  })();
  assert.instance(err, LockHeldError);
  assert.match(err!.message, /pid 1 on /);
  assert.match(err!.message, /"site\.mjs --check"/);
  assert.match(err!.message, /started .* \(\d+ s ago\)/);
  assert.is(JSON.parse(readFileSync(file, 'utf8')).id, 'theirs');
  assert.equal(leftovers(dir), []);
});

test('a lock of a process that is gone is taken over with a warning', () => {
  const dir = path.join(tmp, 'stale');
  spawnSync('mkdir', ['-p', dir]);
  const file = path.join(dir, STATE_LOCK_FILE);
  const pid = deadPid();
  writeFileSync(file, JSON.stringify({ pid, host: os.hostname(), command: 'site.mjs', startedAt: new Date().toISOString(), id: 'old' }), {
    mode: 0o600,
  });
  const warnings: string[] = [];
  const lock = acquireStateLock(dir, { command: 'reset.mjs', warn: (m) => warnings.push(m) });
  assert.is(JSON.parse(readFileSync(file, 'utf8')).pid, process.pid);
  assert.is(warnings.length, 1);
  assert.match(warnings[0], new RegExp(`stale lock .* pid ${pid} .* that process is gone`));
  lock.release();
  assert.equal(readdirSync(dir), []);
});

test("a reused pid (alive, but started at another time) is stale too; another machine's lock is not", () => {
  const dir = path.join(tmp, 'reused');
  spawnSync('mkdir', ['-p', dir]);
  const file = path.join(dir, STATE_LOCK_FILE);
  writeFileSync(
    file,
    JSON.stringify({ pid: 1, host: os.hostname(), command: 'site.mjs', startedAt: new Date().toISOString(), procStart: '1', id: 'reused' }),
    { mode: 0o600 }, // as every lock file is: a looser one would be tightened with a warning (lib/state)
  );
  const warnings: string[] = [];
  acquireStateLock(dir, { command: 'site.mjs', warn: (m) => warnings.push(m) }).release();
  assert.is(warnings.length, 1);
  writeFileSync(
    file,
    JSON.stringify({ pid: deadPid(), host: 'some-other-machine', command: 'site.mjs', startedAt: new Date().toISOString(), id: 'remote' }),
    { mode: 0o600 },
  );
  assert.throws(() => acquireStateLock(dir, { command: 'site.mjs' }), /on some-other-machine/);
});

test('nested acquire in one process shares the lock (idempotency.mjs runs site twice)', () => {
  const dir = path.join(tmp, 'nested');
  const outer = acquireStateLock(dir, { command: 'idempotency.mjs' });
  const inner = acquireStateLock(dir, { command: 'site.mjs' });
  inner.release();
  assert.ok(existsSync(path.join(dir, STATE_LOCK_FILE)), 'still held by the outer acquire');
  outer.release();
  assert.not.ok(existsSync(path.join(dir, STATE_LOCK_FILE)));
});

test('a release does not remove a lock someone else took over meanwhile', () => {
  const dir = path.join(tmp, 'taken');
  const lock = acquireStateLock(dir, { command: 'site.mjs' });
  const file = path.join(dir, STATE_LOCK_FILE);
  writeFileSync(
    file,
    JSON.stringify({ pid: 1, host: os.hostname(), command: 'site.mjs', startedAt: new Date().toISOString(), id: 'new-owner' }),
  );
  lock.release();
  assert.is(JSON.parse(readFileSync(file, 'utf8')).id, 'new-owner');
});

const racer = `
import { acquireStateLock } from '@ROOT@/lib/locks/state-lock.ts';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
const [dir, mode, startAt, barrier, racers] = process.argv.slice(2);
// racers started together wait for one instant, so they really contend (tsx startup varies by seconds)
if (startAt) await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
// every racer records its attempt; a holder keeps the lock until all have tried (or 45 s), so a
// racer that starts late on a loaded machine still meets the lock held instead of winning in turn
const attempted = () => { if (barrier) { mkdirSync(barrier, { recursive: true }); writeFileSync(barrier + '/' + process.pid, ''); } };
try {
  const lock = acquireStateLock(dir, { command: 'racer', warn: (m) => console.log('WARN ' + m) });
  attempted();
  console.log('WON ' + process.pid);
  if (mode === 'hold') {
    const until = Date.now() + 45_000;
    while (readdirSync(barrier).length < Number(racers) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  }
  if (mode !== 'crash') lock.release();
  else process.kill(process.pid, 'SIGKILL');
} catch (e) {
  attempted();
  console.log('REFUSED ' + (e as Error).name + ' ' + (e as Error).message);
  process.exit(1);
}
`;

test('8 processes racing for one state dir: exactly one holds it, the others are refused naming it', { timeoutSeconds: 300 }, async () => {
  const dir = path.join(tmp, 'race');
  const startAt = Date.now() + 10_000;
  const results = await Promise.all(
    Array.from({ length: 8 }, () => child(racer, [dir, 'hold', String(startAt), path.join(tmp, 'race-attempts'), '8'])),
  );
  const won = results.filter((r) => r.stdout.startsWith('WON'));
  const refused = results.filter((r) => r.stdout.startsWith('REFUSED LockHeldError'));
  assert.is(won.length, 1, results.map((r) => r.stdout + r.stderr).join('\n'));
  assert.is(refused.length, 7, results.map((r) => r.stdout + r.stderr).join('\n'));
  const winner = won[0].stdout.trim().split(' ')[1];
  for (const r of refused) assert.match(r.stdout, new RegExp(`pid ${winner} on `));
  assert.equal(readdirSync(dir), [], 'no lock, temp or guard file left');
});

test('a SIGKILLed holder leaves a stale lock the next process takes over', async () => {
  const dir = path.join(tmp, 'killed');
  const first = await child(racer, [dir, 'crash']);
  assert.match(first.stdout, /WON/);
  assert.ok(existsSync(path.join(dir, STATE_LOCK_FILE)));
  const second = await child(racer, [dir, 'quick']);
  assert.match(second.stdout, /WARN took over a stale lock/);
  assert.match(second.stdout, /WON/);
  assert.equal(readdirSync(dir), []);
});

test('createPrivate: 20 concurrent creators, one content wins, every loser is told, no temp file', async () => {
  const dir = await fs.mkdtemp(path.join(tmp, 'excl-'));
  const file = path.join(dir, 'state');
  const won = await Promise.all(Array.from({ length: 20 }, async (_, i) => createPrivate(file, `content ${i}\n`.repeat(1000))));
  assert.is(won.filter(Boolean).length, 1);
  const winner = won.indexOf(true);
  assert.is(readFileSync(file, 'utf8'), `content ${winner}\n`.repeat(1000));
  assert.is((await fs.stat(file)).mode & 0o777, 0o600);
  assert.equal(readdirSync(dir), ['state']);
});

const tokenRacer = `
import { loadOrCreateToken } from '@ROOT@/lib/k3s/token.ts';
const r = loadOrCreateToken(process.argv[2]);
console.log(r.token + ' ' + r.created);
`;

test('K3s token: 8 processes creating it at once all use ONE token (no empty read, no EEXIST)', { timeoutSeconds: 300 }, async () => {
  const dir = path.join(tmp, 'token');
  const file = path.join(dir, 'token');
  const results = await Promise.all(Array.from({ length: 8 }, () => child(tokenRacer, [file])));
  for (const r of results) assert.is(r.code, 0, r.stderr);
  const tokens = new Set(results.map((r) => r.stdout.trim().split(' ')[0]));
  assert.is(tokens.size, 1);
  assert.is(readFileSync(file, 'utf8').trim(), [...tokens][0]);
  assert.is(results.filter((r) => r.stdout.trim().endsWith('true')).length, 1, 'one creator');
  assert.equal(readdirSync(dir), ['token']);
});

const sealRacer = `
import { loadOrCreateSealingKeys } from '@ROOT@/lib/gitops/sealing-keys.ts';
const k = await loadOrCreateSealingKeys(process.argv[2], { keySize: 2048 });
console.log(JSON.stringify({ cert: k.certificatePem, created: k.created }));
`;

test('sealing key: 4 processes and 4 in-process callers creating it at once end with ONE pair all use', async () => {
  const dir = path.join(tmp, 'sealing');
  const [procs, local] = await Promise.all([
    Promise.all(Array.from({ length: 4 }, () => child(sealRacer, [dir]))),
    Promise.all(Array.from({ length: 4 }, () => loadOrCreateSealingKeys(dir, { keySize: 2048 }))),
  ]);
  for (const r of procs) assert.is(r.code, 0, r.stderr);
  const certs = new Set([...procs.map((r) => JSON.parse(r.stdout).cert), ...local.map((k) => k.certificatePem)]);
  assert.is(certs.size, 1, 'one certificate everywhere');
  assert.is(readFileSync(path.join(dir, 'sealed-secrets.crt'), 'utf8'), [...certs][0]);
  const created = [...procs.map((r) => JSON.parse(r.stdout).created), ...local.map((k) => k.created)].filter(Boolean);
  assert.is(created.length, 1, 'one creator');
  assert.equal(readdirSync(dir).sort(), ['sealed-secrets.crt', 'sealed-secrets.key']);
});

test('deploy key: concurrent creators end with one key', async () => {
  const file = path.join(tmp, 'deploy', 'key_ed25519');
  const pairs = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateKeyPair(file, 'clusterseed', quiet)));
  assert.is(new Set(pairs.map((p) => p.publicKey)).size, 1);
  assert.is(pairs.filter((p) => p.generated).length, 1);
  assert.is(readFileSync(file, 'utf8'), pairs[0].privateKey);
  assert.equal(readdirSync(path.dirname(file)).sort(), ['key_ed25519', 'key_ed25519.pub']);
});

test('withFileMutex serialises read-modify-write: 30 concurrent increments all count', async () => {
  const file = path.join(tmp, 'counter');
  writeFileSync(file, '0');
  await Promise.all(
    Array.from({ length: 30 }, () =>
      withFileMutex(file, async () => {
        const n = Number(await fs.readFile(file, 'utf8'));
        await new Promise((r) => setTimeout(r, 1));
        await fs.writeFile(file, String(n + 1));
      }),
    ),
  );
  assert.is(readFileSync(file, 'utf8'), '30');
  assert.not.ok(existsSync(`${file}.lock`));
});

test.after(() => {
  spawnSync('rm', ['-rf', tmp]);
});

test.run();
