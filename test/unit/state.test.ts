// The control machine's private state (lib/state): modes, atomic writes, create-once, the
// loose-mode policy (tighten and say so) and planted links, on real files.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createPrivate,
  ensurePrivateDir,
  faults,
  ignoreInGit,
  makePrivateDir,
  readPrivate,
  StateFileError,
  writePrivate,
} from '../../lib/state/private-files.ts';
import { loadPublishedState, savePublishedState, statePath } from '../../lib/publish/state.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir = '';
const modeOf = (p: string) => statSync(p).mode & 0o777;

test.before.each(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cs-state-'));
});
test.after.each(() => {
  rmSync(dir, { recursive: true, force: true });
  faults.beforeRename = undefined;
});

test('writePrivate: 0600 in 0700 directories whatever the umask, replacing the old content', () => {
  const previous = process.umask(0o022);
  try {
    const file = path.join(dir, '.clusterseed', 'c1', 'credentials.json');
    writePrivate(file, 'one\n');
    assert.is(modeOf(file), 0o600);
    assert.is(modeOf(path.dirname(file)), 0o700);
    assert.is(modeOf(path.join(dir, '.clusterseed')), 0o700);
    writePrivate(file, 'two\n');
    assert.is(readFileSync(file, 'utf8'), 'two\n');
    assert.equal(readdirSync(path.dirname(file)), ['credentials.json'], 'no temp file stays behind');
  } finally {
    process.umask(previous);
  }
});

test('writePrivate: a crash between the temp file and the rename leaves the old file', () => {
  const file = path.join(dir, 'state.json');
  writePrivate(file, 'old\n');
  let tempSeen = '';
  faults.beforeRename = (tmp) => {
    tempSeen = readFileSync(tmp, 'utf8');
    throw new Error('crash');
  };
  assert.throws(() => writePrivate(file, 'new\n'), /crash/);
  assert.is(tempSeen, 'new\n', 'the temp file was complete before the rename');
  assert.is(readFileSync(file, 'utf8'), 'old\n');
  assert.equal(readdirSync(dir), ['state.json']);
});

test('writePrivate: a process killed before the rename leaves the old file whole', () => {
  const file = path.join(dir, 'state.json');
  writePrivate(file, 'old\n');
  const script = `
import { faults, writePrivate } from '${root}/lib/state/private-files.ts';
faults.beforeRename = () => process.kill(process.pid, 'SIGKILL');
writePrivate(process.argv[1], 'new\\n'.repeat(10000));
`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, file], { cwd: root, encoding: 'utf8' });
  assert.is(r.signal, 'SIGKILL', r.stderr);
  assert.is(readFileSync(file, 'utf8'), 'old\n');
});

test('createPrivate: creates once (0600), refuses an existing file without touching it', () => {
  const file = path.join(dir, 'keys', 'token');
  assert.ok(createPrivate(file, 'first\n'));
  assert.is(modeOf(file), 0o600);
  assert.is(modeOf(path.dirname(file)), 0o700);
  assert.not.ok(createPrivate(file, 'second\n'));
  assert.is(readFileSync(file, 'utf8'), 'first\n');
  assert.equal(readdirSync(path.dirname(file)), ['token']);
});

test('readPrivate: undefined when missing; a loose file is tightened to 0600 and said so', () => {
  const file = path.join(dir, 'token');
  assert.is(readPrivate(file), undefined);
  writeFileSync(file, 'secret\n');
  chmodSync(file, 0o644);
  const warnings: string[] = [];
  assert.is(readPrivate(file, { warn: (m) => void warnings.push(m) }), 'secret\n');
  assert.is(modeOf(file), 0o600);
  assert.equal(warnings, [`${file} was readable by group or others (mode 644); its mode is now 600`]);
  readPrivate(file, { warn: (m) => void warnings.push(m) });
  assert.is(warnings.length, 1, 'a 0600 file is read silently');
});

test('ensurePrivateDir: a loose directory of ours is tightened to 0700 and said so; makePrivateDir leaves it', () => {
  const sub = path.join(dir, 'sealing');
  mkdirSync(sub);
  chmodSync(sub, 0o755);
  assert.not.ok(makePrivateDir(sub));
  assert.is(modeOf(sub), 0o755);
  const warnings: string[] = [];
  assert.not.ok(ensurePrivateDir(sub, { warn: (m) => void warnings.push(m) }));
  assert.is(modeOf(sub), 0o700);
  assert.equal(warnings, [`${sub} was open to group or others (mode 755); its mode is now 700`]);
  writeFileSync(path.join(dir, 'plain'), '');
  assert.throws(() => ensurePrivateDir(path.join(dir, 'plain')), /not a directory|EEXIST/);
});

test('a symbolic link planted at the name is not followed: read refuses it, write replaces it, create-once refuses it', () => {
  const target = path.join(dir, 'elsewhere');
  writeFileSync(target, 'not yours\n');
  chmodSync(target, 0o644);
  const file = path.join(dir, 'token');
  symlinkSync(target, file);
  assert.throws(
    () => readPrivate(file),
    (err: unknown) => err instanceof StateFileError && /is a symbolic link/.test((err as Error).message),
  );
  assert.is(modeOf(target), 0o644, 'the link target was not tightened');
  assert.not.ok(createPrivate(file, 'mine\n'));
  assert.is(readFileSync(target, 'utf8'), 'not yours\n');
  writePrivate(file, 'mine\n');
  assert.is(readFileSync(target, 'utf8'), 'not yours\n', 'the target is never written through the link');
  assert.not.ok(statSync(file).isSymbolicLink());
  assert.is(readPrivate(file), 'mine\n');
});

test('readPrivate refuses what is not a regular file', () => {
  assert.throws(() => readPrivate(dir), /is not a regular file/);
});

test('ignoreInGit: a .gitignore of * once, an existing one is kept', () => {
  ignoreInGit(dir);
  assert.is(readFileSync(path.join(dir, '.gitignore'), 'utf8'), '*\n');
  writeFileSync(path.join(dir, '.gitignore'), 'mine\n');
  ignoreInGit(dir);
  assert.is(readFileSync(path.join(dir, '.gitignore'), 'utf8'), 'mine\n');
});

test('publish state is private state too: 0600 in a 0700 .clusterseed (it was written with the umask)', async () => {
  const previous = process.umask(0o022);
  try {
    await savePublishedState(dir, 'origin', { commit: 'c1', tree: 't1' }, new Map());
    assert.is(modeOf(statePath(dir)), 0o600);
    assert.is(modeOf(path.dirname(statePath(dir))), 0o700);
    assert.is((await loadPublishedState(dir, 'origin'))?.commit, 'c1');
  } finally {
    process.umask(previous);
  }
});

test.run();
