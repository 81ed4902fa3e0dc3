// Local git hashing must agree with git itself, or "unchanged" and the server-built tree check lie
// (test/system: needs git). The pure parts: test/unit/publish-objects.test.ts.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { blobSha, buildTree, treeSha, writeObjects, type TreeFile } from '../../lib/publish/git-objects.ts';
import { runGit, tempDir } from '../github-server/git-helpers.ts';

function gitHash(content: Buffer): string {
  return execFileSync('git', ['hash-object', '--stdin'], { input: content, encoding: 'utf8' }).trim();
}

test('blob sha equals git hash-object, text and binary', () => {
  for (const c of ['', 'hello\n', 'ünïcode ✓\n', '\r\nCRLF\r\n']) assert.is(blobSha(c), gitHash(Buffer.from(c)));
  const bin = Buffer.from([0, 255, 1, 128, 10]);
  assert.is(blobSha(bin), gitHash(bin));
});

test('tree sha and the objects written equal what git builds from the same files (nested, git ordering)', async () => {
  const dir = tempDir('objects');
  try {
    const repo = path.join(dir, 'r.git');
    runGit(['init', '--bare', '-q', repo]);
    // names chosen to exercise git's "directory sorts as name/" rule: "a-b" < "a/" < "a0"
    const contents: Record<string, string> = {
      'a/x.yaml': 'x\n',
      'a-b': 'dash\n',
      a0: 'zero\n',
      'a/b/c/deep.txt': 'deep\n',
      'Z.md': 'upper\n',
      'ü/ñ.txt': 'utf8 names\n',
    };
    const files = new Map<string, TreeFile>();
    const blobs = [];
    for (const [p, c] of Object.entries(contents)) {
      files.set(p, { mode: '100644', sha: blobSha(c) });
      blobs.push(Buffer.from(c));
    }
    const built = buildTree(files);
    assert.equal(await writeObjects(repo, files, blobs), { tree: built.sha, blobsWritten: 6 });
    runGit(['fsck', '--strict', '--no-dangling'], repo);
    // git's own tree from the same blobs, through an index
    const env = { ...process.env, GIT_DIR: repo, GIT_INDEX_FILE: path.join(dir, 'index') };
    const info = [...files].map(([p, f]) => `${f.mode} ${f.sha}\t${p}`).join('\n') + '\n';
    execFileSync('git', ['update-index', '--add', '--index-info'], { env, input: info });
    const gitTree = execFileSync('git', ['write-tree'], { env, encoding: 'utf8' }).trim();
    assert.is(built.sha, gitTree);
    assert.is(runGit(['cat-file', '-p', `${built.sha}:a/b/c/deep.txt`], repo), 'deep\n');
    assert.equal(
      await writeObjects(repo, files, []),
      { tree: built.sha, blobsWritten: 0 },
      'blobs the repository has are not written again',
    );
    const more = new Map(files).set('a/b/new.txt', { mode: '100644', sha: blobSha('new\n') });
    const refused = await writeObjects(repo, more, []).then(
      () => null,
      (e: Error) => e.message,
    );
    assert.match(refused ?? 'written', /no content for blob/, 'a missing blob without its content is refused');
    assert.equal(await writeObjects(repo, more, [Buffer.from('new\n')]), { tree: treeSha(more), blobsWritten: 1 });
    runGit(['fsck', '--strict', '--no-dangling'], repo);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hundreds of files in nested directories: one batch, the same tree as git write-tree; the empty tree too', async () => {
  const dir = tempDir('objects-many');
  try {
    const repo = path.join(dir, 'r.git');
    runGit(['init', '--bare', '-q', repo]);
    const files = new Map<string, TreeFile>();
    const blobs: Buffer[] = [];
    for (let i = 0; i < 600; i++) {
      const body = Buffer.from(`file ${i}\n`);
      files.set(`d${i % 7}/e${i % 13}/f${i}.yaml`, { mode: i % 50 === 0 ? '100755' : '100644', sha: blobSha(body) });
      blobs.push(body);
    }
    const started = Date.now();
    const written = await writeObjects(repo, files, blobs);
    const took = Date.now() - started;
    assert.is(written.blobsWritten, 600);
    const env = { ...process.env, GIT_DIR: repo, GIT_INDEX_FILE: path.join(dir, 'index') };
    const info = [...files].map(([p, f]) => `${f.mode} ${f.sha}\t${p}`).join('\n') + '\n';
    execFileSync('git', ['update-index', '--add', '--index-info'], { env, input: info });
    assert.is(written.tree, execFileSync('git', ['write-tree'], { env, encoding: 'utf8' }).trim());
    runGit(['fsck', '--strict', '--no-dangling'], repo);
    assert.ok(took < 20_000, `600 files written in ${took} ms`);
    assert.equal(await writeObjects(repo, new Map(), []), { tree: '4b825dc642cb6eb9a060e54bf8d69288fbee4904', blobsWritten: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
