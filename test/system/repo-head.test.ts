// The rebuild test's "same repository head" helper (test/support/repo-head.ts): it must find the
// repository Argo CD reads whether the URL is the local default (file://) or a repository hosted
// on a lab host (ssh://user@host/path, user@host:path), and run git there.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { locateRepo, repoFiles, repoHead } from '../support/repo-head.ts';

const hosts = [
  { name: 'rb1', address: '172.30.7.2', port: 22, netns: 'n1', lanAddress: '172.31.7.2' },
  { name: 'rb2', address: '172.30.7.3', port: 22, netns: 'n2' },
];

test('locateRepo: file:// is local; ssh:// and scp-like URLs name a lab host by address, node address or name', () => {
  assert.equal(locateRepo({ hosts }, 'file:///tmp/x/.clusterseed/gitops.git'), { local: '/tmp/x/.clusterseed/gitops.git' });
  assert.equal(locateRepo({ hosts }, 'ssh://gitops@172.31.7.2:22/var/lib/clusterseed/gitops.git'), {
    host: 'rb1',
    path: '/var/lib/clusterseed/gitops.git',
  });
  assert.equal(locateRepo({ hosts }, 'ssh://git@rb2/srv/repo.git'), { host: 'rb2', path: '/srv/repo.git' });
  assert.equal(locateRepo({ hosts }, 'gitops@172.30.7.3:/var/lib/r.git'), { host: 'rb2', path: '/var/lib/r.git' });
  assert.throws(() => locateRepo({ hosts }, 'ssh://git@github.com/a/b.git'), /github\.com is no host of this lab/);
  assert.throws(() => locateRepo({ hosts }, 'https://example.org/a.git'), /neither file:\/\/, ssh:\/\/ nor user@host:path/);
});

test('repoHead and repoFiles read the same repository through a local path and through a host shell', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-repo-head-'));
  const bare = path.join(dir, "it's repo.git"); // a quote in the path: the host command must quote it
  const work = path.join(dir, 'work');
  const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-C', cwd, ...args], { encoding: 'utf8' }).trim();
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  execFileSync('git', ['init', '-q', '-b', 'main', work]);
  writeFileSync(path.join(work, 'a.yaml'), 'kind: SealedSecret\n');
  git(work, 'add', '.');
  git(work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'one');
  git(work, 'push', '-q', bare, 'main');
  const want = git(work, 'rev-parse', 'HEAD');

  // a lab whose "host" shell is this machine's sh: what runs there is exactly the command built
  const commands: string[] = [];
  const lab = {
    hosts,
    async sh(host: string, cmd: string) {
      commands.push(`${host}: ${cmd}`);
      const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
      return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
    },
  };
  const local = { url: `file://${bare.replace(/'/g, '%27')}`, branch: 'main' };
  const remote = { url: `gitops@172.31.7.2:${bare}`, branch: 'main' };
  assert.is(await repoHead(lab, local), want);
  assert.is(await repoHead(lab, remote), want);
  assert.ok(commands.length > 0 && commands.every((c) => c.startsWith('rb1: ')), 'git ran on the host the URL names');
  assert.is(await repoHead(lab, { ...remote, branch: 'other' }), '', 'a missing branch has no head');
  assert.equal([...(await repoFiles(lab, remote))], [['a.yaml', 'kind: SealedSecret\n']]);
});

test.run();
