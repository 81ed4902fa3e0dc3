// SIGINT/SIGTERM during a run (lib/runner/interrupt.ts, run-site.ts, run-role.ts, recap.ts): the
// running task finishes and its handlers run, nothing new starts, interrupted hosts are marked; a
// task that does not finish is abandoned by closing its connection.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Role } from '../../lib/runner/types.ts';
import { TransportError } from '../../lib/ssh/types.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { formatRecap } from '../../lib/runner/recap.ts';
import { watchInterrupts } from '../../lib/runner/interrupt.ts';
import { LocalTransport } from '../support/local-transport.ts';
import { localInventory } from '../support/local-run.ts';
import { quiet } from '../support/host-context.ts';

/** a transport whose `hang` command never returns until the connection is closed */
class HangingTransport extends LocalTransport {
  private pending: Array<(e: Error) => void> = [];
  closed = false;
  hanging = false;
  override exec(script: string, opts = {}) {
    if (script !== 'hang') return super.exec(script, opts);
    this.roundTrips++;
    this.hanging = true;
    return new Promise<never>((_, reject) => this.pending.push(reject));
  }
  override async close() {
    this.closed = true;
    for (const r of this.pending.splice(0))
      r(new TransportError(`${this.host.name}: connection lost while a command was running`, 'unreachable'));
  }
}

function controllers() {
  const stop = new AbortController();
  const abandon = new AbortController();
  return {
    stop,
    abandon,
    interrupt: { stop: stop.signal, abandon: abandon.signal, reason: () => (stop.signal.aborted ? 'SIGINT' : undefined) },
  };
}

test('interrupted mid-task: the task finishes, its handler runs, no later task, role or host starts; hosts marked', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-interrupt-'));
  const { stop, interrupt } = controllers();
  const role: Role = {
    name: 'demo',
    appliesTo: () => true,
    tasks: (ctx) => [
      {
        name: 'first',
        notify: ['reload'],
        plan: () => ({
          summary: 'write first',
          async apply() {
            stop.abort(); // the signal arrives while this task runs
            await new Promise((r) => setTimeout(r, 100));
            writeFileSync(path.join(dir, `${ctx.host.name}.first`), 'done');
          },
        }),
      },
      {
        name: 'second',
        plan: () => ({
          summary: 'write second',
          async apply() {
            writeFileSync(path.join(dir, `${ctx.host.name}.second`), 'x');
          },
        }),
      },
    ],
    handlers: [{ name: 'reload', run: async (ctx) => writeFileSync(path.join(dir, `${ctx.host.name}.reloaded`), 'x') }],
  };
  const later: Role = {
    name: 'later',
    appliesTo: () => true,
    tasks: (ctx) => [
      {
        name: 'never',
        plan: () => {
          writeFileSync(path.join(dir, `${ctx.host.name}.later`), 'x');
          return null;
        },
      },
    ],
  };
  const report = await runSite({
    inventory: localInventory(['a', 'b']),
    roles: [role, later],
    options: { check: false, diff: false, verbosity: 0, forks: 1, hostStateDir: dir },
    connect: (h) => new LocalTransport(h),
    log: quiet,
    interrupt,
  });
  assert.ok(existsSync(path.join(dir, 'a.first')), 'the running task finished');
  assert.ok(existsSync(path.join(dir, 'a.reloaded')), 'the handler of what changed ran');
  assert.not.ok(existsSync(path.join(dir, 'a.second')), 'no further task started');
  assert.not.ok(existsSync(path.join(dir, 'a.later')), 'no further role started');
  assert.not.ok(existsSync(path.join(dir, 'b.first')), 'the host waiting for a fork did not start');
  assert.is(report.interrupted, 'SIGINT');
  const [a, b] = report.hosts;
  assert.is(a.interrupted, true);
  assert.is(b.interrupted, true);
  assert.equal(
    a.tasks.map((t) => [t.task, t.outcome]),
    [
      ['gather facts', 'ok'],
      ['first', 'changed'],
      ['handler: reload', 'changed'],
    ],
  );
  const recap = formatRecap(report);
  assert.match(recap, /a\s+: ok=1 changed=2 .* INTERRUPTED/);
  assert.match(recap, /INTERRUPTED \(SIGINT\): a, b did not finish; run again to converge\./);
});

test('a task that does not finish within the grace is abandoned: connection closed, task failed "abandoned on interrupt"', async () => {
  const { stop, abandon, interrupt } = controllers();
  const transports: HangingTransport[] = [];
  const role: Role = {
    name: 'slow',
    appliesTo: () => true,
    tasks: () => [
      {
        name: 'hangs',
        plan: () => ({
          summary: 'run forever',
          async apply(c) {
            await c.conn.exec('hang');
          },
        }),
      },
    ],
  };
  const run = runSite({
    inventory: localInventory(['a']),
    roles: [role],
    options: { check: false, diff: false, verbosity: 0, forks: 2 },
    connect: (h) => {
      const t = new HangingTransport(h);
      transports.push(t);
      return t;
    },
    log: quiet,
    interrupt,
  });
  for (let i = 0; !transports[0]?.hanging; i++) {
    if (i > 200) throw new Error('the task never started');
    await new Promise((r) => setTimeout(r, 50));
  }
  stop.abort();
  await new Promise((r) => setTimeout(r, 100));
  assert.not.ok(transports[0].closed, 'the grace: still running');
  abandon.abort();
  const report = await Promise.race([
    run,
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error('runSite did not return after abandon')), 5000)),
  ]);
  assert.ok(transports[0].closed);
  const a = report.hosts[0];
  assert.is(a.interrupted, true);
  assert.is(a.outcome, 'failed', JSON.stringify(a));
  const last = a.tasks[a.tasks.length - 1];
  assert.is(last.task, 'hangs');
  assert.match(last.message ?? '', /^abandoned on interrupt: a: connection lost/);
});

test('a run not interrupted reports no interruption', async () => {
  const report = await runSite({
    inventory: localInventory(['a']),
    roles: [],
    options: { check: false, diff: false, verbosity: 0, forks: 1 },
    connect: (h) => new LocalTransport(h),
    log: quiet,
    interrupt: controllers().interrupt,
  });
  assert.is(report.interrupted, undefined);
  assert.is(report.hosts[0].interrupted, undefined);
  assert.not.match(formatRecap(report), /INTERRUPTED/);
});

test('watchInterrupts: first signal stops, the grace or a second signal abandons; dispose restores', async () => {
  const lines: string[] = [];
  const log = { ...quiet, warn: (m: string) => lines.push(m) };
  const w = watchInterrupts(log, 150);
  process.kill(process.pid, 'SIGTERM');
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(w.stop.aborted);
  assert.not.ok(w.abandon.aborted);
  assert.is(w.reason(), 'SIGTERM');
  assert.match(lines[0], /SIGTERM: stopping; no new task starts, running tasks get 0 s to finish/);
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(w.abandon.aborted, 'the grace ran out');
  w.dispose();

  const w2 = watchInterrupts(log, 60_000);
  process.kill(process.pid, 'SIGINT');
  await new Promise((r) => setTimeout(r, 50));
  process.kill(process.pid, 'SIGINT');
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(w2.abandon.aborted, 'the second signal abandons at once');
  w2.dispose();
  assert.is(process.listenerCount('SIGINT'), 0);
});

test.run();
