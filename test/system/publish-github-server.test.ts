// The GitHub stand-in itself answers like GitHub where publish depends on it: checked with plain
// fetch, so a wrong stand-in cannot hide a wrong client.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { GitHubServer } from '../github-server/server.ts';
import { runGit } from '../github-server/git-helpers.ts';

const TOKEN = 'stand-in-token-5678';

async function call(s: GitHubServer, method: string, p: string, body?: unknown, auth = `token ${TOKEN}`) {
  const res = await fetch(`${s.url}${p}`, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

test('auth: 401 without or with a wrong token; Bearer and token schemes accepted', async () => {
  const s = await GitHubServer.start({ tokens: { [TOKEN]: 'alice' } });
  try {
    assert.is((await call(s, 'GET', '/user', undefined, '')).status, 401);
    assert.is((await call(s, 'GET', '/user', undefined, 'token nope')).body.message, 'Bad credentials');
    assert.is((await call(s, 'GET', '/user', undefined, `Bearer ${TOKEN}`)).body.login, 'alice');
  } finally {
    await s.close();
  }
});

test('empty repository: 409 on git data, the contents API makes the first commit, then git data works', async () => {
  const s = await GitHubServer.start({ tokens: { [TOKEN]: 'alice' }, notReadyAfterCreate: 1 });
  try {
    assert.is((await call(s, 'POST', '/user/repos', { name: 'r', private: true })).status, 201);
    assert.is((await call(s, 'GET', '/repos/alice/r')).status, 404, 'not ready right after creation');
    const empty = await call(s, 'POST', '/repos/alice/r/git/blobs', { content: 'x' });
    assert.equal([empty.status, empty.body.message], [409, 'Git Repository is empty.']);
    assert.is((await call(s, 'GET', '/repos/alice/r/git/ref/heads/main')).status, 409);
    const put = await call(s, 'PUT', '/repos/alice/r/contents/a.txt', { message: 'first', content: Buffer.from('a\n').toString('base64') });
    assert.is(put.status, 201);
    const ref = await call(s, 'GET', '/repos/alice/r/git/ref/heads/main');
    assert.is(ref.body.object.sha, put.body.commit.sha);
    assert.is((await call(s, 'GET', '/repos/alice/r/git/ref/heads/other')).status, 404);
    assert.is(runGit(['show', 'main:a.txt'], s.repoPath('alice', 'r')), 'a\n');
  } finally {
    await s.close();
  }
});

test('trees without base_tree replace everything; ref updates are fast-forward only unless forced', async () => {
  const s = await GitHubServer.start({ tokens: { [TOKEN]: 'alice' } });
  try {
    const dir = await s.createRepo('alice', 'r', { autoInit: true });
    const head = runGit(['rev-parse', 'main'], dir).trim();
    const tree = await call(s, 'POST', '/repos/alice/r/git/trees', {
      tree: [{ path: 'd/x.txt', mode: '100644', type: 'blob', content: 'x\n' }],
    });
    assert.is(tree.status, 201);
    const listing = await call(s, 'GET', `/repos/alice/r/git/trees/${tree.body.sha}?recursive=1`);
    assert.equal(
      listing.body.tree.map((e: { path: string }) => e.path),
      ['d', 'd/x.txt'],
      'README.md is gone',
    );
    const orphan = await call(s, 'POST', '/repos/alice/r/git/commits', { message: 'orphan', tree: tree.body.sha, parents: [] });
    const refused = await call(s, 'PATCH', '/repos/alice/r/git/refs/heads/main', { sha: orphan.body.sha, force: false });
    assert.equal([refused.status, refused.body.message], [422, 'Update is not a fast forward']);
    assert.is(runGit(['rev-parse', 'main'], dir).trim(), head);
    const child = await call(s, 'POST', '/repos/alice/r/git/commits', { message: 'child', tree: tree.body.sha, parents: [head] });
    assert.is((await call(s, 'PATCH', '/repos/alice/r/git/refs/heads/main', { sha: child.body.sha })).status, 200);
    assert.is((await call(s, 'PATCH', '/repos/alice/r/git/refs/heads/main', { sha: orphan.body.sha, force: true })).status, 200);
    assert.is(runGit(['rev-parse', 'main'], dir).trim(), orphan.body.sha);
    assert.is(
      (await call(s, 'POST', '/repos/alice/r/git/refs', { ref: 'refs/heads/main', sha: head })).body.message,
      'Reference already exists',
    );
  } finally {
    await s.close();
  }
});

test('injected faults: status, message and headers, for the given number of requests', async () => {
  const s = await GitHubServer.start({ tokens: { [TOKEN]: 'alice' } });
  try {
    s.inject({
      method: 'GET',
      path: '/user',
      status: 403,
      message: 'You have exceeded a secondary rate limit.',
      headers: { 'retry-after': '7' },
      times: 2,
    });
    const a = await call(s, 'GET', '/user');
    assert.equal([a.status, a.headers.get('retry-after')], [403, '7']);
    assert.is((await call(s, 'GET', '/user')).status, 403);
    assert.is((await call(s, 'GET', '/user')).status, 200);
  } finally {
    await s.close();
  }
});

test('deploy keys: added once, duplicates refused, listed with pagination', async () => {
  const s = await GitHubServer.start({ tokens: { [TOKEN]: 'alice' } });
  try {
    await s.createRepo('alice', 'r');
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx0bWVzc2FnZXRlc3RrZXlmb3JzdGFuZGluMDAwMDAw comment';
    const added = await call(s, 'POST', '/repos/alice/r/keys', { title: 't', key, read_only: true });
    assert.equal([added.status, added.body.key], [201, key.split(' ').slice(0, 2).join(' ')]);
    assert.is((await call(s, 'POST', '/repos/alice/r/keys', { title: 't2', key })).status, 422);
    assert.is((await call(s, 'POST', '/repos/alice/r/keys', { title: 'bad', key: 'not a key' })).status, 422);
    assert.is((await call(s, 'GET', '/repos/alice/r/keys?per_page=1')).body.length, 1);
  } finally {
    await s.close();
  }
});

test.run();
