// The root-side install script of a staged upload, run with the local sh as the current user
// (owner/group set to the user's own names, which chown allows without privileges).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import {
  checkMode,
  checkRemotePath,
  chownAndRenameScript,
  installFromStagingScript,
  stagedPathIn,
  tempPathFor,
} from '../../lib/ssh/upload-plan.ts';

let dir = '';
test.before.each(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cs-upload plan '"));
});
test.after.each(() => fs.rmSync(dir, { recursive: true, force: true }));

function sh(script: string) {
  const r = spawnSync('sh', ['-c', script], { timeout: 20_000 });
  return { code: r.status, stderr: r.stderr.toString() };
}
const me = os.userInfo().username;
const myGroup = spawnSync('id', ['-gn']).stdout.toString().trim();

function stage(content: string): string {
  const staged = path.join(dir, 'staged');
  fs.writeFileSync(staged, content, { mode: 0o600 });
  return staged;
}

test('installs a new file with the given mode and owner, removes the staged copy, leaves no temp file', () => {
  const target = path.join(dir, 'conf $x.yaml');
  const r = sh(installFromStagingScript(stage('a: 1\n'), target, { mode: 0o640, owner: me, group: myGroup }));
  assert.is(r.code, 0, r.stderr);
  assert.is(fs.readFileSync(target, 'utf8'), 'a: 1\n');
  assert.is(fs.statSync(target).mode & 0o7777, 0o640);
  assert.equal(fs.readdirSync(dir), ['conf $x.yaml']);
});

test('without a mode, a new file gets 0644 and a replaced file keeps its mode', () => {
  const target = path.join(dir, 'file');
  assert.is(sh(installFromStagingScript(stage('one'), target, {})).code, 0);
  assert.is(fs.statSync(target).mode & 0o7777, 0o644);
  fs.chmodSync(target, 0o600);
  assert.is(sh(installFromStagingScript(stage('two'), target, {})).code, 0);
  assert.is(fs.readFileSync(target, 'utf8'), 'two');
  assert.is(fs.statSync(target).mode & 0o7777, 0o600);
});

test('replacing is a rename: a reader holding the old file still sees the old content', () => {
  const target = path.join(dir, 'file');
  fs.writeFileSync(target, 'old');
  const fd = fs.openSync(target, 'r');
  try {
    assert.is(sh(installFromStagingScript(stage('new'), target, {})).code, 0);
    assert.is(fs.readFileSync(fd, 'utf8'), 'old');
    assert.is(fs.readFileSync(target, 'utf8'), 'new');
  } finally {
    fs.closeSync(fd);
  }
});

test('a missing directory fails clearly and still removes the staged file', () => {
  const staged = stage('x');
  const r = sh(installFromStagingScript(staged, path.join(dir, 'nope', 'file'), {}));
  assert.is(r.code, 2);
  assert.match(r.stderr, /directory .*nope does not exist/);
  assert.not.ok(fs.existsSync(staged));
});

test('an unknown owner fails before the target is touched, and the temp file is removed', () => {
  const target = path.join(dir, 'file');
  fs.writeFileSync(target, 'keep');
  const r = sh(installFromStagingScript(stage('new'), target, { owner: 'no-such-user-cs' }));
  assert.is.not(r.code, 0);
  assert.is(fs.readFileSync(target, 'utf8'), 'keep');
  assert.equal(fs.readdirSync(dir), ['file']);
});

test('a copy whose content is not what was sent (a truncated staging file) fails before the rename: target kept, no temp file', () => {
  const target = path.join(dir, 'file');
  fs.writeFileSync(target, 'keep');
  const sent = 'the whole new content\n';
  const want = createHash('sha256').update(sent).digest('hex');
  const r = sh(installFromStagingScript(stage(sent.slice(0, 7)), target, {}, want));
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stderr, /file: the written content does not match what was sent/);
  assert.is(fs.readFileSync(target, 'utf8'), 'keep');
  assert.equal(fs.readdirSync(dir), ['file']);
  // and the intact copy goes in
  assert.is(sh(installFromStagingScript(stage(sent), target, {}, want)).code, 0);
  assert.is(fs.readFileSync(target, 'utf8'), sent);
});

test('staged files older than an hour (from dropped connections) are swept, fresh ones kept', () => {
  const staging = path.join(dir, 'staging');
  fs.mkdirSync(staging);
  const old = stagedPathIn(staging);
  const fresh = stagedPathIn(staging);
  const current = stagedPathIn(staging);
  for (const f of [old, fresh, current]) fs.writeFileSync(f, 'x');
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  fs.utimesSync(old, twoHoursAgo, twoHoursAgo);
  assert.is(sh(installFromStagingScript(current, path.join(dir, 'file'), {})).code, 0);
  assert.equal(fs.readdirSync(staging), [path.basename(fresh)]);
});

test('chownAndRenameScript sets the group by name and renames over the target', () => {
  const temp = tempPathFor(path.join(dir, 'file'));
  fs.writeFileSync(temp, 'x');
  assert.is(sh(chownAndRenameScript(temp, path.join(dir, 'file'), undefined, myGroup)).code, 0);
  assert.equal(fs.readdirSync(dir), ['file']);
});

test('temp names sit beside the target, hidden, unique and short enough', () => {
  const a = tempPathFor('/etc/rancher/k3s/config.yaml');
  assert.match(a, /^\/etc\/rancher\/k3s\/\.config\.yaml\.cs-[0-9a-f]{12}$/);
  assert.is.not(a, tempPathFor('/etc/rancher/k3s/config.yaml'));
  assert.ok(path.basename(tempPathFor(`/x/${'n'.repeat(255)}`)).length <= 255);
});

test('remote paths and modes are checked', () => {
  assert.throws(() => checkRemotePath('etc/x'), /absolute/);
  assert.throws(() => checkRemotePath('/etc/'), /name a file/);
  assert.throws(() => checkRemotePath('/etc/..'), /name a file/);
  checkRemotePath('/etc/x');
  assert.throws(() => checkMode(0o10000), /mode/);
  assert.throws(() => checkMode(1.5), /mode/);
  checkMode(0o4755);
});

test.run();
