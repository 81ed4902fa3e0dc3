// lib/publish/credentials.ts and its inventory side: which credential for which target, the
// checks on a named deploy key and a token variable (file:line), and how the token reaches git.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { checkRepoCredentialFiles } from '../../lib/publish/repo-credential-files.ts';
import {
  credentialSource,
  generatedKeyPath,
  gitUrlTransport,
  loadRepoCredential,
  pushAuth,
  RepoCredentialError,
} from '../../lib/publish/credentials.ts';
import { basicAuthEnv } from '../../lib/publish/git-cli.ts';
import { credentialTarget } from '../../cli/site/gitops-step.ts';
import { collecting, credentialFixture, fileFailure } from '../support/repo-credentials.ts';

const { dir, good, pair, inventory } = credentialFixture();

test('transport of a git URL: scp-like and ssh:// are ssh, http(s) is http, the rest carries no credential', () => {
  assert.is(gitUrlTransport('git@git.lan:ops/gitops.git'), 'ssh');
  assert.is(gitUrlTransport('ssh://git@10.0.0.5:2222/srv/git/gitops.git'), 'ssh');
  assert.is(gitUrlTransport('https://gitea.lan/ops/gitops.git'), 'http');
  assert.is(gitUrlTransport('http://127.0.0.1:8080/gitops.git'), 'http');
  assert.is(gitUrlTransport('git://git.lan/gitops.git'), 'other');
  assert.is(gitUrlTransport('file:///srv/gitops.git'), 'other');
  assert.is(gitUrlTransport('/srv/gitops.git'), 'other');
});

test('each target gets its credential source', () => {
  assert.equal(credentialSource({ github: true }, dir), { kind: 'github-deploy-key' });
  assert.equal(credentialSource({}, dir).kind, 'none');
  assert.equal(credentialSource({ url: 'git@h:r.git', auth: { sshKey: good } }, dir), { kind: 'ssh-key', keyFile: good, generated: false });
  const gen = credentialSource({ url: 'ssh://git@h/srv/r.git' }, dir);
  assert.equal(gen, { kind: 'ssh-key', keyFile: generatedKeyPath(dir, 'ssh://git@h/srv/r.git'), generated: true });
  assert.ok(generatedKeyPath(dir, 'ssh://git@h/srv/r.git').startsWith(path.join(dir, '.clusterseed', 'repo-keys') + path.sep));
  assert.is.not(generatedKeyPath(dir, 'ssh://git@h/srv/r.git'), generatedKeyPath(dir, 'ssh://git@h/srv/other.git'), 'one key per remote');
  assert.equal(credentialSource({ url: 'https://g/r.git', auth: { tokenEnv: 'T' } }, dir), {
    kind: 'https-token',
    username: 'git',
    tokenEnv: 'T',
  });
  assert.equal(credentialSource({ url: 'https://g/r.git', auth: { tokenEnv: 'T', username: 'ops' } }, dir), {
    kind: 'https-token',
    username: 'ops',
    tokenEnv: 'T',
  });
  assert.is(credentialSource({ url: 'https://g/r.git' }, dir).kind, 'none', 'https without a token: public');
  assert.is(credentialSource({ url: 'https://g/r.git', auth: { public: true } }, dir).kind, 'none');
  assert.is(credentialSource({ url: '/srv/r.git' }, dir).kind, 'none');
});

test('--remote with credential settings that do not fit it is refused, naming the setting', () => {
  const inv = inventory(['url: https://gitea.lan/ops/gitops.git', 'token_env: GITEA_TOKEN']);
  assert.equal(credentialTarget(inv), { url: 'https://gitea.lan/ops/gitops.git', auth: { tokenEnv: 'GITEA_TOKEN' } });
  const target = credentialTarget(inv, 'git@other.lan:ops/gitops.git');
  assert.throws(
    () => credentialSource(target, dir),
    (e: Error) => e instanceof RepoCredentialError && /token_env: a token needs an https URL/.test(e.message),
  );
  assert.throws(() => credentialSource({ url: 'https://g/r.git', auth: { sshKey: good } }, dir), /ssh_key: a deploy key needs an ssh URL/);
});

test('the https token comes from the environment; unset, the variable is named', () => {
  const src = credentialSource({ url: 'https://g/r.git', auth: { tokenEnv: 'GITEA_TOKEN' } }, dir);
  assert.equal(pushAuth(src, { GITEA_TOKEN: 'tok-123456' }), { username: 'git', password: 'tok-123456' });
  assert.throws(() => pushAuth(src, {}), /environment variable GITEA_TOKEN is not set/);
  assert.is(
    pushAuth(credentialSource({ url: 'git@h:r.git', auth: { sshKey: good } }, dir), {}),
    undefined,
    'ssh pushes with the user own setup',
  );
});

test('the token reaches git as a header in its environment config, after entries already there', () => {
  const { env, secrets } = basicAuthEnv({ username: 'ops', password: 's3cret-token' }, { GIT_CONFIG_COUNT: '2' });
  assert.is(env.GIT_CONFIG_COUNT, '3');
  assert.is(env.GIT_CONFIG_KEY_2, 'http.extraHeader');
  const b64 = /^Authorization: Basic (\S+)$/.exec(env.GIT_CONFIG_VALUE_2)![1];
  assert.is(Buffer.from(b64, 'base64').toString(), 'ops:s3cret-token');
  assert.equal(secrets, ['s3cret-token', b64]);
  assert.is(basicAuthEnv({ username: 'u', password: 'p' }, {}).env.GIT_CONFIG_KEY_0, 'http.extraHeader');
});

test('an https token becomes username/password for Argo CD; a public repository gets no Secret', async () => {
  const { log } = collecting();
  const src = credentialSource({ url: 'https://g/r.git', auth: { tokenEnv: 'T' } }, dir);
  assert.equal(await loadRepoCredential(src, { url: 'https://g/r.git', create: true, log, env: { T: 'tok-abcdef' } }), {
    type: 'https',
    username: 'git',
    password: 'tok-abcdef',
  });
  assert.is(
    await loadRepoCredential(credentialSource({ url: 'https://g/r.git', auth: { public: true } }, dir), { url: 'x', create: true, log }),
    undefined,
  );
});

test('a named ssh_key is what Argo CD gets', async () => {
  const { log } = collecting();
  const src = credentialSource({ url: 'git@h:r.git', auth: { sshKey: good } }, dir);
  assert.equal(await loadRepoCredential(src, { url: 'git@h:r.git', create: true, log }), { type: 'ssh', sshPrivateKey: pair.privateKey });
});

test('token_env naming an unset variable is refused at its line', () => {
  const inv = inventory(['url: https://gitea.lan/ops/gitops.git', 'token_env: GITEA_TOKEN']);
  assert.match(
    fileFailure(inv, {}),
    /inventory\.yaml:8:16: gitops\.repo\.token_env: environment variable GITEA_TOKEN is not set; it must hold the token for https:\/\/gitea\.lan/,
  );
  checkRepoCredentialFiles(inv, { GITEA_TOKEN: 'x' });
  assert.equal(inv.gitops.repo, { kind: 'remote', url: 'https://gitea.lan/ops/gitops.git', auth: { tokenEnv: 'GITEA_TOKEN' } });
});

test('the inventory normalises ssh_key to an absolute path and keeps a url without settings as it was', () => {
  const inv = inventory(['url: git@git.lan:ops/gitops.git', 'ssh_key: readonly']);
  assert.equal(inv.gitops.repo, { kind: 'remote', url: 'git@git.lan:ops/gitops.git', auth: { sshKey: good } });
  assert.equal(inventory(['url: git@git.lan:ops/gitops.git']).gitops.repo, { kind: 'remote', url: 'git@git.lan:ops/gitops.git' });
});

test.run();
