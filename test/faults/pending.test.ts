// Issue 20, "converged on paper, not on the host": faults injected between the hardened sshd
// drop-in's install and the reload that makes it live, on real hosts (nspawn, systemd, sshd), with
// the real site CLI as a child process. Each scenario asserts the LIVE state through real logins
// (root with a key, a weak key exchange), not only the report:
//   1. a failing reload handler (a one-off `ExecReload=/bin/false` on the host) → --check exits 3
//      naming the pending reload; once reload works again the next run reloads and proves; then
//      changed=0;
//   2. the tool SIGKILLed while the reload hangs (a one-off `ExecReload=/bin/sleep`) → same;
//   3. the connection cut mid-role on 1 of 2 hosts (link down, sshd killed, right when the pending
//      record appears): the other host finishes, the cut one is unreachable (exit 2), a rerun after
//      restoring converges with nothing left pending.
// apparmor and auditd are off in the inventory: their apt installs would only make the first run
// slower; the firewall stays on (its apply and proof run before sshd's in every scenario).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLab, type TestLab } from '../harness/hosts.ts';

const DROPIN = '/etc/ssh/sshd_config.d/00-clusterseed-harden.conf';
const PENDING_DIR = '/var/lib/clusterseed/pending';
const RELOAD_RECORD = `${PENDING_DIR}/harden--reload%20sshd`;
const ROLLBACK = '/var/lib/clusterseed/sshd-rollback';
const HOLD = '/etc/systemd/system/ssh.service.d/zz-fault.conf';
/** a whole first harden run on a loaded machine stays well below this */
const RUN_TIMEOUT_MS = 240_000;

let lab: TestLab;
let h1: string;
let h2: string;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-faults-pending-'));

test.before(async () => {
  lab = await startLab({ count: 2, prefix: 'pend' });
  [h1, h2] = lab.hosts.map((h) => h.name);
});
test.after(async () => {
  await lab?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/**
 * An inventory in a directory of its own: each run has its own control-machine state dir, so
 * runs on different hosts may overlap.
 */
function inventory(name: string, sshdSettings: Record<string, unknown> = {}): string {
  const file = lab.writeInventory({
    servers: [h1],
    agents: [h2],
    extra: { vars: { harden: { apparmor: { enabled: false }, auditd: { enabled: false }, sshd: { settings: sshdSettings } } } },
  });
  const dir = mkdtempSync(path.join(tmp, `${name}-`));
  copyFileSync(file, path.join(dir, 'inventory.yaml'));
  return path.join(dir, 'inventory.yaml');
}

interface SiteRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  report?: {
    hosts: {
      host: string;
      outcome: string;
      counts: Record<string, number>;
      tasks: { task: string; outcome: string; summary?: string; message?: string }[];
    }[];
  };
}

/** The real CLI in a process group of its own (so all of it can be killed), with a hard timeout. */
function startSite(inv: string, args: string[]): { done: Promise<SiteRun>; kill: () => void } {
  const json = path.join(path.dirname(inv), `report-${Date.now()}.json`);
  const child = spawn('npx', ['zx', 'scripts/site.mjs', '-i', inv, '--skip-push', '--tags', 'harden', '--json', json, ...args], {
    cwd: process.cwd(),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(kill, RUN_TIMEOUT_MS);
  const done = new Promise<SiteRun>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let report;
      try {
        report = JSON.parse(readFileSync(json, 'utf8'));
      } catch {
        report = undefined;
      }
      resolve({ code, signal, out, report });
    });
  });
  return { done, kill };
}

const site = (inv: string, args: string[] = []) => startSite(inv, args).done;
const sh = async (host: string, cmd: string, timeoutMs = 30_000) => (await lab.sh(host, cmd, { timeoutMs })).stdout.trim();
const addressOf = (name: string) => lab.hosts.find((h) => h.name === name)!.address;
const hostReport = (r: SiteRun, name: string) => r.report?.hosts.find((h) => h.host === name);

/** exit code of a real ssh login from this machine (0 = in) */
function login(host: string, user: string, extra: string[] = []): Promise<number> {
  return new Promise((resolve) => {
    execFile(
      'ssh',
      [
        '-i',
        lab.keyPath,
        '-o',
        `UserKnownHostsFile=${lab.knownHostsFile}`,
        '-o',
        'BatchMode=yes',
        '-o',
        'ConnectTimeout=10',
        ...extra,
        `${user}@${addressOf(host)}`,
        'true',
      ],
      { timeout: 30_000 },
      (err) => {
        const code = (err as { code?: unknown } | null)?.code;
        resolve(err ? (typeof code === 'number' ? code : 255) : 0);
      },
    );
  });
}

/** What the live sshd does, asked the only way that cannot be fooled by the files: logging in. */
async function liveSshd(host: string): Promise<{ rootKeyLogin: boolean; weakKex: boolean; adminLogin: boolean }> {
  const [root, weak, admin] = await Promise.all([
    login(host, 'root'),
    login(host, 'admin', ['-o', 'KexAlgorithms=ecdh-sha2-nistp256']),
    login(host, 'admin'),
  ]);
  return { rootKeyLogin: root === 0, weakKex: weak === 0, adminLogin: admin === 0 };
}

async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** A one-off systemd drop-in on the test host that replaces ssh.service's reload. */
async function holdReload(host: string, command: string): Promise<void> {
  await sh(
    host,
    `mkdir -p ${path.posix.dirname(HOLD)} && printf '[Service]\\nExecReload=\\nExecReload=${command}\\n' > ${HOLD} && systemctl daemon-reload`,
  );
}
async function releaseReload(host: string): Promise<void> {
  // a reload still hanging: make every further reload fail at once (the killed run's remote shell
  // outlives it and tries `reload-or-restart sshd.service` next), then kill the hanging one's
  // control process: the reload fails and sshd keeps the configuration it has
  await holdReload(host, '/bin/false');
  await sh(host, 'systemctl kill --kill-whom=control --signal=KILL ssh.service 2>/dev/null; true');
  const settled = async () =>
    (await sh(host, 'systemctl show -p ActiveState --value ssh.service; pgrep -x systemctl >/dev/null && echo busy; true')) === 'active';
  try {
    await waitFor(`ssh.service active, no systemctl left on ${host}`, 20_000, settled);
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${await sh(host, 'systemctl status --no-pager ssh.service 2>&1 | head -20; ps -ef')}`);
  }
  await sh(host, `rm -f ${HOLD} && systemctl daemon-reload`);
}

/** nothing left that says an install was not proven */
async function assertNothingPending(host: string): Promise<void> {
  assert.is(
    await sh(host, `ls -A ${PENDING_DIR} 2>/dev/null; [ -e ${ROLLBACK} ] && echo rollback-left; true`),
    '',
    `${host}: nothing pending`,
  );
}

/** the files say hardened (sshd -T reads them) */
async function assertFilesHardened(host: string): Promise<void> {
  const t = await sh(host, 'sshd -T -C user=root,host=x,addr=192.0.2.1 | grep -E "^(permitrootlogin|kexalgorithms) "');
  assert.match(t, /^permitrootlogin no$/m, `${host}: ${t}`);
  assert.not.match(t, /ecdh-sha2-nistp256/, `${host}: ${t}`);
}

async function assertConvergedAndLive(inv: string, host: string): Promise<void> {
  await assertFilesHardened(host);
  assert.equal(
    await liveSshd(host),
    { rootKeyLogin: false, weakKex: false, adminLogin: true },
    `${host}: the live sshd runs the hardened settings`,
  );
  await assertNothingPending(host);
  const third = await site(inv, ['--limit', host]);
  assert.is(third.code, 0, third.out);
  assert.is(hostReport(third, host)!.counts.changed, 0, third.out);
}

/** --check after the fault: exit 3, the pending reload named, nothing changed on the host */
async function assertCheckNamesPendingReload(inv: string, host: string): Promise<void> {
  const check = await site(inv, ['--check', '--limit', host]);
  assert.is(check.code, 3, check.out);
  assert.match(check.out, new RegExp(`\\[${host}\\] pending: \\[harden\\] reload sshd \\(since \\d{4}-\\d\\d-\\d\\dT`), check.out);
  const pendingTask = hostReport(check, host)!.tasks.find((t) => t.task === 'handler: reload sshd');
  assert.is(pendingTask?.outcome, 'changed', 'the pending reload counts as a change in the JSON report');
  assert.ok(await sh(host, `test -f ${RELOAD_RECORD} && echo yes`), '--check left the record');
}

test('a failing reload handler, then the tool SIGKILLed before the reload: the files are hardened, the live sshd is not, --check exits 3; the next run reloads and proves', async () => {
  const invFail = inventory('failing-handler');
  const invKill = inventory('killed');
  await Promise.all([holdReload(h1, '/bin/false'), holdReload(h2, '/bin/sleep 600')]);

  // h1: the reload fails; h2: the reload hangs, and the tool is SIGKILLed while it does
  const failing = site(invFail, ['--limit', h1]);
  const killed = startSite(invKill, ['--limit', h2]);
  await waitFor(
    `the reload of sshd on ${h2}`,
    RUN_TIMEOUT_MS,
    async () => (await sh(h2, 'systemctl show -p ActiveState --value ssh.service')) === 'reloading',
  );
  killed.kill();
  const [failed, kill] = await Promise.all([failing, killed.done]);
  assert.is(failed.code, 2, failed.out);
  assert.match(failed.out, /handler: reload sshd.*reload sshd failed/s, failed.out);
  assert.is(kill.signal, 'SIGKILL');
  await Promise.all([releaseReload(h1), releaseReload(h2)]);

  // converged on paper: the files are hardened, the live sshd still lets root in and offers weak kex
  for (const host of [h1, h2]) {
    await assertFilesHardened(host);
    assert.equal(
      await liveSshd(host),
      { rootKeyLogin: true, weakKex: true, adminLogin: true },
      `${host}: the live sshd still runs the old settings`,
    );
    assert.match(
      await sh(host, `cat ${RELOAD_RECORD}`),
      /^role=harden\nhandler=reload sshd\nsince=\S+\nby=(DH moduli of 3072\+ bits only|sshd hardened configuration)$/,
    );
  }
  await Promise.all([assertCheckNamesPendingReload(invFail, h1), assertCheckNamesPendingReload(invKill, h2)]);

  const [rerun1, rerun2] = await Promise.all([site(invFail, ['--limit', h1]), site(invKill, ['--limit', h2])]);
  for (const [host, r] of [
    [h1, rerun1],
    [h2, rerun2],
  ] as const) {
    assert.is(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`\\[${host}\\] handler: \\[harden\\] reload sshd \\(pending since `), r.out);
  }
  await Promise.all([assertConvergedAndLive(invFail, h1), assertConvergedAndLive(invKill, h2)]);
});

test('the connection cut mid-role on 1 of 2 hosts (link down, sshd killed): the other finishes, the cut one is unreachable (exit 2), a rerun converges with nothing pending', async () => {
  // a setting both hosts do not have yet: the sshd task installs and notifies the reload again
  const inv = inventory('cut', { MaxAuthTries: 2 });
  const route = await sh(h2, 'ip route show default');
  assert.match(route, /^default via /);
  // inside h2, the moment the pending record appears (the next command installs the drop-in):
  // every sshd process of the host is killed (the listener and the run's own session), then its
  // link goes down. Killed first, the run sees its connection reset at once instead of waiting
  // out the SSH keepalives (≈ 45 s) a silent link loss costs.
  const stop = '/run/cs-fault-watch-stop';
  const cut = lab.sh(
    h2,
    `rm -f ${stop}; while [ ! -e ${RELOAD_RECORD} ]; do [ ! -e ${stop} ] || exit 9; sleep 0.01; done; ` +
      `kill -KILL $(pidof sshd) && sleep 0.2 && ip link set eth0 down && echo cut`,
    { timeoutMs: RUN_TIMEOUT_MS },
  );
  const started = Date.now();
  const r = await site(inv);
  // a run that never recorded the reload ends the watch too (the host is not cut then)
  await sh(h2, `touch ${stop}`);
  const cutResult = await cut;
  assert.is(cutResult.stdout.trim(), 'cut', cutResult.stderr);
  try {
    assert.is(r.code, 2, r.out);
    assert.is(hostReport(r, h1)!.outcome, 'changed', r.out);
    assert.is(hostReport(r, h2)!.outcome, 'unreachable', r.out);
    assert.ok(Date.now() - started < RUN_TIMEOUT_MS, 'the run gave up on the cut host by itself');
    // h1 finished: MaxAuthTries 2 live there, nothing pending
    assert.match(await sh(h1, 'sshd -T -C user=admin,host=x,addr=192.0.2.1 | grep ^maxauthtries'), /^maxauthtries 2$/);
    await assertNothingPending(h1);
    assert.ok(await sh(h2, `test -f ${RELOAD_RECORD} && echo yes`), 'the cut host keeps the pending reload');
  } finally {
    // restore h2: link and route back, sshd running
    await sh(h2, `ip link set eth0 up; ip route replace ${route}; systemctl start ssh.service`);
    await lab.waitForSsh(h2);
  }
  const rerun = await site(inv);
  assert.is(rerun.code, 0, rerun.out);
  assert.is(hostReport(rerun, h1)!.counts.changed, 0, rerun.out);
  assert.ok(
    hostReport(rerun, h2)!.tasks.some((t) => t.task === 'handler: reload sshd' && t.outcome === 'changed'),
    rerun.out,
  );
  assert.match(await sh(h2, 'sshd -T -C user=admin,host=x,addr=192.0.2.1 | grep ^maxauthtries'), /^maxauthtries 2$/);
  // the reload happened after the install: sshd's last state change (the reload) is not older than the drop-in
  assert.is(
    await sh(
      h2,
      `[ "$(date -d "$(systemctl show -p StateChangeTimestamp --value ssh.service)" +%s)" -ge "$(stat -c %Y ${DROPIN})" ] && echo reloaded-after-install`,
    ),
    'reloaded-after-install',
  );
  await assertConvergedAndLive(inv, h2);
});

test.run();
