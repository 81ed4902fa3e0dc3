// checkConnectionFiles: what must exist on the control machine before connecting.
import { test } from '../support/uvu.ts';
import { writeKeyPair } from '../support/ssh-keys.ts';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InventoryError, checkConnectionFiles, parseInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'clusterseed-inv-'));
mkdirSync(path.join(dir, 'keys'));
// a real private key: the check reads it (not a key, a public key or mode > 0600 are refused)
writeKeyPair(path.join(dir, 'keys/id'));
mkdirSync(path.join(dir, 'keys/a-directory'));

function inventory(lines: string[]): Inventory {
  return parseInventory(lines.join('\n'), path.join(dir, 'inventory.yaml'));
}

function failure(inv: Inventory, env: NodeJS.ProcessEnv): InventoryError {
  try {
    checkConnectionFiles(inv, env);
  } catch (err) {
    if (err instanceof InventoryError) return err;
    throw err;
  }
  throw new Error('checkConnectionFiles passed');
}

const header = ['cluster: { name: c, k3s_version: v1.31.4+k3s1 }'];
const file = path.join(dir, 'inventory.yaml');

test('existing key files pass, relative to the inventory', () => {
  const inv = inventory([
    ...header,
    'defaults: { user: u, ssh_key: keys/id }',
    'hosts: { a: { address: 10.0.0.1 } }',
    'groups: { servers: [a] }',
  ]);
  checkConnectionFiles(inv, {});
});

test('a missing key is reported once, where it is set (defaults)', () => {
  const inv = inventory([
    ...header,
    'defaults:',
    '  user: u',
    '  ssh_key: keys/missing',
    'hosts: { a: { address: 10.0.0.1 }, b: { address: 10.0.0.2 } }',
    'groups: { servers: [a], agents: [b] }',
  ]);
  const err = failure(inv, { SSH_AUTH_SOCK: '/tmp/agent' });
  assert.is(err.format(), `${file}:4:12: defaults.ssh_key: ssh key file does not exist: ${path.join(dir, 'keys/missing')}`);
});

test('a key that is a directory, on the host that sets it', () => {
  const inv = inventory([
    ...header,
    'defaults: { user: u, ssh_key: keys/id }',
    'hosts:',
    '  a: { address: 10.0.0.1 }',
    '  b: { address: 10.0.0.2, ssh_key: keys/a-directory }',
    'groups: { servers: [a], agents: [b] }',
  ]);
  const err = failure(inv, {});
  assert.is(err.issues.length, 1);
  assert.is(err.field, 'hosts.b.ssh_key');
  assert.is(err.line, 5);
  assert.match(err.message, /ssh key is not a file/);
});

test('no key and no ssh-agent is an error; with an agent it is fine', () => {
  const inv = inventory([...header, 'defaults: { user: u }', 'hosts: { a: { address: 10.0.0.1 } }', 'groups: { servers: [a] }']);
  const err = failure(inv, {});
  assert.is(err.field, 'hosts.a');
  assert.match(err.message, /no ssh_key and no ssh-agent is running/);
  checkConnectionFiles(inv, { SSH_AUTH_SOCK: '/run/user/1000/agent.sock' });
});

test("a jump host's missing key is reported at the jump host", () => {
  const inv = inventory([
    ...header,
    'defaults: { user: u, ssh_key: keys/id }',
    'hosts:',
    '  gw: { address: 192.0.2.1, ssh_key: keys/gw }',
    '  a: { address: 10.0.0.1, jump: gw }',
    'groups: { servers: [a] }',
  ]);
  const err = failure(inv, {});
  assert.is(err.issues.length, 1);
  assert.is(err.field, 'hosts.gw.ssh_key');
  assert.is(err.line, 4);
});

test('become_password_env must name a variable that is set (its value is never shown)', () => {
  const lines = [
    ...header,
    'defaults: { user: u, ssh_key: keys/id, become_password_env: SUDO_PASS }',
    'hosts:',
    '  a: { address: 10.0.0.1 }',
    '  r: { address: 10.0.0.2, user: root }',
    'groups: { servers: [a], agents: [r] }',
  ];
  const err = failure(inventory(lines), {});
  assert.is(err.issues.length, 1, 'root needs no sudo password');
  assert.is(err.field, 'defaults.become_password_env');
  assert.match(err.message, /environment variable SUDO_PASS is not set/);
  checkConnectionFiles(inventory(lines), { SUDO_PASS: 'hunter2' });
});

test('an inventory built by hand (no source positions) still gets a clear report', () => {
  const inv = inventory([
    ...header,
    'defaults: { user: u, ssh_key: keys/id }',
    'hosts: { a: { address: 10.0.0.1 } }',
    'groups: { servers: [a] }',
  ]);
  const copy: Inventory = { ...inv, hosts: inv.hosts.map((h) => ({ ...h, sshKey: '/nonexistent/key' })) };
  const err = failure(copy, {});
  assert.is(err.format(), `${file}: hosts.a.ssh_key: ssh key file does not exist: /nonexistent/key`);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
