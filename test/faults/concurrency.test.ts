// Issue 20, "one run at a time" and "interrupted runs", on real hosts (nspawn containers with systemd
// and sshd) with the real CLI as child processes: two runs on one inventory, two runs from two state
// dirs on the same hosts, a stale lock, SIGINT in the middle of a run.
//
// A run is held in the middle deterministically: the test holds dpkg's frontend lock on one host
// (an fcntl lock, as apt takes it, through perl which every Debian has), so the base role's apt
// install waits there (DPkg::Lock::Timeout) until the test lets go or interrupts the run.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLab, type TestLab } from '../harness/hosts.ts';
import type { HostReport, TaskReport } from '../../lib/runner/types.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-faults-locks-'));
let lab: TestLab;
let h1: string;
let h2: string;

test.before(async () => {
  lab = await startLab({ count: 2, prefix: 'lock' });
  [h1, h2] = lab.hosts.map((h) => h.name);
});
test.after(async () => {
  await lab?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  out: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>;
}

/** scripts/site.mjs as a child process of its own (its pid is the run's pid) */
function start(args: string[], timeoutMs = 300_000): Run {
  const child = spawn(process.execPath, [path.join(root, 'scripts/site.mjs'), ...args], {
    cwd: root,
    env: { ...process.env, FORCE_COLOR: '0', CLUSTERSEED_INTERRUPT_GRACE_MS: '4000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
  return { child, out: () => out, done };
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** hold dpkg's frontend lock on a host the way apt takes it (fcntl); returns the holder's pid there */
async function holdDpkgLock(host: string): Promise<string> {
  const perl =
    'use Fcntl; open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die $!; ' +
    'my $s = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLKW, $s) or die $!; sleep 600';
  const r = await lab.sh(host, `setsid perl -e '${perl}' </dev/null >/dev/null 2>&1 & echo $!`);
  assert.is(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** temp files a run must not leave: in /etc/ssh, /run, and the login user's staging dir */
async function hostDebris(host: string): Promise<string> {
  const r = await lab.sh(
    host,
    "find /etc/ssh /run -xdev \\( -name '*.tmp' -o -name '*.cs-new' -o -name '*cs-tmp*' -o -name 'clusterseed-*' \\) -print 2>/dev/null; " +
      'find /home/admin/.clusterseed-staging -type f -print 2>/dev/null; true',
  );
  return r.stdout.trim();
}

function stateDebris(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.tmp$|\.lock$|\.takeover$/.test(e.name)) found.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return found;
}

test('two runs at once: same inventory refused at once (exit 1, holder named), another state dir refused per host by the host lock; SIGINT mid-run: recap, JSON with interrupted hosts, exit 130, nothing left behind, a rerun converges', async () => {
  const inv = lab.writeInventory({ servers: [h1], agents: [h2] });
  const stateDir = path.join(path.dirname(inv), '.clusterseed');
  const json = path.join(tmp, 'interrupted.json');
  const dpkgHolder = await holdDpkgLock(h1);
  let first: Run | undefined;
  try {
    const a = start(['-i', inv, '--skip-push', '--tags', 'base', '--json', json]);
    first = a;
    // the first run is inside the base role's apt install on h1, waiting for dpkg's lock
    await waitFor(
      'the first run to reach apt on ' + h1,
      () => new RegExp(`\\[${h1}\\] changed: \\[base\\].*install`).test(a.out()),
      240_000,
    );
    assert.ok(existsSync(path.join(stateDir, 'run.lock')), 'the first run holds the state dir lock');

    // same inventory: refused at once, exit 1, naming the first run
    const t0 = Date.now();
    const second = await start(['-i', inv, '--skip-push', '--tags', 'base'], 200_000).done;
    assert.is(second.code, 1, second.out);
    assert.match(
      second.out,
      new RegExp(`another clusterseed run holds .*run\\.lock: pid ${a.child.pid} on ${os.hostname()}, "site\\.mjs -i .* --tags base`),
    );
    assert.not.match(second.out, /\n\s+at /, 'no stack trace');
    assert.not.match(second.out, /RECAP/, 'refused before any host was contacted');
    // refused without waiting for the first run (that one waits for dpkg until the test lets go);
    // the bound is loose: on this shared machine node's start-up alone can take a minute
    assert.ok(Date.now() - t0 < 150_000, `refused at once (took ${Date.now() - t0} ms, mostly node start-up)`);

    // another control machine (another state dir) on the same hosts: each host refuses it
    const otherDir = path.join(tmp, 'other-control-machine');
    mkdirSync(otherDir, { recursive: true });
    const otherInv = path.join(otherDir, 'inventory.yaml');
    copyFileSync(inv, otherInv);
    const otherJson = path.join(tmp, 'other.json');
    const third = await start(['-i', otherInv, '--skip-push', '--tags', 'base', '--json', otherJson], 200_000).done;
    assert.is(third.code, 2, third.out);
    const report3 = JSON.parse(readFileSync(otherJson, 'utf8'));
    for (const h of report3.hosts) {
      assert.is(h.outcome, 'failed', JSON.stringify(h));
      assert.is(h.counts.changed, 0);
      const msg = h.tasks.find((t: TaskReport) => t.outcome === 'failed').message as string;
      assert.match(
        msg,
        new RegExp(
          `another clusterseed run holds this host's run lock /run/clusterseed/run\\.lock: pid ${a.child.pid} on ${os.hostname()}, "site\\.mjs -i ${inv.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} --tags base --skip-push", started `,
        ),
      );
      assert.match(msg, /sshd pid \d+ on this host/);
    }
    assert.not.ok(existsSync(path.join(otherDir, '.clusterseed', 'run.lock')), 'the refused run released its own state lock');

    // SIGINT: no new task starts; the apt install still waiting is abandoned after the grace
    a.child.kill('SIGINT');
    const res = await a.done;
    assert.is(res.code, 130, res.out);
    assert.match(res.out, /SIGINT: stopping; no new task starts/);
    assert.match(res.out, /RECAP/);
    assert.match(res.out, new RegExp(`${h1}\\s+: ok=\\d+ changed=\\d+ .* INTERRUPTED`));
    assert.match(res.out, new RegExp(`INTERRUPTED \\(SIGINT\\): .*${h1}.* did not finish; run again to converge`));
    assert.not.match(res.out, /\n\s+at /, 'no stack trace');
    const report = JSON.parse(readFileSync(json, 'utf8'));
    assert.is(report.interrupted, 'SIGINT');
    const byName = Object.fromEntries(report.hosts.map((h: HostReport) => [h.host, h]));
    assert.is(byName[h1].interrupted, true);
    assert.ok(
      byName[h1].tasks.some((t: TaskReport) => /abandoned on interrupt/.test(t.message ?? '')),
      JSON.stringify(byName[h1].tasks),
    );
    // every lock released: the state dir's at once, each host's as soon as its connection is gone
    assert.not.ok(existsSync(path.join(stateDir, 'run.lock')));
    for (const host of [h1, h2]) {
      await waitFor(
        `${host}'s run lock to be free`,
        async () => (await lab.sh(host, 'flock -n /run/clusterseed/run.lock true')).code === 0,
        10_000,
      );
    }
  } finally {
    // a failed assertion must not leave the first run behind
    if (first && first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL');
    await lab.sh(h1, `kill ${dpkgHolder} 2>/dev/null; true`);
  }
  // wait for the abandoned apt on h1 to finish or give up before converging again
  await waitFor(
    'apt to leave dpkg alone on ' + h1,
    async () => (await lab.sh(h1, 'pgrep -x apt-get >/dev/null || echo idle')).stdout.includes('idle'),
    120_000,
  );
  assert.equal(stateDebris(stateDir), [], 'no temp or lock file in the state dir');
  assert.equal(stateDebris(path.join(tmp, 'other-control-machine', '.clusterseed')), []);
  for (const host of [h1, h2]) assert.is(await hostDebris(host), '', `${host}: no temp files left`);

  // a rerun converges, and a check after it finds nothing to do
  const rerun = await start(['-i', inv, '--skip-push', '--tags', 'base'], 300_000).done;
  assert.is(rerun.code, 0, rerun.out);
  assert.not.match(rerun.out, /INTERRUPTED/);
  const check = await start(['-i', inv, '--skip-push', '--tags', 'base', '--check'], 240_000).done;
  assert.is(check.code, 0, check.out);
  assert.match(check.out, /No changes/);
});

test('a stale state lock (its process is gone) is taken over with a warning; the run then succeeds and releases it', async () => {
  const inv = lab.writeInventory({ servers: [h1], agents: [h2] });
  const lockFile = path.join(path.dirname(inv), '.clusterseed', 'run.lock');
  mkdirSync(path.dirname(lockFile), { recursive: true });
  const gone = spawn('true');
  await new Promise((r) => gone.on('close', r));
  writeFileSync(
    lockFile,
    JSON.stringify({
      pid: gone.pid,
      host: os.hostname(),
      command: 'site.mjs (killed)',
      startedAt: new Date(Date.now() - 60_000).toISOString(),
      id: 'stale',
    }),
  );
  const r = await start(['-i', inv, '--skip-push', '--tags', 'facts'], 200_000).done;
  assert.is(r.code, 0, r.out);
  assert.match(
    r.out,
    new RegExp(
      `WARNING: took over a stale lock .*run\\.lock left by pid ${gone.pid} on ${os.hostname()}, "site\\.mjs \\(killed\\)".*that process is gone`,
    ),
  );
  assert.not.ok(existsSync(lockFile));
});

test('the host lock costs no round trip (facts stay 1) and a live holder on the host is named, pid and start time', async () => {
  const inv = lab.writeInventory({ servers: [h1], agents: [h2] });
  const json = path.join(tmp, 'facts.json');
  const ok = await start(['-i', inv, '--skip-push', '--tags', 'facts', '--json', json], 200_000).done;
  assert.is(ok.code, 0, ok.out);
  for (const h of JSON.parse(readFileSync(json, 'utf8')).hosts) assert.is(h.roundTripsByRole.facts, 1, 'lock and facts in one round trip');
  const written = JSON.parse((await lab.sh(h1, 'cat /run/clusterseed/run.lock')).stdout);
  assert.is(written.host, os.hostname(), 'the run wrote its control machine into the host lock file');
  assert.match(written.command, /^site\.mjs -i .* --tags facts --skip-push$/);

  // a run of another control machine holds h2 (a live process with the lock, its own lock file)
  const holder = { pid: 4242, host: 'laptop-of-alice', command: 'site.mjs -i prod.yaml', startedAt: '2026-12-05T04:00:00.000Z', watch: 1 };
  await lab.sh(
    h2,
    `printf '%s\\n' '${JSON.stringify(holder)}' >/run/clusterseed/run.lock; setsid flock /run/clusterseed/run.lock sleep 60 </dev/null >/dev/null 2>&1 & echo $! >/tmp/holder.pid`,
  );
  try {
    const json2 = path.join(tmp, 'held.json');
    const held = await start(['-i', inv, '--skip-push', '--tags', 'facts', '--json', json2], 200_000).done;
    assert.is(held.code, 2, held.out);
    const byName = Object.fromEntries(JSON.parse(readFileSync(json2, 'utf8')).hosts.map((h: HostReport) => [h.host, h]));
    assert.is(byName[h1].outcome, 'ok');
    assert.is(byName[h2].outcome, 'failed');
    assert.match(byName[h2].tasks[0].message, /pid 4242 on laptop-of-alice, "site\.mjs -i prod\.yaml", started 2026-12-05T04:00:00\.000Z/);
    assert.match(held.out, new RegExp(`FAILED on ${h2} \\(failed\\)`));
  } finally {
    await lab.sh(h2, 'kill $(cat /tmp/holder.pid) 2>/dev/null; rm -f /tmp/holder.pid; true');
  }
});

test.run();
