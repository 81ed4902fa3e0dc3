// Local git hashing must agree with git itself, or "unchanged" and the server-built tree check lie.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { blobSha, buildTree, treeSha, type TreeFile } from '../../lib/publish/git-objects.ts';
import { checkRepoPath, isUtf8Text, loadDesiredFiles } from '../../lib/publish/files.ts';

test("the empty tree has git's well-known sha", () => {
  assert.is(treeSha(new Map()), '4b825dc642cb6eb9a060e54bf8d69288fbee4904');
});

test('a path that is both file and directory is refused', () => {
  const f: TreeFile = { mode: '100644', sha: blobSha('x') };
  assert.throws(
    () =>
      buildTree(
        new Map([
          ['a', f],
          ['a/b', f],
        ]),
      ),
    /path conflict/,
  );
});

test('bad paths are refused with the path named', async () => {
  for (const p of ['/abs', 'a/../b', 'a//b', 'dir/', '.git/config', 'a\\b', './a']) {
    assert.throws(
      () => checkRepoPath(p),
      (e: Error) => e.message.includes(`"${p}"`),
    );
  }
  const err = await loadDesiredFiles(
    new Map([
      ['ok.txt', 'a'],
      ['x/.git/hooks', 'b'],
    ]),
  ).catch((e) => e);
  assert.match(err.message, 'x/.git/hooks');
  const empty = await loadDesiredFiles(new Map()).catch((e) => e);
  assert.match(empty.message, /nothing to publish/);
});

test('text detection: valid UTF-8 without NUL is text', () => {
  assert.ok(isUtf8Text(Buffer.from('plain ✓\n')));
  assert.not.ok(isUtf8Text(Buffer.from([0xff, 0xfe])));
  assert.not.ok(isUtf8Text(Buffer.from('a\0b')));
});

test.run();
