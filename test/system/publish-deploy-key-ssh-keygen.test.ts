// The hand-written OpenSSH key encoding read by ssh-keygen, OpenSSH itself (test/system: needs
// openssh-client). The ssh2 side: test/unit/publish-deploy-key.test.ts.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateDeployKey, keyIdentity } from '../../lib/publish/deploy-key.ts';
import { tempDir } from '../github-server/git-helpers.ts';

test('ssh-keygen reads the private key and prints the same public key', () => {
  const dir = tempDir('deploykey');
  try {
    const pair = generateDeployKey('title');
    const file = path.join(dir, 'k');
    writeFileSync(file, pair.privateKey, { mode: 0o600 });
    const pub = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim();
    assert.is(keyIdentity(pub), keyIdentity(pair.publicKey));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
