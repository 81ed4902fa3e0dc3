// Target choice of the publish entry point: remote URL, GitHub (with a token), or the local bare
// repository that needs no account.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { chooseTarget, planPublish, publish } from '../../lib/publish/index.ts';
import { localBareRepoPath } from '../../lib/publish/git-remote.ts';
import { GitHubServer } from '../github-server/server.ts';
import { cloneFiles, mapOf, runGit, tempDir } from '../github-server/git-helpers.ts';

const files = mapOf({ 'apps/root.yaml': 'kind: Application\n' });

test('target choice: remote, GitHub with a token, local bare otherwise; GitHub without a token is an error', () => {
  assert.is(
    chooseTarget({ files, workDir: '.', remote: 'https://u:secretpass@git.example.test/a.git' }).label,
    'https://********@git.example.test/a.git',
  );
  assert.is(chooseTarget({ files, workDir: '.', github: { owner: 'o', repo: 'r' }, env: { GITHUB_TOKEN: 'tok-1234' } }).kind, 'github');
  assert.is(chooseTarget({ files, workDir: '.', env: {} }).kind, 'local');
  assert.throws(() => chooseTarget({ files, workDir: '.', github: { owner: 'o', repo: 'r' }, env: {} }), /GITHUB_TOKEN is not set/);
  assert.throws(() => chooseTarget({ files, workDir: '.', remote: '/x', github: { owner: 'o', repo: 'r' } }), /not both/);
});

test('the quick start: no token, no remote → local bare repository; plan then publish then no-op', async () => {
  const work = tempDir('publish-index');
  try {
    const plan = await planPublish({ files, workDir: work, env: {} });
    assert.is(plan.target.kind, 'local');
    assert.equal(plan.added, ['apps/root.yaml']);
    const res = await publish({ files, workDir: work, env: {} });
    assert.is(res.created, true);
    const again = await publish({ files, workDir: work, env: {} });
    assert.is(again.unchanged, true);
    const clone = await cloneFiles(localBareRepoPath(work));
    assert.equal(Object.fromEntries(clone.files), { 'apps/root.yaml': 'kind: Application\n' });
    clone.cleanup();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('a remote URL and a GitHub repository are dispatched to their backends', async () => {
  const work = tempDir('publish-index');
  const server = await GitHubServer.start({ tokens: { 'tok-index-1234': 'alice' } });
  try {
    const remote = path.join(work, 'remote.git');
    runGit(['init', '--bare', '-q', '--initial-branch', 'main', remote]);
    const r = await publish({ files, workDir: work, remote });
    assert.is(r.target.kind, 'remote');
    assert.is(runGit(['rev-parse', 'main'], remote).trim(), r.commit);

    const g = await publish({
      files,
      workDir: work,
      github: { owner: 'alice', repo: 'gitops', baseUrl: server.url, client: { writeSpacingMs: 0, retryBaseMs: 5 }, deployKey: false },
      env: { GITHUB_TOKEN: 'tok-index-1234' },
    });
    assert.is(g.target.kind, 'github');
    assert.is(g.created, true);
    assert.is(runGit(['rev-parse', 'main'], server.repoPath('alice', 'gitops')).trim(), g.commit);
  } finally {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  }
});

test.run();
