// Every bad inventory under test/fixtures/inventory/bad/ must fail with exactly the report in its
// sibling .expected file: file:line:col, field path and message of each problem.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InventoryError, loadInventory, parseInventory } from '../../lib/inventory/load.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const badDir = 'test/fixtures/inventory/bad';
const fixtures = readdirSync(path.join(root, badDir))
  .filter((f) => f.endsWith('.yaml'))
  .sort();

async function failure(file: string): Promise<InventoryError> {
  try {
    await loadInventory(file);
  } catch (err) {
    if (err instanceof InventoryError) return err;
    throw err;
  }
  throw new Error(`${file} loaded although it is broken`);
}

test('there are at least 20 bad inventories, each with its expected report', () => {
  assert.ok(fixtures.length >= 20, `only ${fixtures.length} bad fixtures`);
  for (const f of fixtures) {
    const expected = path.join(root, badDir, f.replace(/\.yaml$/, '.expected'));
    assert.ok(readFileSync(expected, 'utf8').trim().length > 0, `${expected} is empty`);
  }
});

for (const f of fixtures) {
  test(`bad/${f} is reported at file:line:col with its field`, async () => {
    const rel = `${badDir}/${f}`;
    const expected = readFileSync(path.join(root, rel.replace(/\.yaml$/, '.expected')), 'utf8').trim();
    const err = await failure(path.join(root, rel).replace(root + path.sep, ''));
    assert.is(err.format(), expected);
    for (const issue of err.issues) {
      assert.is(issue.file, rel);
      assert.ok(issue.line >= 1 && issue.column >= 1, `${f}: issue without a position`);
      assert.is(issue.severity, 'error');
    }
    assert.not.match(err.format(), /\n\s+at /, 'no stack trace in the report');
  });
}

test('the error carries file, line, column, field and what was expected', () => {
  const text = [
    'cluster: { name: homelab, k3s_version: v1.31.4+k3s1 }',
    'defaults: { user: admin }',
    'hosts:',
    '  desktop:',
    '    address: 192.168.1.10',
    '  pi-1:',
    '    address: 192.168.1.21',
    '    port: abc',
    'groups: { servers: [desktop], agents: [pi-1] }',
  ].join('\n');
  try {
    parseInventory(text, 'inventory.yaml');
    assert.unreachable('should have failed');
  } catch (err) {
    assert.instance(err, InventoryError);
    const e = err as InventoryError;
    assert.is(e.file, 'inventory.yaml');
    assert.is(e.line, 8);
    assert.is(e.column, 11);
    assert.is(e.field, 'hosts.pi-1.port');
    assert.is(e.expected, 'an integer 1-65535');
    assert.is(e.message, 'inventory.yaml:8:11: hosts.pi-1.port: must be an integer 1-65535 (got "abc")');
    assert.is(e.issues.length, 1);
  }
});

test('errors are listed in file order with a count', async () => {
  const err = await failure(`${badDir}/several-errors.yaml`);
  assert.equal(
    err.issues.map((i) => i.line),
    [3, 6, 10, 13],
  );
  assert.equal(
    err.issues.map((i) => i.path),
    ['cluster.k3s_version', 'defaults.port', 'hosts.desktop.raspbery_pi', 'hosts.pi-1.taints[0]'],
  );
  assert.match(err.format(), /\n4 errors in test\/fixtures\/inventory\/bad\/several-errors\.yaml$/);
});

test('a file that cannot be read is an InventoryError naming it', async () => {
  const err = await failure('test/fixtures/inventory/does-not-exist.yaml');
  assert.is(err.format(), 'test/fixtures/inventory/does-not-exist.yaml: cannot read the inventory: no such file');
});

test('a repeated list entry is reported at the repeat', () => {
  const text = [
    'cluster: { name: homelab, k3s_version: v1.31.4+k3s1 }',
    'defaults: { user: admin }',
    'hosts:',
    '  a: { address: 10.0.0.1, taints: ["x:NoSchedule", "x:NoSchedule"] }',
    'groups: { servers: [a] }',
  ].join('\n');
  try {
    parseInventory(text, 'inv.yaml');
    assert.unreachable('should have failed');
  } catch (err) {
    const e = err as InventoryError;
    assert.is(e.message, 'inv.yaml:4:52: hosts.a.taints: lists "x:NoSchedule" twice');
  }
});

test('warnings found next to errors are printed after them', () => {
  const text = [
    'cluster: { name: homelab, k3s_version: v1.31.4+k3s1 }',
    'defaults: { user: admin }',
    'hosts:',
    '  a: { address: 10.0.0.1 }',
    '  b: { address: 10.0.0.2, jump: b }',
    'groups:',
    '  servers: [a, b]',
  ].join('\n');
  try {
    parseInventory(text, 'inv.yaml');
    assert.unreachable('should have failed');
  } catch (err) {
    const e = err as InventoryError;
    assert.is(e.issues.length, 1);
    assert.is(e.warnings.length, 1);
    assert.is(
      e.format(),
      [
        'inv.yaml:5:33: hosts.b.jump: a host cannot be its own jump host',
        'inv.yaml:7:3: warning: groups.servers: cluster "homelab" has 2 servers: embedded etcd keeps quorum only with a majority, so an even count tolerates no more failures than one server less (use 1, 3 or 5)',
      ].join('\n'),
    );
  }
});

test.run();
