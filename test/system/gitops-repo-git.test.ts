// The on-cluster GitOps repository (issue 16, part 1) with the real git (test/system: needs git): the
// forced command run with sh and git-upload-pack against a local bare repo, bundle ranges, syncHostRepo
// and restoreMirror. The pure parts: test/unit/gitops-repo.test.ts.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { forcedCommandScript, SERVE_COMMAND } from '../../roles/gitops-repo/access.ts';
import { bundleArgs, HostRepoDivergedError, restoreMirror, syncHostRepo, syncPlan } from '../../lib/publish/host-repo.ts';
import { planPublish, publish } from '../../lib/publish/index.ts';
import type { Transport } from '../../lib/ssh/types.ts';
import { tempDir } from '../fixtures/gitops/state.ts';

const tmp = tempDir('gitops-repo');

const gitq = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
  }).trim();

function repoWithCommits(n: number): { dir: string; commits: string[] } {
  const dir = mkdtempSync(path.join(tmp, 'work-'));
  gitq(dir, 'init', '-q', '-b', 'main');
  const commits: string[] = [];
  for (let i = 0; i < n; i++) {
    writeFileSync(path.join(dir, `f${i}.txt`), `${i}\n`);
    gitq(dir, 'add', '.');
    gitq(dir, 'commit', '-q', '-m', `c${i}`);
    commits.push(gitq(dir, 'rev-parse', 'HEAD'));
  }
  return { dir, commits };
}

// ---- the forced command -------------------------------------------------------------------------

function serve(script: string, original: string | undefined) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  if (original !== undefined) env.SSH_ORIGINAL_COMMAND = original;
  // a flush packet: the client wants nothing after the ref advertisement, upload-pack ends
  return spawnSync('sh', [script], { env, input: '0000', encoding: 'utf8', timeout: 20_000 });
}

test('forced command: upload-pack of the one repository runs; a shell, a push, other paths and tricks are refused', () => {
  const { dir, commits } = repoWithCommits(1);
  const repo = path.join(tmp, 'served.git');
  execFileSync('git', ['clone', '-q', '--bare', dir, repo]);
  const script = path.join(tmp, SERVE_COMMAND);
  writeFileSync(script, forcedCommandScript(repo), { mode: 0o755 });

  const ok = serve(script, `git-upload-pack '${repo}'`);
  assert.is(ok.status, 0, ok.stderr);
  // the ref advertisement (pkt-lines) names the repository's head
  assert.match(ok.stdout, new RegExp(`^[0-9a-f]{4}${commits[0]} HEAD`));
  assert.is(serve(script, `git upload-pack '${repo}'`).status, 0);

  for (const bad of [
    undefined,
    '',
    'id',
    'sh -c id',
    `git-receive-pack '${repo}'`,
    `git-upload-archive '${repo}'`,
    "git-upload-pack '/etc'",
    `git-upload-pack '${repo}/../other.git'`,
    `git-upload-pack '${repo}'; id`,
    `git-upload-pack '${repo}' && id`,
    `git-upload-pack ${repo}`,
  ]) {
    const r = serve(script, bad);
    assert.is(r.status, 1, `${JSON.stringify(bad)}: ${r.stdout}${r.stderr}`);
    assert.is(r.stdout, '', `${JSON.stringify(bad)} printed nothing on stdout`);
    assert.match(r.stderr, /clusterseed: this key may only read .* \(git-upload-pack\); refused/);
  }
});

test('a range bundle holds only the missing commits and fast-forwards a repository at the ancestor', () => {
  const { dir, commits } = repoWithCommits(3);
  const host = path.join(tmp, 'host.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', host]);
  gitq(dir, 'push', '-q', host, `${commits[0]}:refs/heads/main`);
  const bundle = path.join(tmp, 'range.bundle');
  gitq(dir, ...bundleArgs(bundle, 'main', syncPlan(commits[2], commits[0], true, true) as { action: 'range'; since: string }));
  // the bundle needs the host's commit and carries the two after it
  const verify = spawnSync('git', ['bundle', 'verify', bundle], { cwd: dir, encoding: 'utf8' });
  assert.match(verify.stdout + verify.stderr, new RegExp(`requires this ref:?\\s*\\n?${commits[0]}`));
  const objects = execFileSync(
    'sh',
    [
      '-c',
      `git bundle list-heads ${bundle}; git -C ${host} fetch -q ${bundle} refs/heads/main:refs/heads/main && git -C ${host} rev-parse main`,
    ],
    { encoding: 'utf8' },
  );
  assert.match(objects, new RegExp(`${commits[2]}\\s*$`));
  // a non-fast-forward is refused by the same fetch (no '+')
  const old = path.join(tmp, 'old.bundle');
  gitq(dir, 'branch', 'old', commits[1]);
  gitq(dir, 'bundle', 'create', '-q', old, 'refs/heads/old');
  const back = spawnSync('git', ['-C', host, 'fetch', '-q', old, 'refs/heads/old:refs/heads/main'], { encoding: 'utf8' });
  assert.is.not(back.status, 0, 'non-fast-forward refused');
  assert.is(gitq(host, 'rev-parse', 'main'), commits[2]);
});

// ---- syncHostRepo against a stand-in connection whose "host" is a local bare repository ----------

const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };

function standInHost(hostRepo: string | undefined) {
  const uploads: { path: string; content: Buffer; owner?: string }[] = [];
  const downloads: { path: string; become?: boolean }[] = [];
  /** files on the "host" (bundles), by their host path */
  const hostFiles = new Map<string, string>();
  const scripts: string[] = [];
  const conn = {
    host: { name: 'srv' },
    roundTrips: 0,
    async exec(script: string) {
      scripts.push(script);
      if (script.includes("echo '!missing'")) {
        if (!hostRepo) return { code: 0, stdout: '!missing\n', stderr: '' };
        const r = spawnSync('git', ['-C', hostRepo, 'rev-parse', '--verify', '-q', 'refs/heads/main^{commit}'], { encoding: 'utf8' });
        return { code: 0, stdout: r.stdout, stderr: '' };
      }
      const m = / fetch -q '([^']+)' '([^']+)'/.exec(script);
      if (m) {
        const bundle = path.join(tmp, 'uploaded.bundle');
        writeFileSync(bundle, uploads[uploads.length - 1].content);
        const r = spawnSync('git', ['-C', hostRepo!, 'fetch', '-q', bundle, m[2]], { encoding: 'utf8' });
        return { code: r.status ?? 1, stdout: '', stderr: r.stderr };
      }
      // the mirror's restore: a bundle made on the "host", downloaded, removed
      const made = / bundle create -q '([^']+)' '([^']+)'/.exec(script);
      if (made) {
        const local = path.join(tmp, `host-side-${path.basename(made[1])}`);
        hostFiles.set(made[1], local);
        const r = spawnSync('git', ['-C', hostRepo!, 'bundle', 'create', '-q', local, made[2]], { encoding: 'utf8' });
        return { code: r.status ?? 1, stdout: '', stderr: r.stderr };
      }
      const removed = /^rm -f '([^']+)'$/.exec(script);
      if (removed) {
        const local = hostFiles.get(removed[1]);
        if (local) rmSync(local, { force: true });
        hostFiles.delete(removed[1]);
        return { code: 0, stdout: '', stderr: '' };
      }
      throw new Error(`unexpected script: ${script}`);
    },
    async upload(p: string, content: Buffer, o: { owner?: string } = {}) {
      uploads.push({ path: p, content: Buffer.from(content), owner: o.owner });
    },
    async download(p: string, o: { become?: boolean } = {}) {
      downloads.push({ path: p, become: o.become });
      return readFileSync(hostFiles.get(p)!);
    },
  } as unknown as Transport;
  const target = {
    conn,
    user: 'clusterseed-git',
    home: '/var/lib/clusterseed-git',
    repoPath: '/var/lib/clusterseed-git/gitops.git',
    branch: 'main',
  };
  return { target, uploads, downloads, hostFiles, scripts };
}

test('syncHostRepo: empty host gets the branch, same head touches nothing, a new commit goes as a range, a foreign head is refused', async () => {
  const { dir, commits } = repoWithCommits(2);
  const mirror = path.join(tmp, 'mirror.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', mirror]);
  gitq(dir, 'push', '-q', mirror, `${commits[0]}:refs/heads/main`);
  const hostRepo = path.join(tmp, 'on-host.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', hostRepo]);
  const host = standInHost(hostRepo);

  const first = await syncHostRepo({ localRepo: mirror, target: host.target, check: false, log: quiet });
  assert.equal(first, { before: '', head: commits[0], changed: true });
  assert.is(host.uploads.length, 1);
  assert.match(host.uploads[0].path, /^\/var\/lib\/clusterseed-git\/\.clusterseed-[0-9a-f]{16}\.bundle$/);
  assert.is(host.uploads[0].owner, 'clusterseed-git');
  const fetch = host.scripts.find((x) => x.includes(' fetch '))!;
  assert.match(fetch, /runuser -u 'clusterseed-git' -- env HOME='\/var\/lib\/clusterseed-git' git/);
  assert.match(fetch, /'refs\/heads\/main:refs\/heads\/main'/, 'no + in the refspec: fast-forward only');
  assert.ok(fetch.includes(`rm -f '${host.uploads[0].path}'`), 'the bundle is removed');

  const again = await syncHostRepo({ localRepo: mirror, target: host.target, check: false, log: quiet });
  assert.equal(again, { before: commits[0], head: commits[0], changed: false });
  assert.is(host.uploads.length, 1, 'nothing uploaded when the heads match');

  gitq(dir, 'push', '-q', mirror, `${commits[1]}:refs/heads/main`);
  const planned = await syncHostRepo({ localRepo: mirror, target: host.target, check: true, log: quiet });
  assert.equal(planned, { before: commits[0], head: commits[1], changed: true });
  assert.is(host.uploads.length, 1, 'check mode uploads nothing');
  const next = await syncHostRepo({ localRepo: mirror, target: host.target, check: false, log: quiet });
  assert.equal(next, { before: commits[0], head: commits[1], changed: true });
  const range = path.join(tmp, 'range-check.bundle');
  writeFileSync(range, host.uploads[1].content);
  const verify = spawnSync('git', ['bundle', 'verify', range], { cwd: dir, encoding: 'utf8' });
  assert.match(
    verify.stdout + verify.stderr,
    new RegExp(commits[0]),
    "the second bundle needs the host's head: only the new commit travels",
  );

  // someone committed on the host
  const foreign = execFileSync(
    'sh',
    ['-c', `git -C ${hostRepo} -c user.name=x -c user.email=x@x commit-tree -p main -m foreign main^{tree}`],
    { encoding: 'utf8' },
  ).trim();
  gitq(hostRepo, 'update-ref', 'refs/heads/main', foreign);
  await syncHostRepo({ localRepo: mirror, target: host.target, check: false, log: quiet }).then(
    () => assert.unreachable('a foreign head must be refused'),
    (err) => {
      assert.instance(err, HostRepoDivergedError);
      assert.match(
        err.message,
        new RegExp(
          `refusing to update the repository on srv:/var/lib/clusterseed-git/gitops.git: its head ${foreign.slice(0, 12)} is no commit of the local mirror`,
        ),
      );
    },
  );
  assert.is(gitq(hostRepo, 'rev-parse', 'main'), foreign, 'left as it was');
});

test('syncHostRepo: no repository on the host is named (check mode: it would be created)', async () => {
  const { dir, commits } = repoWithCommits(1);
  const mirror = path.join(tmp, 'mirror-missing.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', mirror]);
  gitq(dir, 'push', '-q', mirror, `${commits[0]}:refs/heads/main`);
  const host = standInHost(undefined);
  assert.equal(await syncHostRepo({ localRepo: mirror, target: host.target, check: true, log: quiet }), {
    before: '',
    head: '',
    changed: true,
  });
  await syncHostRepo({ localRepo: mirror, target: host.target, check: false, log: quiet }).then(
    () => assert.unreachable('must fail'),
    (err) => assert.match(err.message, /srv:\/var\/lib\/clusterseed-git\/gitops\.git does not exist .*role gitops-repo creates it/),
  );
  assert.is(host.uploads.length, 0);
});

// ---- a lost local mirror is restored from the host ----------------------------------------------

const RENDERED = new Map<string, string>([
  ['bootstrap/root.yaml', 'kind: Application\n'],
  ['README.md', '# gitops\n'],
]);

/** A host repository holding what an earlier control machine published (authored by clusterseed). */
async function hostWithPublishedRepo(name: string): Promise<{ hostRepo: string; head: string }> {
  const earlier = mkdtempSync(path.join(tmp, `${name}-earlier-`));
  const first = await publish({ files: RENDERED, workDir: earlier });
  const hostRepo = path.join(tmp, `${name}-host.git`);
  execFileSync('git', ['clone', '-q', '--bare', path.join(earlier, '.clusterseed', 'gitops.git'), hostRepo]);
  return { hostRepo, head: first.commit! };
}

test('restoreMirror: a lost mirror (missing, no state) is filled from the host; the next publish makes no commit and the host is left alone', async () => {
  const { hostRepo, head } = await hostWithPublishedRepo('lost');
  const host = standInHost(hostRepo);
  const workDir = mkdtempSync(path.join(tmp, 'new-laptop-'));
  const mirror = path.join(workDir, '.clusterseed', 'gitops.git');
  const logged: string[] = [];
  const log = { ...quiet, info: (m: string) => logged.push(m) };

  const r = await restoreMirror({ localRepo: mirror, target: host.target, check: false, log });
  assert.equal(r, { action: 'restored', head });
  assert.is(gitq(mirror, 'rev-parse', 'refs/heads/main'), head);
  assert.ok(
    logged.includes(`gitops: restored the local mirror from srv:/var/lib/clusterseed-git/gitops.git at ${head.slice(0, 12)}`),
    logged.join('\n'),
  );
  // the bundle: made as the git user in its home under a unique name, read through sudo, removed there
  const made = host.scripts.find((x) => x.includes(' bundle create '))!;
  assert.match(
    made,
    /runuser -u 'clusterseed-git' -- env HOME='\/var\/lib\/clusterseed-git' git -C '\/var\/lib\/clusterseed-git\/gitops\.git' bundle create -q '\/var\/lib\/clusterseed-git\/\.clusterseed-[0-9a-f]{16}\.bundle' 'refs\/heads\/main'/,
  );
  assert.is(host.downloads.length, 1);
  assert.is(host.downloads[0].become, true);
  assert.ok(host.scripts.includes(`rm -f '${host.downloads[0].path}'`), 'removed on the host');
  assert.is(host.hostFiles.size, 0);
  assert.is(host.uploads.length, 0, 'nothing written to the host repository');

  // publish-state.json is gone too: the head is ours (authored by clusterseed), the same tree makes no commit
  assert.not.ok(existsSync(path.join(workDir, '.clusterseed', 'publish-state.json')));
  const plan = await planPublish({ files: RENDERED, workDir });
  assert.is(plan.unchanged, true);
  const again = await publish({ files: RENDERED, workDir });
  assert.is(again.unchanged, true);
  assert.is(again.commit, head);
  assert.equal(again.foreignChanges, []);
  const sync = await syncHostRepo({ localRepo: mirror, target: host.target, check: false, log: quiet });
  assert.equal(sync, { before: head, head, changed: false });
  assert.is(host.uploads.length, 0);

  // a mirror with the branch is never restored again
  assert.equal(await restoreMirror({ localRepo: mirror, target: host.target, check: false, log: quiet }), { action: 'none' });
  assert.is(host.downloads.length, 1);
});

test('restoreMirror: an empty mirror (git init only) is restored; without restore the new root commit is refused by the host', async () => {
  const { hostRepo, head } = await hostWithPublishedRepo('empty');
  const host = standInHost(hostRepo);
  // what happened before: a fresh mirror got a new root commit, and the host refused it
  const stuck = mkdtempSync(path.join(tmp, 'stuck-'));
  await publish({ files: RENDERED, workDir: stuck, message: 'a new root' });
  await syncHostRepo({ localRepo: path.join(stuck, '.clusterseed', 'gitops.git'), target: host.target, check: false, log: quiet }).then(
    () => assert.unreachable('a mirror with other history must be refused'),
    (err) => {
      assert.instance(err, HostRepoDivergedError);
      assert.match(
        err.message,
        /is no commit of the local mirror .*move it away \(mv .*gitops\.git .*gitops\.git\.old\) and rerun: an empty mirror is restored from the host/,
      );
    },
  );
  // ... and that mirror (it has history) is not restored: today's refusal stays
  assert.equal(
    await restoreMirror({ localRepo: path.join(stuck, '.clusterseed', 'gitops.git'), target: host.target, check: false, log: quiet }),
    { action: 'none' },
  );
  assert.is(host.downloads.length, 0);

  const workDir = mkdtempSync(path.join(tmp, 'emptied-'));
  const mirror = path.join(workDir, '.clusterseed', 'gitops.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', mirror]);
  assert.equal(await restoreMirror({ localRepo: mirror, target: host.target, check: false, log: quiet }), { action: 'restored', head });
  assert.is((await publish({ files: RENDERED, workDir })).commit, head);
});

test('restoreMirror: check mode says it would restore and changes nothing; an empty or missing host restores nothing', async () => {
  const { hostRepo, head } = await hostWithPublishedRepo('check');
  const host = standInHost(hostRepo);
  const workDir = mkdtempSync(path.join(tmp, 'check-'));
  const mirror = path.join(workDir, '.clusterseed', 'gitops.git');
  const logged: string[] = [];
  const r = await restoreMirror({
    localRepo: mirror,
    target: host.target,
    check: true,
    log: { ...quiet, info: (m: string) => logged.push(m) },
  });
  assert.equal(r, { action: 'would-restore', head });
  assert.match(
    logged.join('\n'),
    new RegExp(`would restore the local mirror .* from srv:/var/lib/clusterseed-git/gitops.git at ${head.slice(0, 12)}`),
  );
  assert.not.ok(existsSync(path.join(workDir, '.clusterseed')), 'no mirror created');
  assert.is(host.downloads.length, 0);
  assert.not.ok(
    host.scripts.some((x) => x.includes(' bundle ')),
    'no bundle made on the host',
  );

  const emptyHost = path.join(tmp, 'check-empty-host.git');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', emptyHost]);
  assert.equal(await restoreMirror({ localRepo: mirror, target: standInHost(emptyHost).target, check: false, log: quiet }), {
    action: 'none',
  });
  assert.equal(await restoreMirror({ localRepo: mirror, target: standInHost(undefined).target, check: false, log: quiet }), {
    action: 'none',
  });
  assert.not.ok(existsSync(mirror));
});

// ---- admission on the host ----------------------------------------------------------------------

test.run();
