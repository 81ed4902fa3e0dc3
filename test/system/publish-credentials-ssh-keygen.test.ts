// lib/publish/credentials.ts with ssh-keygen (test/system: needs openssh-client): the generated deploy
// key read back by ssh-keygen -y, and a named key encrypted by ssh-keygen refused. The rest:
// test/unit/publish-credentials.test.ts.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkRepoCredentialFiles } from '../../lib/publish/repo-credential-files.ts';
import { credentialSource, loadRepoCredential } from '../../lib/publish/credentials.ts';
import { publicKeyOf } from '../../lib/publish/deploy-key.ts';
import { collecting, credentialFixture, fileFailure } from '../support/repo-credentials.ts';

const { dir, pair, inventory } = credentialFixture();

test('an ssh remote without ssh_key: a key is generated once (0600, OpenSSH), its public half printed with what to do', async () => {
  const url = 'ssh://git@gitea.lan/ops/gitops.git';
  const src = credentialSource({ url }, dir);
  assert.is(src.kind, 'ssh-key');
  const file = (src as { keyFile: string }).keyFile;
  const { lines, log } = collecting();
  const before = await loadRepoCredential(src, { url, create: false, log });
  assert.not.ok(existsSync(file), 'check mode generates nothing');
  assert.match((before as { sshPrivateKey: string }).sshPrivateKey, /generated on the next run/);

  const cred = await loadRepoCredential(src, { url, create: true, log });
  assert.is(cred?.type, 'ssh');
  const priv = (cred as { sshPrivateKey: string }).sshPrivateKey;
  assert.is(readFileSync(file, 'utf8'), priv);
  assert.is(statSync(file).mode & 0o777, 0o600);
  const pub = publicKeyOf(priv, 'clusterseed-argocd');
  const ask = lines.find((l) => l.startsWith('WARN '))!;
  assert.ok(ask, 'a warning asks the user to add the key');
  assert.match(ask, `add this public key as a READ-ONLY deploy key to ${url}`);
  assert.ok(ask.includes(pub), 'the public half is printed');
  assert.not.ok(lines.join('\n').includes(priv.split('\n')[1]), 'the private half is never logged');
  // ssh-keygen (OpenSSH itself) reads the generated key
  assert.is(
    execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' '),
    pub.split(' ').slice(0, 2).join(' '),
  );

  const again = collecting();
  const second = await loadRepoCredential(src, { url, create: true, log: again.log });
  assert.equal(second, cred, 'the same key on later runs');
  assert.not.ok(
    again.lines.some((l) => l.startsWith('WARN ')),
    'no new warning once the key exists',
  );
});

test('a named ssh_key that is missing, readable by others, public or encrypted is refused at its line', () => {
  const wide = path.join(dir, 'wide');
  writeFileSync(wide, pair.privateKey, { mode: 0o644 });
  const pub = path.join(dir, 'readonly.pub');
  writeFileSync(pub, pair.publicKey + '\n', { mode: 0o600 });
  const enc = path.join(dir, 'encrypted');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'passphrase', '-C', '', '-f', enc]);

  const at = (key: string) => fileFailure(inventory(['url: git@git.lan:ops/gitops.git', `ssh_key: ${key}`]), {});
  assert.is(
    at('missing-key'),
    `${path.join(dir, 'inventory.yaml')}:8:14: gitops.repo.ssh_key: deploy key ${path.join(dir, 'missing-key')} does not exist`,
  );
  assert.match(at('wide'), /:8:14: gitops\.repo\.ssh_key: deploy key .*wide is readable by others \(mode 644\): chmod 600 it$/);
  assert.match(at('readonly.pub'), /:8:14: gitops\.repo\.ssh_key: deploy key .*readonly\.pub is a public key: name the private key/);
  assert.match(
    at('encrypted'),
    /:8:14: gitops\.repo\.ssh_key: deploy key .*encrypted is encrypted \(aes256-ctr\) with a passphrase, which Argo CD cannot enter/,
  );
  checkRepoCredentialFiles(inventory(['url: git@git.lan:ops/gitops.git', 'ssh_key: readonly']), {});
});

test.run();
