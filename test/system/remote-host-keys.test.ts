// The host key Argo CD pins for an SSH remote (lib/publish/remote-host-keys.ts,
// lib/publish/repo-host-keys.ts): taken from gitops.repo.known_hosts or ~/.ssh/known_hosts
// (hashed entries too, the remote's port respected), rendered into Argo CD's values; no entry or no
// file stops the run before anything is rendered, at the inventory line that names the source.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { InventoryError } from '../../lib/inventory/load.ts';
import { repoHostKeys } from '../../lib/publish/repo-host-keys.ts';
import { remoteHostKeys, RemoteHostKeyError, sshRemoteOf } from '../../lib/publish/remote-host-keys.ts';
import { generateDeployKey } from '../../lib/publish/deploy-key.ts';
import { prepareGitops } from '../../cli/site/gitops-step.ts';
import { homelab } from '../fixtures/gitops/inventories.ts';
import { repoInventory } from '../support/repo-credentials.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'cs-hostkeys-'));
/** a host key as known_hosts carries it: `type base64` */
const hostKey = (name: string) => generateDeployKey(name).publicKey.split(' ').slice(0, 2).join(' ');
const ed = hostKey('git.lan');
const rsaLike = hostKey('git.lan-second');
const other = hostKey('other');
const onPort = hostKey('git.lan-2222');

// plain, port, wildcard-free, revoked and unrelated entries; then a hashed copy as ssh-keygen -H makes it
const plain = path.join(dir, 'known_hosts');
writeFileSync(
  plain,
  [`other.lan ${other}`, `git.lan,10.0.0.5 ${ed}`, `[git.lan]:2222 ${onPort}`, `@revoked git.lan ${other}`, `git.lan ${rsaLike}`, ''].join(
    '\n',
  ),
);
const hashed = path.join(dir, 'known_hosts_hashed');
copyFileSync(plain, hashed);
execFileSync('ssh-keygen', ['-q', '-H', '-f', hashed], { stdio: 'ignore' });

test('ssh URLs: host and port; other transports have none', () => {
  assert.equal(sshRemoteOf('git@git.lan:ops/gitops.git'), { host: 'git.lan', port: 22 });
  assert.equal(sshRemoteOf('ssh://git@Git.LAN:2222/srv/git/gitops.git'), { host: 'git.lan', port: 2222 });
  assert.equal(sshRemoteOf('ssh://git@[fd00::5]:2200/r.git'), { host: 'fd00::5', port: 2200 });
  assert.equal(sshRemoteOf('git+ssh://10.0.0.5/r.git'), { host: '10.0.0.5', port: 22 });
  assert.is(sshRemoteOf('https://git.lan/ops/gitops.git'), undefined);
  assert.is(sshRemoteOf('file:///srv/gitops.git'), undefined);
});

test('the known_hosts entries of the remote host and port, as Argo CD reads them; hashed entries match too', () => {
  for (const file of [plain, hashed]) {
    assert.is(remoteHostKeys('git@git.lan:ops/gitops.git', { knownHostsFile: file }), `git.lan ${ed}\ngit.lan ${rsaLike}\n`, file);
    // off port 22 OpenSSH and Argo CD both name the host [host]:port
    assert.is(remoteHostKeys('ssh://git@git.lan:2222/ops/gitops.git', { knownHostsFile: file }), `[git.lan]:2222 ${onPort}\n`, file);
  }
  // the hashed file really is hashed (ssh-keygen -H leaves only marker lines as they were)
  const hostLines = readFileSync(hashed, 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('@'));
  assert.is(hostLines.length, 5, 'git.lan,10.0.0.5 becomes two hashed lines');
  assert.ok(
    hostLines.every((l) => l.startsWith('|1|')),
    'every host entry is hashed',
  );
  // the user's ~/.ssh/known_hosts is the default source
  assert.is(remoteHostKeys('ssh://git@10.0.0.5/r.git', { defaultFile: hashed }), `10.0.0.5 ${ed}\n`);
});

test('no key needed: https, file://, and the hosts Argo CD already knows on port 22', () => {
  const none = path.join(dir, 'empty');
  writeFileSync(none, '');
  for (const url of [
    'https://git.lan/ops/gitops.git',
    'file:///srv/g.git',
    'git@github.com:a/b.git',
    'ssh://git@gitlab.com/a/b.git',
    'ssh://git@ssh.github.com:443/a/b.git',
  ]) {
    assert.is(remoteHostKeys(url, { knownHostsFile: none }), undefined, url);
  }
  // a GitHub Enterprise or self-hosted host is not among them
  assert.throws(
    () => remoteHostKeys('ssh://git@github.com:2222/a/b.git', { knownHostsFile: none }),
    /no host key for github\.com \(port 2222\)/,
  );
  assert.throws(
    () => remoteHostKeys('git@github.example.com:a/b.git', { knownHostsFile: none }),
    /no host key for github\.example\.com \(port 22\)/,
  );
});

const inventory = (repo: string[]) => repoInventory(dir, repo);

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof InventoryError) return e.format();
    throw e;
  }
  throw new Error('passed');
}

test('no entry for the host, or no such file: an inventory error at the line, naming the host and how to add its key', () => {
  const empty = path.join(dir, 'none_known');
  writeFileSync(empty, `other.lan ${other}\n`);
  const unset = inventory(['url: ssh://git@git.lan:2222/ops/gitops.git']);
  const msg = failure(() => repoHostKeys(unset, 'ssh://git@git.lan:2222/ops/gitops.git', empty));
  assert.match(
    msg,
    /inventory\.yaml:7:10: gitops\.repo\.url: no host key for git\.lan \(port 2222\) in .*none_known \(or name another file in gitops\.repo\.known_hosts\)/,
  );
  assert.match(msg, new RegExp(`ssh-keyscan -p 2222 git\\.lan >> ${empty.replace(/[.]/g, '\\.')}`));
  assert.match(msg, /ssh-keygen -lf/, 'says to check the fingerprint');

  const named = inventory(['url: git@git.lan:ops/gitops.git', 'known_hosts: none_known']);
  assert.equal(named.gitops.repo, { kind: 'remote', url: 'git@git.lan:ops/gitops.git', auth: { knownHosts: empty } });
  assert.match(
    failure(() => repoHostKeys(named, 'git@git.lan:ops/gitops.git')),
    /inventory\.yaml:8:18: gitops\.repo\.known_hosts: no host key for git\.lan \(port 22\) in .*none_known: /,
  );
  const missing = inventory(['url: git@git.lan:ops/gitops.git', 'known_hosts: nowhere']);
  assert.match(
    failure(() => repoHostKeys(missing, 'git@git.lan:ops/gitops.git')),
    /inventory\.yaml:8:18: gitops\.repo\.known_hosts: .*nowhere does not exist; it must hold the host key of git\.lan \(port 22\)/,
  );
  // found: the lines
  assert.is(
    repoHostKeys(inventory(['url: git@git.lan:ops/gitops.git', `known_hosts: ${hashed}`]), 'git@git.lan:ops/gitops.git'),
    `git.lan ${ed}\ngit.lan ${rsaLike}\n`,
  );
  // a --remote URL has no inventory line: the plain error
  assert.throws(
    () => repoHostKeys(unset, 'git@elsewhere.lan:x.git', empty),
    (e: Error) => e instanceof RemoteHostKeyError && /no host key for elsewhere\.lan/.test(e.message),
  );
});

test('known_hosts only goes with an ssh URL', () => {
  const msg = failure(() => inventory(['url: https://git.lan/ops/gitops.git', `known_hosts: ${plain}`]));
  assert.match(msg, /inventory\.yaml:8:5: gitops\.repo\.known_hosts: holds the host key of an ssh remote; this URL is not read over ssh/);
});

test("the site run renders exactly the remote's keys into Argo CD's values (configs.ssh.extraHosts), and stops before rendering without them", async () => {
  const inv = homelab();
  const work = mkdtempSync(path.join(dir, 'site-'));
  const url = 'ssh://git@git.lan:2222/ops/gitops.git';
  const log = { info() {}, warn() {}, verbose() {}, debug() {} };
  Object.assign(inv, { dir: work, file: path.join(work, 'inventory.yaml') });
  inv.gitops.repo = { kind: 'remote', url, auth: { knownHosts: hashed } };
  const src = await prepareGitops({ inventory: inv, log });
  const values = YAML.parse(src.files.get(src.argocdValuesPath)!);
  assert.is(values.configs.ssh.extraHosts, `[git.lan]:2222 ${onPort}\n`);
  assert.ok(
    [...src.files.values()].some((c) => c.includes(`repoURL: ${url}`)),
    'Argo CD reads that remote',
  );

  inv.gitops.repo = { kind: 'remote', url: 'ssh://git@git.lan:2200/ops/gitops.git', auth: { knownHosts: hashed } };
  const err = await prepareGitops({ inventory: inv, log }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(err instanceof InventoryError, String(err));
  assert.match(err!.message, /no host key for git\.lan \(port 2200\)/);
});

test.run();
