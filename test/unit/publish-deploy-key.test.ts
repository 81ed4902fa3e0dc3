// The hand-written OpenSSH key encoding must be read by the tools that will use it: ssh-keygen
// (OpenSSH itself) and the ssh2 package, whose signatures with it must verify.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import { deployKeyPath, generateDeployKey, keyIdentity, loadOrCreateKeyPair, publicKeyOf } from '../../lib/publish/deploy-key.ts';
import { tempDir } from '../github-server/git-helpers.ts';

const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };

test('public key line is OpenSSH format with the title as comment', () => {
  const pair = generateDeployKey('argocd-home');
  assert.match(pair.publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=* argocd-home$/);
  assert.is(publicKeyOf(pair.privateKey, 'argocd-home'), pair.publicKey);
  assert.is(keyIdentity(pair.publicKey), pair.publicKey.split(' ').slice(0, 2).join(' '));
  assert.match(pair.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n(?:[A-Za-z0-9+/=]{1,70}\n)+-----END OPENSSH PRIVATE KEY-----\n$/);
});

test('ssh2 parses the private key, derives the same public key, and its signatures verify', () => {
  const pair = generateDeployKey('t');
  const parsed = ssh2.utils.parseKey(pair.privateKey);
  assert.not.instance(parsed, Error);
  const key = Array.isArray(parsed) ? parsed[0] : (parsed as ssh2.ParsedKey);
  assert.is(key.type, 'ssh-ed25519');
  assert.is(key.getPublicSSH().toString('base64'), pair.publicKey.split(' ')[1]);
  const data = Buffer.from('challenge');
  const sig = key.sign(data);
  assert.ok(!(sig instanceof Error) && key.verify(data, sig as Buffer));
});

test('the pair is stored 0600 (folder 0700), reused on the next call, and tightened if loosened', async () => {
  const dir = tempDir('deploykey');
  try {
    const file = deployKeyPath(dir, 'alice', 'home/gitops');
    assert.ok(file.startsWith(path.join(dir, '.clusterseed', 'deploy-keys')));
    const first = await loadOrCreateKeyPair(file, 'argocd', quiet);
    assert.is(first.generated, true);
    assert.is(statSync(file).mode & 0o777, 0o600);
    assert.is(statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.is(readFileSync(`${file}.pub`, 'utf8').trim(), first.publicKey);
    const second = await loadOrCreateKeyPair(file, 'argocd', quiet);
    assert.is(second.generated, false);
    assert.is(second.publicKey, first.publicKey);
    chmodSync(file, 0o644);
    const warnings: string[] = [];
    await loadOrCreateKeyPair(file, 'argocd', { ...quiet, warn: (m: string) => void warnings.push(m) });
    assert.is(statSync(file).mode & 0o777, 0o600);
    assert.is(warnings.length, 1);
    assert.not.ok(warnings[0].includes('PRIVATE KEY'), 'the key itself is never logged');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an encrypted or foreign private key file is refused clearly', async () => {
  const dir = tempDir('deploykey');
  try {
    const file = path.join(dir, 'k');
    writeFileSync(file, '-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n', { mode: 0o600 });
    const err = await loadOrCreateKeyPair(file, 't', quiet).catch((e) => e);
    assert.match(err.message, /not an unencrypted ed25519 OpenSSH private key/);
    assert.ok(existsSync(file), 'not overwritten');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
