// The harden role's rendered sshd config and nftables rulesets checked by the real tools of this machine
// (test/system: needs root, openssh-server and nftables): ssh-keygen -l agrees with the host key
// parser, sshd -t / sshd -T accept the drop-in rendered for this OpenSSH, nft -c / nft -f load the
// rulesets in a throwaway network namespace. The pure parts: test/unit/harden.test.ts.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  effectiveMismatches,
  HOST_KEYS_PROBE,
  parseEffective,
  parseHostKeys,
  publicKeyInfo,
  renderSshdConfig,
  versionAtLeast,
  type HostKeyInfo,
} from '../../roles/harden/sshd.ts';
import { renderRuleset } from '../../roles/harden/firewall.ts';
import { localSshdVersion } from '../support/local-sshd.ts';
import { cluster, firewallModelOf, HOSTS } from '../support/harden-firewall.ts';
import { configFor } from '../support/harden-sshd.ts';

// ---- sshd ------------------------------------------------------------------------------------

test('host key type and size read from the public key agree with ssh-keygen -l', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-hostkeys-'));
  try {
    for (const [type, bits] of [
      ['rsa', 3072],
      ['rsa', 2047],
      ['rsa', 1024],
      ['ecdsa', 256],
      ['ecdsa', 384],
      ['ecdsa', 521],
      ['ed25519', 256],
    ] as const) {
      const key = path.join(dir, `ssh_host_${type}${bits}_key`);
      execFileSync('ssh-keygen', ['-q', '-t', type, '-b', String(bits), '-N', '', '-C', 'root@test host', '-f', key]);
      const [want] = execFileSync('ssh-keygen', ['-l', '-f', `${key}.pub`], { encoding: 'utf8' })
        .trim()
        .split(' ');
      const wantType = /\((\S+)\)$/.exec(execFileSync('ssh-keygen', ['-l', '-f', `${key}.pub`], { encoding: 'utf8' }).trim())![1];
      const line = readFileSync(`${key}.pub`, 'utf8').trim();
      const [keyType, b64] = line.split(' ');
      assert.equal(publicKeyInfo(keyType, Buffer.from(b64, 'base64')), { bits: Number(want), type: wantType }, `${type} ${bits}`);
      assert.equal(parseHostKeys([`key ${key} ${line}`]), [{ path: key, bits: Number(want), type: wantType }]);
    }
    assert.is(publicKeyInfo('ssh-rsa', Buffer.from('AAAAB3NzaC1yc2EAAAADAQAB', 'base64')), null, 'truncated blob');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** sshd of this machine, for checking what the role renders (test/support/local-sshd.ts). */
const localSshd = localSshdVersion();

/** A candidate set like the role builds: the real main sshd_config with its Include redirected. */
function candidate(dropins: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-sshd-'));
  mkdirSync(path.join(dir, 'sshd_config.d'));
  for (const [name, text] of Object.entries(dropins)) writeFileSync(path.join(dir, 'sshd_config.d', name), text);
  const main = `Include ${dir}/sshd_config.d/*.conf\nUsePAM yes\nX11Forwarding yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n`;
  writeFileSync(path.join(dir, 'sshd_config'), main);
  return dir;
}

const hostKeysHere = (): HostKeyInfo[] => parseHostKeys(execFileSync('sh', ['-c', HOST_KEYS_PROBE], { encoding: 'utf8' }).split('\n'));

test(`this machine's sshd (OpenSSH ${localSshd}) accepts the drop-in rendered for its version, and sshd -T shows it in force`, () => {
  const { input } = configFor(localSshd, {}, hostKeysHere());
  const dir = candidate({ '00-clusterseed-harden.conf': renderSshdConfig(input) });
  try {
    const t = spawnSync('sshd', ['-t', '-f', `${dir}/sshd_config`], { encoding: 'utf8' });
    assert.is(t.status, 0, t.stderr);
    const eff = spawnSync('sshd', ['-T', '-f', `${dir}/sshd_config`, '-C', 'user=admin,host=localhost,addr=127.0.0.1'], {
      encoding: 'utf8',
    });
    assert.is(eff.status, 0, eff.stderr);
    assert.equal(effectiveMismatches(input, parseEffective(eff.stdout)), []);
    // the main file's "X11Forwarding yes" comes after the Include: ours wins
    assert.match(eff.stdout, /^x11forwarding no$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an algorithm the local OpenSSH does not have, or a bad option, is caught by sshd -t', () => {
  const { input } = configFor(localSshd, { sshd: { settings: { NoSuchOption: 'yes' } } }, hostKeysHere());
  const dir = candidate({ '00-clusterseed-harden.conf': renderSshdConfig(input) });
  try {
    const t = spawnSync('sshd', ['-t', '-f', `${dir}/sshd_config`], { encoding: 'utf8' });
    assert.is.not(t.status, 0);
    assert.match(t.stderr, /Bad configuration option: NoSuchOption/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (!versionAtLeast(localSshd, '9.9')) {
    const future = configFor('9.9', {}, hostKeysHere()).input;
    const dir2 = candidate({ '00-clusterseed-harden.conf': renderSshdConfig(future) });
    try {
      const t = spawnSync('sshd', ['-t', '-f', `${dir2}/sshd_config`], { encoding: 'utf8' });
      assert.is.not(t.status, 0, `OpenSSH ${localSshd} must refuse mlkem768x25519-sha256`);
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  }
});

test('an earlier drop-in that overrides ours (first match wins) is found in the effective config', () => {
  const { input } = configFor(localSshd, {}, hostKeysHere());
  const dir = candidate({
    '00-aaa-cloud.conf': 'PasswordAuthentication yes\nHostKey /etc/ssh/ssh_host_ecdsa_key\n',
    '00-clusterseed-harden.conf': renderSshdConfig(input),
  });
  try {
    const eff = spawnSync('sshd', ['-T', '-f', `${dir}/sshd_config`, '-C', 'user=admin,host=localhost,addr=127.0.0.1'], {
      encoding: 'utf8',
    });
    const problems = effectiveMismatches(input, parseEffective(eff.stdout));
    assert.ok(
      problems.some((p) => p.startsWith('passwordauthentication: effective "yes"')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('hostkey: also offers /etc/ssh/ssh_host_ecdsa_key')),
      problems.join('\n'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- firewall --------------------------------------------------------------------------------

// ---- firewall --------------------------------------------------------------------------------

const modelFor = (name: string, c = cluster(), over: Record<string, unknown> = {}) => firewallModelOf(HOSTS, name, over, c);

const canUnshare = spawnSync('unshare', ['-n', 'true']).status === 0;

test('nft accepts the rendered rulesets and applying twice gives the same table (throwaway netns)', async () => {
  if (!canUnshare) throw new Error('this test needs root and unshare(1) to load rulesets into a private network namespace');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-nft-'));
  try {
    for (const name of ['s1', 'a1']) {
      const file = path.join(dir, `${name}.nft`);
      writeFileSync(
        file,
        renderRuleset({
          ...(await modelFor(name, cluster(), {
            firewall: { extra_ports: [{ port: '30000-32767', proto: 'tcp', from: ['192.168.1.0/24', 'fd00::/8'] }] },
          })),
          logDropped: true,
        }),
      );
      // only this process's private network namespace is touched
      const script = `nft -c -f ${file} && nft -f ${file} && nft list table inet clusterseed > ${file}.1 && nft -f ${file} && nft list table inet clusterseed > ${file}.2 && nft list tables`;
      const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
      assert.is(r.status, 0, r.stderr);
      assert.is(readFileSync(`${file}.1`, 'utf8'), readFileSync(`${file}.2`, 'utf8'));
      assert.is(r.stdout.trim(), 'table inet clusterseed', 'one table, no duplicate after re-applying');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
