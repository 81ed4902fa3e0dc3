// harden's check that sshd really uses the hardened settings: values compared by meaning (OpenSSH
// prints some under an older synonym), Match blocks evaluated for every connection context that
// matters (against this machine's real sshd), and the drop-in's mode.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HostContext } from '../../lib/runner/types.ts';
import {
  buildSshdConfig,
  effectiveMismatches,
  HOST_KEYS_PROBE,
  parseEffective,
  parseHostKeys,
  readSshdVars,
  renderSshdConfig,
  SSHD_DROPIN,
} from '../../roles/harden/sshd.ts';
import { contextMismatches, contextUsers, effectiveContextsScript } from '../../roles/harden/sshd-contexts.ts';
import { sshdConfigTask } from '../../roles/harden/sshd-tasks.ts';
import { probed } from '../support/probe-state.ts';
import { localSshdVersion } from '../support/local-sshd.ts';
import { hardenReader as reader } from '../support/harden-firewall.ts';

/** sshd of this machine, for checking what the role renders (test/support/local-sshd.ts). */
const localSshd = localSshdVersion();
const hostKeysHere = () => parseHostKeys(execFileSync('sh', ['-c', HOST_KEYS_PROBE], { encoding: 'utf8' }).split('\n'));
const configFor = (over: Record<string, unknown> = {}) => buildSshdConfig(readSshdVars(reader(over), localSshd), localSshd, hostKeysHere());

/** `sshd -T` of this config (for the admin user from loopback), asserted to succeed. */
function effectiveOf(config: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-sshd-'));
  try {
    writeFileSync(path.join(dir, 'sshd_config'), config);
    const eff = spawnSync('sshd', ['-T', '-f', `${dir}/sshd_config`, '-C', 'user=admin,host=localhost,addr=127.0.0.1'], {
      encoding: 'utf8',
    });
    assert.is(eff.status, 0, eff.stderr);
    return eff.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('PermitRootLogin prohibit-password passes although sshd -T prints without-password', () => {
  const { input } = configFor({ sshd: { settings: { PermitRootLogin: 'prohibit-password' } } });
  assert.equal(effectiveMismatches(input, parseEffective(effectiveOf(renderSshdConfig(input)))), []);
  // spelling differences only: a real difference is still one
  const eff = new Map([['permitrootlogin', ['without-password']]]);
  assert.equal(effectiveMismatches({ ...input, settings: [['PermitRootLogin', 'no']] }, eff).length, 1);
});

test('AllowGroups of several groups: sshd -T prints one line per group, and that is the same setting', () => {
  const { input } = configFor({ sshd: { allow_groups: ['sudo', 'clusterseed-git'] } });
  const eff = effectiveOf(renderSshdConfig(input));
  assert.match(eff, /^allowgroups sudo\nallowgroups clusterseed-git$/m);
  assert.equal(effectiveMismatches(input, parseEffective(eff)), []);
  // a group missing is still a difference
  assert.equal(effectiveMismatches(input, new Map([['allowgroups', ['sudo']]])), [
    'allowgroups: effective "sudo", wanted "sudo clusterseed-git"',
  ]);
});

test('a Match block that relaxes sshd for root from the network is found, though the admin from loopback is fine', () => {
  const { input } = configFor();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-sshd-'));
  try {
    // ours first (first value wins), then the user's own file with a Match block
    writeFileSync(path.join(dir, 'sshd_config'), `${renderSshdConfig(input)}Match User root Address 192.0.2.0/24\n  PermitRootLogin yes\n`);
    const script = `SSHD=$(command -v sshd)\n${effectiveContextsScript(contextUsers('admin', 'admin'), `-f ${dir}/sshd_config`)}`;
    const run = (conn: string) => execFileSync('sh', ['-c', script], { encoding: 'utf8', env: { ...process.env, SSH_CONNECTION: conn } });
    const fromLan = contextMismatches(run('192.0.2.7 50000 192.0.2.1 22'), (e) => effectiveMismatches(input, e));
    assert.equal(fromLan, ['permitrootlogin: effective "yes", wanted "no" (for user=root,addr=192.0.2.7)']);
    // what the old single-context check (the admin user from loopback) saw: nothing wrong
    const single = spawnSync('sshd', ['-T', '-f', `${dir}/sshd_config`, '-C', 'user=admin,host=localhost,addr=127.0.0.1'], {
      encoding: 'utf8',
    });
    assert.equal(effectiveMismatches(input, parseEffective(single.stdout)), []);
    // a client elsewhere is not affected by that block
    assert.equal(
      contextMismatches(run('198.51.100.9 50000 198.51.100.1 22'), (e) => effectiveMismatches(input, e)),
      [],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the sshd drop-in is 0600: a drop-in with the right content but mode 0644 is fixed', async () => {
  const { input } = configFor();
  const content = renderSshdConfig(input);
  const task = sshdConfigTask({ vars: readSshdVars(reader(), localSshd), verifyUser: 'admin' });
  const ctx = { facts: { sshdVersion: localSshd }, options: { diff: false } } as unknown as HostContext;
  const stdout = `${execFileSync('sh', ['-c', HOST_KEYS_PROBE], { encoding: 'utf8' })}@@effective\n`;
  const files = { [SSHD_DROPIN]: content, '/etc/ssh/sshd_config': 'Include /etc/ssh/sshd_config.d/*.conf\n' };
  const change = await task.plan(probed(task, stdout, files, { mode: '0644' }), ctx);
  assert.ok(change && 'summary' in change, 'a 0644 drop-in is a change');
  assert.match(change.summary, /mode 0644 root -> 0600 root/);
  assert.is(await task.plan(probed(task, stdout, files, { mode: '0600' }), ctx), null);
});

test.run();
