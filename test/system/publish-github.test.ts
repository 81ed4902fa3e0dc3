// publishToGitHub against the local GitHub stand-in (test/github-server), whose repositories are
// real bare git repositories: results are checked with `git clone`.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { planGitHubPublish, publishToGitHub, type GitHubPublishOptions } from '../../lib/publish/github.ts';
import { PublishConflictError } from '../../lib/publish/plan.ts';
import type { Logger } from '../../lib/runner/types.ts';
import { GitHubServer, type GitHubServerOptions } from '../github-server/server.ts';
import { cloneFiles, foreignCommit, mapOf, runGit, tempDir } from '../github-server/git-helpers.ts';

const TOKEN = 'ghp_TestTokenValue_0123456789abcdefXYZ';

const rendered = {
  'README.md': '# gitops\n',
  'apps/root.yaml': 'kind: Application\nmetadata:\n  name: root\n',
  'apps/platform/mlflow.yaml': 'kind: Application\nmetadata:\n  name: mlflow\n',
  'clusters/home/values.yaml': 'replicas: 1\n',
};

interface Ctx {
  server: GitHubServer;
  work: string;
  lines: string[];
  log: Logger;
  opts: (extra?: Partial<GitHubPublishOptions>) => GitHubPublishOptions;
  done: () => Promise<void>;
}

async function setup(serverOpts: Partial<GitHubServerOptions> = {}): Promise<Ctx> {
  const server = await GitHubServer.start({ tokens: { [TOKEN]: 'alice' }, orgs: { acme: ['alice'] }, ...serverOpts });
  const work = tempDir('publish-gh');
  const lines: string[] = [];
  const log: Logger = {
    info: (m) => void lines.push(`info ${m}`),
    verbose: (m) => void lines.push(`verbose ${m}`),
    debug: (m) => void lines.push(`debug ${m}`),
    warn: (m) => void lines.push(`warn ${m}`),
  };
  const opts = (extra: Partial<GitHubPublishOptions> = {}): GitHubPublishOptions => ({
    owner: 'alice',
    repo: 'homelab-gitops',
    files: mapOf(rendered),
    workDir: work,
    token: TOKEN,
    baseUrl: server.url,
    log,
    client: { retryBaseMs: 5, rateLimitBaseMs: 10, writeSpacingMs: 0 },
    readiness: { baseDelayMs: 5 },
    ...extra,
  });
  return {
    server,
    work,
    lines,
    log,
    opts,
    done: async () => {
      await server.close();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

function writes(server: GitHubServer): number {
  return server.requests.filter((r) => r.method !== 'GET').length;
}

test('first publish creates the private repository and exactly one commit whose tree is the render', async () => {
  const c = await setup({ notReadyAfterCreate: 2 });
  try {
    const res = await publishToGitHub(c.opts());
    assert.is(res.created, true);
    assert.is(res.unchanged, false);
    assert.equal(res.foreignChanges, []);
    assert.ok(res.commit && /^[0-9a-f]{40}$/.test(res.commit));
    const clone = await cloneFiles(c.server.repoPath('alice', 'homelab-gitops'));
    assert.equal(Object.fromEntries(clone.files), rendered);
    assert.equal(clone.commits, [res.commit], 'one commit in the history');
    assert.is(runGit(['log', '-1', '--format=%an <%ae>'], clone.dir).trim(), 'clusterseed <clusterseed@localhost>');
    clone.cleanup();

    const repo = await (await fetch(`${c.server.url}/repos/alice/homelab-gitops`, { headers: { authorization: `token ${TOKEN}` } })).json();
    assert.is(repo.private, true);
    assert.is(c.server.count('POST', /^\/user\/repos$/), 1);
    // the new repository's short-lived 404s were waited out, the empty repository's 409 led to the contents API
    assert.ok(c.server.requests.some((r) => r.status === 404 && r.path.startsWith('/repos/alice/homelab-gitops')));
    assert.ok(c.server.requests.some((r) => r.status === 409));
    assert.is(c.server.count('PUT', /\/contents\//), 1);
    assert.is(res.remote, 'git@127.0.0.1:alice/homelab-gitops.git');
  } finally {
    await c.done();
  }
});

test('a rerun makes no commit and no write', async () => {
  const c = await setup();
  try {
    const first = await publishToGitHub(c.opts());
    const before = writes(c.server);
    const again = await publishToGitHub(c.opts());
    assert.is(again.unchanged, true);
    assert.is(again.created, false);
    assert.is(again.commit, first.commit);
    assert.is(writes(c.server), before, 'no POST/PATCH/PUT on the second run');
    assert.is(runGit(['rev-list', '--count', 'main'], c.server.repoPath('alice', 'homelab-gitops')).trim(), '1');
  } finally {
    await c.done();
  }
});

test('a changed render is one commit on top; dropped files disappear; binary content survives', async () => {
  const c = await setup();
  try {
    const first = await publishToGitHub(c.opts());
    const next: Record<string, string | Buffer> = {
      ...rendered,
      'clusters/home/values.yaml': 'replicas: 3\n',
      'assets/logo.bin': Buffer.from([0, 159, 146, 150, 255]),
    };
    delete next['apps/platform/mlflow.yaml'];
    const plan = await planGitHubPublish(c.opts({ files: new Map(Object.entries(next)) }));
    assert.equal(
      { added: plan.added, changed: plan.changed, removed: plan.removed, unchanged: plan.unchanged, repoExists: plan.repoExists },
      {
        added: ['assets/logo.bin'],
        changed: ['clusters/home/values.yaml'],
        removed: ['apps/platform/mlflow.yaml'],
        unchanged: false,
        repoExists: true,
      },
    );
    const res = await publishToGitHub(c.opts({ files: new Map(Object.entries(next)) }));
    assert.equal([res.added, res.changed, res.removed], [plan.added, plan.changed, plan.removed]);
    const clone = await cloneFiles(c.server.repoPath('alice', 'homelab-gitops'));
    assert.equal(clone.commits, [res.commit, first.commit]);
    assert.equal([...clone.files.keys()].sort(), Object.keys(next).sort());
    assert.ok(readFileSync(path.join(clone.dir, 'assets/logo.bin')).equals(next['assets/logo.bin'] as Buffer));
    clone.cleanup();
    assert.is(c.server.count('POST', /\/git\/blobs$/), 1, 'only the binary file is uploaded apart');
  } finally {
    await c.done();
  }
});

test('an organisation repository is created through /orgs/{org}/repos', async () => {
  const c = await setup();
  try {
    const res = await publishToGitHub(c.opts({ owner: 'acme', repo: 'cluster' }));
    assert.is(res.created, true);
    assert.is(c.server.count('GET', /^\/users\/acme$/), 1);
    assert.is(c.server.count('POST', /^\/orgs\/acme\/repos$/), 1);
    assert.is(c.server.count('POST', /^\/user\/repos$/), 0);
    const clone = await cloneFiles(c.server.repoPath('acme', 'cluster'));
    assert.equal(Object.fromEntries(clone.files), rendered);
    clone.cleanup();
    // another user's name cannot be created with alice's token
    const err = await publishToGitHub(c.opts({ owner: 'bob', repo: 'x', org: false })).catch((e) => e);
    assert.match(err.message, /belongs to alice, not bob/);
  } finally {
    await c.done();
  }
});

test('a foreign commit is not overwritten: unmanaged files kept, rendered files refused unless forced', async () => {
  const c = await setup();
  try {
    await publishToGitHub(c.opts());
    const repoDir = c.server.repoPath('alice', 'homelab-gitops');
    const notes = foreignCommit(repoDir, { 'NOTES.md': 'ops notes\n' });
    const kept = await publishToGitHub(c.opts());
    assert.equal(kept.foreignChanges, ['NOTES.md']);
    assert.is(kept.unchanged, true);
    assert.is(kept.commit, notes);
    assert.ok(c.lines.some((l) => l.startsWith('warn') && l.includes('NOTES.md')));

    const theirs = foreignCommit(repoDir, { 'clusters/home/values.yaml': 'replicas: 7\n' });
    const next = { ...rendered, 'apps/root.yaml': 'kind: Application\nmetadata:\n  name: root-v2\n' };
    const err = await publishToGitHub(c.opts({ files: mapOf(next) })).catch((e) => e);
    assert.instance(err, PublishConflictError);
    assert.equal(err.paths, ['clusters/home/values.yaml']);
    assert.is(runGit(['rev-parse', 'main'], repoDir).trim(), theirs, 'their commit is still the head');

    const forced = await publishToGitHub(c.opts({ files: mapOf(next), force: true }));
    assert.equal(forced.overwritten, ['clusters/home/values.yaml']);
    const clone = await cloneFiles(repoDir);
    assert.equal(Object.fromEntries(clone.files), { ...next, 'NOTES.md': 'ops notes\n' });
    assert.is(clone.commits[1], theirs, 'built on their commit, history kept');
    clone.cleanup();
  } finally {
    await c.done();
  }
});

test('a 422 "not a fast forward" on the ref update re-reads the head and retries once', async () => {
  const c = await setup();
  try {
    await publishToGitHub(c.opts());
    let moved = '';
    c.server.beforeRefUpdate = (repo) => {
      if (moved) return;
      moved = foreignCommit(repo.dir, { 'LATE.md': 'pushed meanwhile\n' });
    };
    const next = { ...rendered, 'README.md': '# gitops v2\n' };
    const res = await publishToGitHub(c.opts({ files: mapOf(next) }));
    assert.ok(c.server.requests.some((r) => r.method === 'PATCH' && r.status === 422));
    assert.equal(res.foreignChanges, ['LATE.md']);
    const clone = await cloneFiles(c.server.repoPath('alice', 'homelab-gitops'));
    assert.equal(Object.fromEntries(clone.files), { ...next, 'LATE.md': 'pushed meanwhile\n' });
    assert.is(clone.commits[1], moved);
    clone.cleanup();
  } finally {
    await c.done();
  }
});

test('a branch that keeps moving fails clearly after one retry', async () => {
  const c = await setup();
  try {
    await publishToGitHub(c.opts());
    const patches = c.server.count('PATCH', /\/git\/refs\/heads\/main$/);
    let n = 0;
    c.server.beforeRefUpdate = (repo) => void foreignCommit(repo.dir, { [`x${n++}.md`]: 'x\n' });
    const err = await publishToGitHub(c.opts({ files: mapOf({ ...rendered, 'README.md': 'v3\n' }) })).catch((e) => e);
    assert.match(err.message, /keeps moving/);
    assert.is(c.server.count('PATCH', /\/git\/refs\/heads\/main$/) - patches, 2);
  } finally {
    await c.done();
  }
});

test('secondary rate limit (403 + retry-after) and 5xx are retried and the publish succeeds', async () => {
  const c = await setup();
  try {
    c.server.inject({
      method: 'POST',
      path: /\/git\/trees$/,
      status: 403,
      message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
      headers: { 'retry-after': '2' },
    });
    c.server.inject({ method: 'GET', path: /\/git\/ref\//, status: 502, message: 'Server Error', times: 2 });
    c.server.inject({ method: 'POST', path: /\/git\/commits$/, status: 500, message: 'Server Error' });
    // primary rate limit: quota exhausted until the reset time
    const reset = String(Math.floor(Date.now() / 1000) + 1);
    c.server.inject({
      method: 'GET',
      path: /^\/users\//,
      status: 403,
      message: 'API rate limit exceeded',
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset },
    });
    const started = Date.now();
    const res = await publishToGitHub(c.opts());
    assert.is(res.unchanged, false);
    const statuses = c.server.requests.map((r) => r.status);
    assert.ok(statuses.includes(403) && statuses.includes(502) && statuses.includes(500));
    assert.ok(c.lines.some((l) => l.startsWith('warn') && /secondary rate limit.*waiting 2s/.test(l)));
    assert.ok(c.lines.some((l) => l.startsWith('warn') && /GitHub rate limit on GET .*waiting \d+s/.test(l)));
    assert.not.ok(
      c.lines.some((l) => l.startsWith('warn') && / - (404|409) /.test(l)),
      'expected 404/409 answers are not warnings',
    );
    assert.ok(Date.now() - started >= 20, 'the retry-after was waited out (2 s scaled to 10 ms units)');
    const clone = await cloneFiles(c.server.repoPath('alice', 'homelab-gitops'));
    assert.equal(Object.fromEntries(clone.files), rendered);
    assert.is(clone.commits.length, 1);
    clone.cleanup();
  } finally {
    await c.done();
  }
});

test('retries are bounded: persistent 5xx and a too-long rate limit fail with a clear error', async () => {
  const c = await setup();
  try {
    c.server.inject({ method: 'GET', path: /^\/repos\/alice\/homelab-gitops$/, status: 503, message: 'Service Unavailable', times: 4 });
    const err = await publishToGitHub(c.opts()).catch((e) => e);
    assert.match(err.message, /get repository.*503/);
    assert.is(c.server.count('GET', /^\/repos\/alice\/homelab-gitops$/), 4, 'one try and three retries');

    c.server.inject({
      method: 'POST',
      path: '/user/repos',
      status: 403,
      message: 'You have exceeded a secondary rate limit.',
      headers: { 'retry-after': '3600' },
      times: 1,
    });
    const err2 = await publishToGitHub(c.opts()).catch((e) => e);
    assert.match(err2.message, /403/, err2.message);
    assert.ok(c.lines.some((l) => /asks to wait 3600s/.test(l)));
  } finally {
    await c.done();
  }
});

test('a repository still 404 after the bounded wait fails clearly', async () => {
  const c = await setup({ notReadyAfterCreate: 50 });
  try {
    const err = await publishToGitHub(c.opts({ readiness: { attempts: 3, baseDelayMs: 1 } })).catch((e) => e);
    assert.match(err.message, /just created and still answers 404 after 3 attempts/);
  } finally {
    await c.done();
  }
});

test('an existing repository whose README differs from the rendered one: refused, then overwritten with force', async () => {
  const c = await setup();
  try {
    const dir = await c.server.createRepo('alice', 'existing', { autoInit: true });
    const initial = runGit(['rev-parse', 'main'], dir).trim();
    const err = await publishToGitHub(c.opts({ repo: 'existing' })).catch((e) => e);
    assert.instance(err, PublishConflictError);
    assert.equal(err.paths, ['README.md']);
    assert.is(runGit(['rev-parse', 'main'], dir).trim(), initial, 'nothing committed');
    const forced = await publishToGitHub(c.opts({ repo: 'existing', force: true }));
    assert.equal(forced.overwritten, ['README.md']);
    const clone = await cloneFiles(dir);
    assert.equal(Object.fromEntries(clone.files), rendered);
    assert.equal(clone.commits, [forced.commit, initial]);
    clone.cleanup();
  } finally {
    await c.done();
  }
});

test('an existing repository: unrelated files kept; a new branch is created with POST /git/refs', async () => {
  const c = await setup();
  try {
    await c.server.createRepo('alice', 'existing', { autoInit: true });
    const files = { 'apps/root.yaml': rendered['apps/root.yaml'] };
    const res = await publishToGitHub(c.opts({ repo: 'existing', files: mapOf(files) }));
    assert.equal(res.foreignChanges, ['README.md']);
    const clone = await cloneFiles(c.server.repoPath('alice', 'existing'));
    assert.equal([...clone.files.keys()].sort(), ['README.md', 'apps/root.yaml']);
    assert.is(clone.commits.length, 2);
    clone.cleanup();

    const other = await publishToGitHub(c.opts({ repo: 'existing', files: mapOf(files), branch: 'gitops' }));
    assert.is(c.server.count('POST', /\/git\/refs$/), 1);
    const onBranch = await cloneFiles(c.server.repoPath('alice', 'existing'), 'gitops');
    assert.is(onBranch.commits[0], other.commit);
    onBranch.cleanup();
  } finally {
    await c.done();
  }
});

test('plan on a missing repository writes nothing and lists every file as added', async () => {
  const c = await setup();
  try {
    const plan = await planGitHubPublish(c.opts());
    assert.is(plan.repoExists, false);
    assert.equal(plan.added, Object.keys(rendered).sort());
    assert.is(writes(c.server), 0);
    assert.not.ok(c.server.hasRepo('alice', 'homelab-gitops'));
  } finally {
    await c.done();
  }
});

test('the deploy key is created once (read-only, 0600 private key) and found by title on the next run', async () => {
  const c = await setup();
  try {
    const first = await publishToGitHub(c.opts({ deployKey: { title: 'argocd-home' } }));
    assert.ok(first.deployKey);
    assert.is(first.deployKey!.created, true);
    const keys = c.server.deployKeys('alice', 'homelab-gitops');
    assert.is(keys.length, 1);
    assert.is(keys[0].title, 'argocd-home');
    assert.is(keys[0].read_only, true);
    assert.ok(first.deployKey!.publicKey.startsWith(keys[0].key));
    assert.is(statSync(first.deployKey!.privateKeyPath).mode & 0o777, 0o600);

    const second = await publishToGitHub(c.opts({ deployKey: { title: 'argocd-home' } }));
    assert.is(second.deployKey!.created, false);
    assert.is(second.deployKey!.id, first.deployKey!.id);
    assert.is(c.server.count('POST', /\/keys$/), 1);
    assert.is(c.server.count('GET', /\/keys$/), 2);

    // the local key lost: a new pair replaces the useless registered one
    rmSync(first.deployKey!.privateKeyPath);
    const third = await publishToGitHub(c.opts({ deployKey: { title: 'argocd-home' } }));
    assert.is(third.deployKey!.created, true);
    assert.is(third.deployKey!.replaced, true);
    assert.is(c.server.deployKeys('alice', 'homelab-gitops').length, 1);
  } finally {
    await c.done();
  }
});

test('the token appears in no log line, error, state file or console output', async () => {
  const c = await setup({ notReadyAfterCreate: 1 });
  const captured: string[] = [];
  const orig = {
    log: console.log,
    info: console.info,
    warn: console.warn,
    error: console.error,
    debug: console.debug,
    out: process.stdout.write.bind(process.stdout),
    err: process.stderr.write.bind(process.stderr),
  };
  const grab = (...args: unknown[]) =>
    void captured.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 8 }))).join(' '));
  console.log = console.info = console.warn = console.error = console.debug = grab;
  process.stdout.write = ((chunk: unknown) => (grab(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown) => (grab(String(chunk)), true)) as typeof process.stderr.write;
  const errors: unknown[] = [];
  try {
    c.server.inject({
      method: 'POST',
      path: /\/git\/trees$/,
      status: 403,
      message: 'You have exceeded a secondary rate limit.',
      headers: { 'retry-after': '1' },
    });
    c.server.inject({ method: 'POST', path: /\/git\/commits$/, status: 502, message: 'Bad Gateway' });
    await publishToGitHub(c.opts());
    await publishToGitHub(c.opts());
    // failures: a wrong token (401), persistent 5xx, a conflict
    await publishToGitHub(c.opts({ token: `${TOKEN}-wrong` })).catch((e) => errors.push(e));
    c.server.inject({ method: 'GET', path: /\/git\/ref\//, status: 500, message: 'boom', times: 10 });
    await publishToGitHub(c.opts({ files: mapOf({ ...rendered, 'README.md': 'x\n' }) })).catch((e) => errors.push(e));
    // no token at all
    const saved = process.env.GITHUB_TOKEN;
    delete process.env.GITHUB_TOKEN;
    await publishToGitHub({ ...c.opts(), token: undefined }).catch((e) => errors.push(e));
    if (saved !== undefined) process.env.GITHUB_TOKEN = saved;
  } catch (e) {
    await c.done();
    throw e;
  } finally {
    Object.assign(console, { log: orig.log, info: orig.info, warn: orig.warn, error: orig.error, debug: orig.debug });
    process.stdout.write = orig.out as typeof process.stdout.write;
    process.stderr.write = orig.err as typeof process.stderr.write;
  }
  try {
    assert.is(errors.length, 3);
    assert.match(String((errors[0] as Error).message), /401 .*GITHUB_TOKEN/);
    assert.match(String((errors[2] as Error).message), /no token/);
    const everything = [
      ...c.lines,
      ...captured,
      ...errors.map((e) => inspect(e, { depth: 12, showHidden: true })),
      ...errors.map((e) => String((e as Error).stack)),
    ];
    for (const f of walk(path.join(c.work, '.clusterseed'))) everything.push(readFileSync(f, 'utf8'));
    assert.ok(c.lines.length > 3, 'the run did log');
    for (const text of everything) {
      assert.not.ok(text.includes(TOKEN), `token leaked in: ${text.slice(0, 200)}`);
      assert.not.ok(text.includes(TOKEN.slice(4, 24)), 'no part of it either');
    }
  } finally {
    await c.done();
  }
});

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

test.run();
