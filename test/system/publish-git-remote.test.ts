// publishToRemote against real bare repositories on disk: one commit per publish, none when
// unchanged, fast-forward only, someone else's changes reported (kept, or refused when they touch
// files we render).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  ensureLocalBareRepo,
  localBareRepoPath,
  planLocalBarePublish,
  planRemotePublish,
  publishToLocalBare,
  publishToRemote,
} from '../../lib/publish/git-remote.ts';
import { PublishConflictError } from '../../lib/publish/plan.ts';
import { statePath } from '../../lib/publish/state.ts';
import { cloneFiles, foreignCommit, mapOf, runGit, tempDir } from '../github-server/git-helpers.ts';

const rendered = {
  'README.md': '# gitops\n',
  'apps/root.yaml': 'kind: Application\nmetadata:\n  name: root\n',
  'apps/platform/mlflow.yaml': 'kind: Application\nmetadata:\n  name: mlflow\n',
  'clusters/home/values.yaml': 'replicas: 1\n',
};

function setup(): { work: string; remote: string; cleanup: () => void } {
  const base = tempDir('publish-remote');
  const remote = path.join(base, 'remote.git');
  runGit(['init', '--bare', '-q', '--initial-branch', 'main', remote]);
  const work = path.join(base, 'work');
  return { work, remote, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

test('first publish makes exactly one commit whose tree is the rendered input', async () => {
  const { work, remote, cleanup } = setup();
  try {
    const res = await publishToRemote({ url: remote, files: mapOf(rendered), workDir: work });
    assert.is(res.unchanged, false);
    assert.is(res.created, false);
    assert.equal(res.foreignChanges, []);
    const clone = await cloneFiles(remote);
    assert.equal(Object.fromEntries(clone.files), rendered);
    assert.equal(clone.commits, [res.commit]);
    assert.is(
      runGit(['log', '-1', '--format=%an <%ae>|%cn <%ce>'], clone.dir).trim(),
      'clusterseed <clusterseed@localhost>|clusterseed <clusterseed@localhost>',
    );
    clone.cleanup();
    const state = JSON.parse(readFileSync(statePath(work), 'utf8'));
    assert.is(state.targets[`git:${remote}#main`].commit, res.commit);
    runGit(['fsck', '--strict', '--no-dangling'], remote);
  } finally {
    cleanup();
  }
});

test('a rerun with the same input makes no commit; a changed input makes one that removes dropped files', async () => {
  const { work, remote, cleanup } = setup();
  try {
    const first = await publishToRemote({ url: remote, files: mapOf(rendered), workDir: work });
    const again = await publishToRemote({ url: remote, files: mapOf(rendered), workDir: work });
    assert.is(again.unchanged, true);
    assert.is(again.commit, first.commit);
    assert.is(runGit(['rev-list', '--count', 'main'], remote).trim(), '1');
    // the state folder lost: a head committed by us is recognised as ours, nothing is foreign
    rmSync(statePath(work));
    const stateless = await publishToRemote({ url: remote, files: mapOf(rendered), workDir: work });
    assert.equal([stateless.unchanged, stateless.foreignChanges], [true, []]);

    const next = { ...rendered, 'clusters/home/values.yaml': 'replicas: 3\n', 'apps/new.yaml': 'kind: Application\n' } as Record<
      string,
      string
    >;
    delete next['apps/platform/mlflow.yaml'];
    const plan = await planRemotePublish({ url: remote, files: mapOf(next), workDir: work });
    assert.equal(plan, {
      added: ['apps/new.yaml'],
      changed: ['clusters/home/values.yaml'],
      removed: ['apps/platform/mlflow.yaml'],
      unchanged: false,
      foreignChanges: [],
      conflicts: [],
    });
    assert.is(runGit(['rev-parse', 'main'], remote).trim(), first.commit, 'plan wrote nothing');

    const second = await publishToRemote({ url: remote, files: mapOf(next), workDir: work });
    assert.is(second.unchanged, false);
    assert.equal([second.added, second.changed, second.removed], [plan.added, plan.changed, plan.removed]);
    assert.equal([again.added, again.changed, again.removed], [[], [], []]);
    const clone = await cloneFiles(remote);
    assert.equal(Object.fromEntries(clone.files), next);
    assert.equal(clone.commits, [second.commit, first.commit]);
    clone.cleanup();
  } finally {
    cleanup();
  }
});

test('a foreign commit to a file we do not manage is kept, reported once, and built upon', async () => {
  const { work, remote, cleanup } = setup();
  try {
    await publishToRemote({ url: remote, files: mapOf(rendered), workDir: work });
    const theirs = foreignCommit(remote, { 'NOTES.md': 'ops notes\n' });
    const warnings: string[] = [];
    const log = { info() {}, verbose() {}, debug() {}, warn: (m: string) => void warnings.push(m) };

    const same = await publishToRemote({ url: remote, files: mapOf(rendered), workDir: work, log });
    assert.is(same.unchanged, true, 'their extra file needs no commit of ours');
    assert.equal(same.foreignChanges, ['NOTES.md']);
    assert.is(same.commit, theirs);
    assert.ok(warnings.some((w) => w.includes('NOTES.md')));

    const next = { ...rendered, 'clusters/home/values.yaml': 'replicas: 2\n' };
    const res = await publishToRemote({ url: remote, files: mapOf(next), workDir: work });
    assert.equal(res.foreignChanges, [], 'already reported and recorded');
    const clone = await cloneFiles(remote);
    assert.equal(Object.fromEntries(clone.files), { ...next, 'NOTES.md': 'ops notes\n' });
    assert.is(clone.commits[1], theirs, 'fast-forward on top of their commit');
    clone.cleanup();
  } finally {
    cleanup();
  }
});

test('a foreign change to a rendered file is refused (not overwritten) unless forced', async () => {
  const { work, remote, cleanup } = setup();
  try {
    await publishToRemote({ url: remote, files: mapOf(rendered), workDir: work });
    const theirs = foreignCommit(remote, { 'clusters/home/values.yaml': 'replicas: 9\n', 'EXTRA.md': 'x\n' });
    const next = { ...rendered, 'apps/root.yaml': 'kind: Application\nmetadata:\n  name: root2\n' };

    const plan = await planRemotePublish({ url: remote, files: mapOf(next), workDir: work });
    assert.equal(plan.conflicts, ['clusters/home/values.yaml']);
    assert.equal(plan.foreignChanges, ['EXTRA.md', 'clusters/home/values.yaml']);

    const err = await publishToRemote({ url: remote, files: mapOf(next), workDir: work }).catch((e) => e);
    assert.instance(err, PublishConflictError);
    assert.equal((err as PublishConflictError).paths, ['clusters/home/values.yaml']);
    assert.match(err.message, /--force/);
    assert.is(runGit(['rev-parse', 'main'], remote).trim(), theirs, 'nothing pushed');

    const forced = await publishToRemote({ url: remote, files: mapOf(next), workDir: work, force: true });
    assert.equal(forced.overwritten, ['clusters/home/values.yaml']);
    const clone = await cloneFiles(remote);
    assert.equal(Object.fromEntries(clone.files), { ...next, 'EXTRA.md': 'x\n' });
    assert.is(clone.commits[1], theirs);
    clone.cleanup();
  } finally {
    cleanup();
  }
});

test('a branch moved between read and push is re-read and published on top (one retry)', async () => {
  const { work, remote, cleanup } = setup();
  try {
    await publishToRemote({ url: remote, files: mapOf(rendered), workDir: work });
    // Prepare someone else's commit under another ref, then let the remote's pre-receive hook move
    // main to it once, while our push is in flight: the ref update then fails its old-value check.
    const theirs = foreignCommit(remote, { 'NOTES.md': 'late\n' });
    const ours = runGit(['rev-parse', 'main~1'], remote).trim();
    runGit(['update-ref', 'refs/foreign/late', theirs], remote);
    runGit(['update-ref', 'refs/heads/main', ours], remote);
    const marker = path.join(remote, 'moved-once');
    const hook = path.join(remote, 'hooks', 'pre-receive');
    writeFileSync(
      hook,
      `#!/bin/sh\ncat >/dev/null\n[ -e '${marker}' ] && exit 0\ntouch '${marker}'\n` +
        `env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES git update-ref refs/heads/main refs/foreign/late\n`,
    );
    chmodSync(hook, 0o755);

    const next = { ...rendered, 'README.md': '# gitops v2\n' };
    const res = await publishToRemote({ url: remote, files: mapOf(next), workDir: work });
    assert.ok(existsSync(marker), 'the hook ran');
    assert.equal(res.foreignChanges, ['NOTES.md']);
    const clone = await cloneFiles(remote);
    assert.equal(Object.fromEntries(clone.files), { ...next, 'NOTES.md': 'late\n' });
    assert.is(clone.commits[1], theirs);
    clone.cleanup();
  } finally {
    cleanup();
  }
});

test('with no remote configured, a local bare repository under the working folder is created and used', async () => {
  const base = tempDir('publish-local');
  try {
    const work = path.join(base, 'site');
    const plan = await planLocalBarePublish({ files: mapOf(rendered), workDir: work });
    assert.equal(plan.added, Object.keys(rendered).sort());
    assert.not.ok(existsSync(localBareRepoPath(work)), 'plan creates nothing');

    const first = await publishToLocalBare({ files: mapOf(rendered), workDir: work });
    assert.is(first.created, true);
    assert.is(first.remote, `file://${localBareRepoPath(work)}`);
    const again = await publishToLocalBare({ files: mapOf(rendered), workDir: work });
    assert.is(again.created, false);
    assert.is(again.unchanged, true);
    const clone = await cloneFiles(localBareRepoPath(work));
    assert.equal(Object.fromEntries(clone.files), rendered);
    assert.is(clone.commits.length, 1);
    clone.cleanup();
    assert.is(await ensureLocalBareRepo(work), false);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('a directory works as input, binary content included', async () => {
  const { work, remote, cleanup } = setup();
  const src = tempDir('publish-src');
  try {
    runGit(['init', '-q', src]); // its .git folder must not be published
    writeFileSync(path.join(src, 'a.yaml'), 'a: 1\n');
    const bin = Buffer.from([0, 1, 2, 255, 254, 10]);
    writeFileSync(path.join(src, 'logo.bin'), bin);
    await publishToRemote({ url: remote, files: src, workDir: work });
    assert.equal(runGit(['ls-tree', '-r', '--name-only', 'main'], remote).trim().split('\n'), ['a.yaml', 'logo.bin']);
    const clone = await cloneFiles(remote);
    assert.ok(readFileSync(path.join(clone.dir, 'logo.bin')).equals(bin));
    clone.cleanup();
  } finally {
    cleanup();
    rmSync(src, { recursive: true, force: true });
  }
});

test('credentials in a remote URL never show in errors', async () => {
  const base = tempDir('publish-cred');
  try {
    const url = 'http://deployer:s3cr3t-pass-word@127.0.0.1:9/nowhere.git';
    const err = await publishToRemote({ url, files: mapOf(rendered), workDir: base }).catch((e) => e);
    assert.instance(err, Error);
    assert.not.match(String(err.message), 's3cr3t-pass-word');
    assert.not.match(String(err.stack), 's3cr3t-pass-word');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test.run();
