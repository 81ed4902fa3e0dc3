// The pieces of cli/preflight.ts that the fault suite (test/faults/bad-input.test.ts) cannot
// show from the outside: the key rule is OpenSSH's own (only the user's own key must not be open to
// others), and the role vars preflight refuses nothing in the inventories clusterseed ships.
import { test } from '../support/uvu.ts';
import { writeKeyPair } from '../support/ssh-keys.ts';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { privateKeyProblem } from '../../lib/inventory/key-files.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import { preflightRoleVars } from '../../roles/vars-preflight.ts';
import { siteRoles } from '../../roles/index.ts';
import { validTags } from '../../cli/preflight.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-preflight-'));
const key = path.join(dir, 'id_ed25519');
writeKeyPair(key);

test("a key open to others is refused only when it is the running user's own, as OpenSSH does (authfile.c sshkey_perm_ok)", () => {
  chmodSync(key, 0o644);
  const owner = process.getuid!();
  assert.match(privateKeyProblem(key, { agent: false, uid: owner }) ?? '', /has mode 0644: .*run chmod 600/);
  assert.is(privateKeyProblem(key, { agent: false, uid: owner + 1 }), undefined, "another user's key: OpenSSH does not care");
  chmodSync(key, 0o600);
  assert.is(privateKeyProblem(key, { agent: false, uid: owner }), undefined);
});

test('an encrypted key is fine when ssh-agent runs (lib/ssh/auth.ts falls back to it)', () => {
  const enc = path.join(dir, 'enc');
  writeKeyPair(enc, { passphrase: 'secret words' });
  assert.is(privateKeyProblem(enc, { agent: true }), undefined);
  assert.match(privateKeyProblem(enc, { agent: false }) ?? '', /is encrypted .*ssh-add/);
});

test('the role vars preflight refuses none of the inventories clusterseed ships', async () => {
  const files = [
    path.resolve('inventory.yaml'),
    ...readdirSync('test/fixtures/inventory/good').map((f) => path.resolve('test/fixtures/inventory/good', f)),
  ];
  for (const file of files) {
    const inventory = await loadInventory(file);
    const { taskTags } = await preflightRoleVars(inventory, siteRoles());
    assert.ok(validTags(siteRoles(), taskTags).includes('k3s-artifacts'), file);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
