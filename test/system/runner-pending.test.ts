// Pending handlers kept on the host (lib/runner/pending.ts, lib/runner/run-role.ts): a handler's
// notification is recorded before the change that notifies it is applied and removed only after
// the handler succeeded, so a run that dies in between leaves it for the next run (which runs the
// handler even when no task changes) and for --check (which reports it and exits 3). Real scripts
// run by this machine's sh (test/support/local-transport.ts) in temp directories.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HandlerRolledBack, NothingApplied, type Role } from '../../lib/runner/types.ts';
import { exitCode, runSite } from '../../lib/runner/run-site.ts';
import {
  clearScript,
  parsePending,
  parseRecordName,
  pendingDir,
  pendingProbe,
  recordName,
  recordScript,
} from '../../lib/runner/pending.ts';
import { file } from '../../lib/blocks/index.ts';
import { LocalTransport } from '../support/local-transport.ts';
import { localInventory } from '../support/local-run.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-pending-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (what: string) => path.join(tmp, `${what}-${n++}`);
const sh = (script: string) => execFileSync('sh', ['-c', script]).toString();

test('record names give back role and handler, whatever characters the handler name has', () => {
  for (const handler of ['reload sshd', 'restart k3s for the nvidia runtime', '50%/x\\y--z', 'réload']) {
    const name = recordName('k3s-prereq', handler);
    assert.match(name, /^[A-Za-z0-9_%-]+$/);
    assert.equal(parseRecordName(name), { role: 'k3s-prereq', handler });
  }
  assert.is(recordName('harden', 'reload sshd'), 'harden--reload%20sshd');
  assert.throws(() => recordName('a--b', 'x'), /cannot name a pending record/);
  assert.is(parseRecordName('.tmp-abc'), undefined);
  assert.is(parseRecordName('nodashes'), undefined);
});

test('records are written 0600 in a 0700 dir, read back by the probe, and cleared', () => {
  const state = fresh('state');
  sh(
    recordScript(
      [
        { role: 'harden', handler: 'reload sshd', by: 'sshd hardened configuration' },
        { role: 'base', handler: '100% done\\n', by: 'x\ny' },
      ],
      state,
    ),
  );
  const dir = pendingDir(state);
  assert.is((statSync(dir).mode & 0o777).toString(8), '700');
  assert.equal(readdirSync(dir).sort(), ['base--100%25%20done%5Cn', 'harden--reload%20sshd'], 'no temp file left');
  assert.is((statSync(path.join(dir, 'harden--reload%20sshd')).mode & 0o777).toString(8), '600');
  const text = readFileSync(path.join(dir, 'harden--reload%20sshd'), 'utf8');
  assert.match(text, /^role=harden\nhandler=reload sshd\nsince=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\nby=sshd hardened configuration\n$/);
  const records = parsePending(sh(pendingProbe(state)));
  assert.equal(records.map((r) => [r.role, r.handler, r.by]).sort(), [
    ['base', '100% done\\n', 'x y'],
    ['harden', 'reload sshd', 'sshd hardened configuration'],
  ]);
  assert.match(records[0].since, /^\d{4}-/);
  // a record whose content is unreadable still names its handler
  writeFileSync(path.join(dir, 'harden--reload%20sshd'), Buffer.from([0xff, 0x00]));
  assert.equal(
    parsePending(sh(pendingProbe(state))).find((r) => r.role === 'harden'),
    { role: 'harden', handler: 'reload sshd', since: '', by: '', file: 'harden--reload%20sshd' },
  );
  sh(clearScript('harden', 'reload sshd', state));
  sh(clearScript('harden', 'reload sshd', state)); // twice: a missing record is fine
  assert.equal(readdirSync(dir), ['base--100%25%20done%5Cn']);
  assert.equal(parsePending(sh(pendingProbe(fresh('none')))), [], 'no pending dir: no records, no error');
});

// ---- the runner ---------------------------------------------------------------------------------

async function converge(roles: Role[], state: string, opts: { check?: boolean; tags?: string[] } = {}) {
  const info: string[] = [];
  const warn: string[] = [];
  let transport!: LocalTransport;
  const report = await runSite({
    inventory: localInventory(['a']),
    roles,
    options: { check: !!opts.check, diff: false, verbosity: 0, forks: 1, tags: opts.tags, hostStateDir: state },
    connect: (h) => (transport = new LocalTransport(h)),
    log: { info: (m) => info.push(m), verbose() {}, debug() {}, warn: (m) => warn.push(m) },
  });
  return { host: report.hosts[0], report, info, warn, scripts: transport.scripts };
}

/** A role whose config file notifies `restart app`; the handler fails while `broken` exists. */
function appRole(dir: string, opts: { probeAhead?: boolean; tags?: string[] } = {}): Role {
  return {
    name: 'app',
    appliesTo: () => true,
    probeAhead: opts.probeAhead,
    tasks: () => [
      file({ path: `${dir}/app.conf`, content: `v=${readFileSync(`${dir}/want`, 'utf8')}`, notify: ['restart app'], tags: opts.tags }),
      file({ path: `${dir}/other.conf`, content: 'x\n', tags: ['other'] }),
    ],
    handlers: [
      {
        name: 'restart app',
        run: async () => {
          if (existsSync(`${dir}/broken`)) throw new Error('restart failed');
          // what the app runs with now: the file as it is
          writeFileSync(`${dir}/live`, readFileSync(`${dir}/app.conf`));
          writeFileSync(`${dir}/restarts`, `${Number(existsSync(`${dir}/restarts`) ? readFileSync(`${dir}/restarts`, 'utf8') : 0) + 1}`);
        },
      },
    ],
  };
}
const recordOf = (state: string) => path.join(pendingDir(state), recordName('app', 'restart app'));

test('a change that notifies is recorded on the host before it is applied; the record goes after the handler', async () => {
  const dir = fresh('app');
  const state = fresh('state');
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(`${dir}/want`, '1');
  const role = appRole(dir);
  // the apply sees the record already there
  const seenAtApply: boolean[] = [];
  const watched: Role = {
    ...role,
    tasks: async (ctx) =>
      (await role.tasks(ctx)).map((t) => ({
        ...t,
        async plan(s, c) {
          const p = await t.plan(s, c);
          if (!p || !('apply' in p)) return p;
          return {
            ...p,
            apply: async (cc) => {
              seenAtApply.push(existsSync(recordOf(state)));
              await p.apply(cc);
            },
          };
        },
      })),
  };
  const first = await converge([watched], state);
  assert.equal(seenAtApply, [true, true], 'recorded before the notifying change, kept until the handler ran');
  assert.is(readFileSync(`${dir}/live`, 'utf8'), 'v=1');
  assert.is(existsSync(recordOf(state)), false, 'cleared after the handler succeeded');
  assert.is(first.host.counts.changed, 3);
  const again = await converge([watched], state);
  assert.is(again.host.counts.changed, 0);
  assert.is(again.host.roundTripsByRole.app, 1, 'reading the records costs no extra round trip');
});

test('a failing handler stays pending: --check reports it (exit 3), the next run completes it, then changed=0', async () => {
  const dir = fresh('app');
  const state = fresh('state');
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(`${dir}/want`, '1');
  writeFileSync(`${dir}/broken`, '');
  const role = appRole(dir);
  const failed = await converge([role], state);
  assert.is(failed.host.outcome, 'failed');
  assert.match(failed.host.tasks.at(-1)!.message!, /restart failed/);
  assert.is(existsSync(`${dir}/live`), false, 'the app never ran the new file');
  assert.match(readFileSync(recordOf(state), 'utf8'), /^role=app\nhandler=restart app\nsince=.*\nby=file \S+\/app\.conf\n$/);

  // the file is in place now: only the record tells the host is not converged
  const check = await converge([role], state, { check: true });
  assert.is(exitCode(check.report), 3);
  const pendingTask = check.host.tasks.find((t) => t.task === 'handler: restart app')!;
  assert.is(pendingTask.outcome, 'changed');
  assert.match(pendingTask.summary!, /^pending since \d{4}-.*, notified by /);
  assert.ok(
    check.info.some((l) => /^\[a\] pending: \[app\] restart app \(since \d{4}-/.test(l)),
    check.info.join('\n'),
  );
  assert.is(check.host.roundTripsByRole.app, 1);
  assert.ok(existsSync(recordOf(state)), '--check leaves the record');
  assert.is(existsSync(`${dir}/live`), false, '--check runs no handler');

  // still broken: a rerun fails again and keeps the record
  const stillFailing = await converge([role], state);
  assert.is(stillFailing.host.outcome, 'failed');
  assert.ok(existsSync(recordOf(state)));

  rmSync(`${dir}/broken`);
  const rerun = await converge([role], state);
  assert.is(rerun.host.outcome, 'changed');
  assert.equal(
    rerun.host.tasks.filter((t) => t.outcome === 'changed').map((t) => t.task),
    ['handler: restart app'],
    'no task changed; the handler ran for the record',
  );
  assert.is(readFileSync(`${dir}/live`, 'utf8'), 'v=1');
  assert.is(existsSync(recordOf(state)), false);

  const third = await converge([role], state);
  assert.is(third.host.counts.changed, 0);
  assert.is(readFileSync(`${dir}/restarts`, 'utf8'), '1');
  const check2 = await converge([role], state, { check: true });
  assert.is(exitCode(check2.report), 0);
});

test('a handler that failed but rolled the host back (HandlerRolledBack) leaves nothing pending', async () => {
  const dir = fresh('app');
  const state = fresh('state');
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(`${dir}/want`, '1');
  const role: Role = {
    name: 'app',
    appliesTo: () => true,
    tasks: () => [file({ path: `${dir}/app.conf`, content: `v=${readFileSync(`${dir}/want`, 'utf8')}`, notify: ['restart app'] })],
    handlers: [
      {
        name: 'restart app',
        run: async () => {
          throw new HandlerRolledBack('the app did not come up; the previous file is back and running');
        },
      },
    ],
  };
  const r = await converge([role], state);
  assert.is(r.host.outcome, 'failed');
  assert.match(r.host.tasks.at(-1)!.message!, /previous file is back/);
  assert.is(existsSync(recordOf(state)), false, 'rolled back: nothing pending');
  // a plain failure keeps it
  const plain: Role = {
    ...role,
    handlers: [
      {
        name: 'restart app',
        run: async () => {
          throw new Error('restart failed');
        },
      },
    ],
  };
  writeFileSync(`${dir}/want`, '2');
  await converge([plain], state);
  assert.ok(existsSync(recordOf(state)));
});

test('a change refused before it touched the host (NothingApplied) leaves nothing pending; any other failure keeps the record', async () => {
  const dir = fresh('app');
  const state = fresh('state');
  execFileSync('mkdir', ['-p', dir]);
  let failWith: Error = new NothingApplied('the validator refused the candidate; nothing was installed');
  const role: Role = {
    name: 'app',
    appliesTo: () => true,
    tasks: () => [
      {
        name: 'config',
        notify: ['restart app'],
        plan: () => ({
          summary: 'install',
          apply: async () => {
            throw failWith;
          },
        }),
      },
    ],
    handlers: [{ name: 'restart app', run: async () => undefined }],
  };
  const refused = await converge([role], state);
  assert.is(refused.host.outcome, 'failed');
  assert.match(refused.host.tasks.at(-1)!.message!, /nothing was installed/);
  assert.is(existsSync(recordOf(state)), false);
  failWith = new Error('connection lost halfway');
  await converge([role], state);
  assert.ok(existsSync(recordOf(state)), 'it may have changed the host: the handler stays pending');
});

test('--tags: a role left out keeps its record for later; a role selected by any task runs its pending handlers', async () => {
  const dir = fresh('app');
  const state = fresh('state');
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(`${dir}/want`, '1');
  writeFileSync(`${dir}/broken`, '');
  const role = { ...appRole(dir), tags: ['other'] };
  await converge([role], state);
  rmSync(`${dir}/broken`);
  assert.ok(existsSync(recordOf(state)));
  const elsewhere: Role = { name: 'elsewhere', appliesTo: () => true, tasks: () => [{ name: 'noop', plan: () => null }] };
  const leftOut = await converge([role, elsewhere], state, { tags: ['elsewhere'] });
  assert.is(leftOut.host.counts.changed, 0);
  assert.ok(existsSync(recordOf(state)), 'kept for a run that includes the role');
  assert.is(existsSync(`${dir}/live`), false);
  // only the task tagged `other` is selected; the handler the config file notified still runs
  const other = await converge([role, elsewhere], state, { tags: ['other'] });
  assert.equal(
    other.host.tasks.filter((t) => t.outcome === 'changed').map((t) => t.task),
    ['handler: restart app'],
  );
  assert.is(existsSync(recordOf(state)), false);
  assert.is(readFileSync(`${dir}/live`, 'utf8'), 'v=1');
});

test('probe-ahead roles read the records of every role in their one batch; a role without tasks to run still runs its pending handler', async () => {
  const dir = fresh('app');
  const state = fresh('state');
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(`${dir}/want`, '1');
  const first: Role = {
    name: 'first',
    appliesTo: () => true,
    probeAhead: true,
    tasks: () => [file({ path: `${dir}/first.conf`, content: 'f\n' })],
  };
  const app = appRole(dir, { probeAhead: true });
  await converge([first, app], state);
  const quiet = await converge([first, app], state);
  assert.is(quiet.host.counts.changed, 0);
  assert.is(quiet.host.roundTripsByRole.first + quiet.host.roundTripsByRole.app, 1, 'one batch for both roles and the records');
  // a record left by a run that died before the handler
  sh(recordScript([{ role: 'app', handler: 'restart app', by: 'app.conf' }], state));
  const check = await converge([first, app], state, { check: true });
  assert.is(exitCode(check.report), 3);
  assert.is(check.host.roundTripsByRole.first + check.host.roundTripsByRole.app, 1);
  const run = await converge([first, app], state);
  assert.equal(
    run.host.tasks.filter((t) => t.outcome === 'changed').map((t) => t.task),
    ['handler: restart app'],
  );
  assert.is(readFileSync(`${dir}/restarts`, 'utf8'), '2');
  assert.is(existsSync(recordOf(state)), false);

  // every task filtered out by `when`: the record is still read and the handler still runs
  sh(recordScript([{ role: 'app', handler: 'restart app', by: 'app.conf' }], state));
  const idle: Role = { ...app, probeAhead: false, tasks: async (ctx) => (await app.tasks(ctx)).map((t) => ({ ...t, when: () => false })) };
  const idleRun = await converge([idle], state);
  assert.equal(
    idleRun.host.tasks.filter((t) => t.outcome === 'changed').map((t) => t.task),
    ['handler: restart app'],
  );
  assert.is(existsSync(recordOf(state)), false);
  // a record of a handler the role no longer has is left alone, with a warning
  writeFileSync(path.join(pendingDir(state), recordName('app', 'gone')), 'role=app\n');
  const unknown = await converge([app], state);
  assert.is(unknown.host.counts.changed, 0);
  assert.ok(
    unknown.warn.some((w) => /pending record names handler 'gone'/.test(w)),
    unknown.warn.join('\n'),
  );
});

test.run();
