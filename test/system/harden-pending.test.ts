// harden's notify/prove pairs tell from the host when an earlier run never proved its change live
// (issue 20): the sshd task is not ok while the rollback copy of an unproven install is on the
// host, and the firewall task is not ok while the rollback script of an unproven apply (and its
// armed revert timer) is. Both then run the same proof as a fresh install would.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { deepMerge } from '../../lib/inventory/merge.ts';
import type { HostContext } from '../../lib/runner/types.ts';
import type { ExecResult } from '../../lib/ssh/types.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import { hardenDefaults } from '../../roles/harden/index.ts';
import { buildSshdConfig, HOST_KEYS_PROBE, parseHostKeys, readSshdVars, renderSshdConfig, SSHD_DROPIN } from '../../roles/harden/sshd.ts';
import { reloadSshdHandler, sshdConfigTask, SSHD_ROLLBACK } from '../../roles/harden/sshd-tasks.ts';
import { HandlerRolledBack } from '../../lib/runner/types.ts';
import { rulesetTask } from '../../roles/harden/firewall-tasks.ts';
import { probed } from '../support/probe-state.ts';
import { localSshdVersion } from '../support/local-sshd.ts';

const localSshd = localSshdVersion();
const reader = () => new VarsReader('/inv/inventory.yaml: host n1', deepMerge(hardenDefaults, {}), 'vars.harden');

/** a context whose connection records the scripts it is asked to run and answers exit 0 */
function ctxRecording(scripts: string[]): HostContext {
  const conn = { exec: async (s: string): Promise<ExecResult> => (scripts.push(s), { code: 0, stdout: '', stderr: '' }) };
  return {
    host: { name: 'n1', user: 'admin' },
    conn,
    facts: { sshdVersion: localSshd },
    options: { diff: false, check: false },
    log: { info() {}, verbose() {}, debug() {}, warn() {} },
  } as unknown as HostContext;
}

test('sshd: the drop-in in place but the rollback copy of an unproven install still there is a change that notifies the reload', async () => {
  const hostKeys = execFileSync('sh', ['-c', HOST_KEYS_PROBE], { encoding: 'utf8' });
  const vars = readSshdVars(reader(), localSshd);
  const content = renderSshdConfig(buildSshdConfig(vars, localSshd, parseHostKeys(hostKeys.split('\n'))).input);
  const task = sshdConfigTask({ vars, verifyUser: 'admin' });
  assert.equal(task.notify, ['reload sshd']);
  const stdout = `${hostKeys}@@effective\n`;
  const inPlace = { [SSHD_DROPIN]: content, '/etc/ssh/sshd_config': 'Include /etc/ssh/sshd_config.d/*.conf\n' };
  const scripts: string[] = [];
  const ctx = ctxRecording(scripts);
  assert.is(await task.plan(probed(task, stdout, inPlace, { mode: '0600' }), ctx), null, 'proven: ok');
  const change = await task.plan(probed(task, stdout, { ...inPlace, [SSHD_ROLLBACK]: '' }, { mode: '0600' }), ctx);
  assert.ok(change && 'apply' in change, 'the rollback copy makes it a change');
  assert.match(
    change.summary,
    /an earlier install was never proven live \(\/var\/lib\/clusterseed\/sshd-rollback is still there\): reload sshd and prove a fresh login/,
  );
  await change.apply(ctx);
  assert.equal(scripts, [], 'nothing to install: the reload handler does the work');
  // the copies equal to the live files: what a rollback put back (proven before), not an unproven install
  const restored = {
    ...inPlace,
    [SSHD_ROLLBACK]: '',
    [`${SSHD_ROLLBACK}/dropin`]: content,
    [`${SSHD_ROLLBACK}/sshd_config`]: inPlace['/etc/ssh/sshd_config'],
  };
  assert.is(await task.plan(probed(task, stdout, restored, { mode: '0600' }), ctx), null, 'a rollback that was put back is proven');
  const older = await task.plan(
    probed(task, stdout, { ...restored, [`${SSHD_ROLLBACK}/dropin`]: 'PermitRootLogin yes\n' }, { mode: '0600' }),
    ctx,
  );
  assert.ok(older && 'apply' in older, 'a saved copy older than the installed drop-in: unproven');
  // with a wrong mode as well, both are fixed and said
  const both = await task.plan(probed(task, stdout, { ...inPlace, [SSHD_ROLLBACK]: '' }, { mode: '0644' }), ctx);
  assert.ok(both && 'apply' in both);
  assert.match(both.summary, /mode 0644 root -> 0600 root; an earlier install was never proven/);
});

test('sshd: a failed proof whose restore worked is a HandlerRolledBack (its pending record goes); a failed restore is not', async () => {
  const handler = reloadSshdHandler(
    () => 'admin',
    async () => {
      throw new Error('no fresh SSH login as admin');
    },
  );
  const restoredCtx = ctxRecording([]);
  (restoredCtx as { host: unknown }).host = { name: 'n1', user: 'admin', vars: {} };
  (restoredCtx as { vars: unknown }).vars = deepMerge(hardenDefaults, {});
  try {
    await handler.run(restoredCtx);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, HandlerRolledBack);
    assert.match((err as Error).message, /the previous sshd configuration was restored and sshd reloaded/);
  }
  const brokenScripts: string[] = [];
  const broken = ctxRecording(brokenScripts);
  (broken as { conn: unknown }).conn = {
    exec: async (s: string): Promise<ExecResult> => (
      brokenScripts.push(s),
      s.includes('rb=') ? { code: 1, stdout: '', stderr: 'cp: No space left on device' } : { code: 0, stdout: '', stderr: '' }
    ),
  };
  try {
    await handler.run(broken);
    assert.unreachable();
  } catch (err) {
    assert.not.instance(err, HandlerRolledBack);
    assert.match((err as Error).message, /restoring the previous configuration FAILED too/);
  }
});

test('firewall: file and live table as recorded but the rollback script still there: prove a fresh login, then disarm; else roll back', async () => {
  const files = { '/etc/clusterseed/firewall.nft': 'X\n', '/var/lib/clusterseed/firewall.live.sha256': 'abc\n' };
  const proven = rulesetTask('X\n', 'policy drop', 90, async () => undefined);
  assert.is(await proven.plan(probed(proven, 'abc  -\n', files), ctxRecording([])), null);
  const unproven = { ...files, '/var/lib/clusterseed/firewall-rollback.sh': '#!/bin/sh\n' };
  const logins: string[] = [];
  const task = rulesetTask('X\n', 'policy drop', 90, async (_c, user) => {
    logins.push(user);
  });
  const scripts: string[] = [];
  const change = await task.plan(probed(task, 'abc  -\n', unproven), ctxRecording(scripts));
  assert.ok(change && 'apply' in change);
  assert.match(change.summary, /an earlier apply was never proven .*: prove a fresh login, then disarm the revert/);
  await change.apply(ctxRecording(scripts));
  assert.equal(logins, ['admin']);
  assert.is(scripts.length, 1);
  assert.match(scripts[0], /systemctl stop clusterseed-firewall-revert\.timer.*rm -f .*firewall-rollback\.sh/);

  const locked = rulesetTask('X\n', 'policy drop', 90, async () => {
    throw new Error('no fresh SSH login as admin');
  });
  const lockedScripts: string[] = [];
  const lockedChange = await locked.plan(probed(locked, 'abc  -\n', unproven), ctxRecording(lockedScripts));
  assert.ok(lockedChange && 'apply' in lockedChange);
  try {
    await lockedChange.apply(ctxRecording(lockedScripts));
    assert.unreachable('an unprovable ruleset must fail');
  } catch (err) {
    assert.match((err as Error).message, /no fresh SSH login as admin; the previous ruleset was restored/);
  }
  assert.match(lockedScripts[0], /\/bin\/sh \/var\/lib\/clusterseed\/firewall-rollback\.sh/);
  assert.match(
    lockedScripts[1],
    /rm -f .*firewall-rollback\.sh/,
    'restored: the rollback files go, the next run must not take the ruleset for unproven',
  );
});

test.run();
