// Publishing to an SSH remote and an HTTPS remote, and switching from one to the other, with the
// real servers: a `git` user with a bare repository behind sshd on an nspawn host, and
// `git http-backend` behind a node HTTP server on 127.0.0.1 (test/support/git-http-server.ts).
// site.mjs runs with --tags argocd-bootstrap: render, publish, and the bootstrap files (among them
// Argo CD's repository Secret) on the first server. Shown: the Secret matches the remote it was
// published to and its credential clones that remote; the token and the keys are in no pushed
// blob, no output and no process's argv; switching remotes makes one commit on the new remote,
// leaves the old one untouched and rewrites the Secret (a changed task); a rerun changes nothing.
// Argo CD's known hosts (configs.ssh.extraHosts) carry exactly the ssh remote's host key, from
// gitops.repo.known_hosts, and a strict clone with those lines alone works; without an entry for
// the remote the run stops before anything is pushed.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { startGitHttpServer, type GitHttpServer } from '../support/git-http-server.ts';
import { generateDeployKey } from '../../lib/publish/deploy-key.ts';
import { basicAuthEnv } from '../../lib/publish/git-cli.ts';
import { publish } from '../../lib/publish/index.ts';

const MANIFESTS = '/var/lib/rancher/k3s/server/manifests';
const SECRET_FILE = `${MANIFESTS}/clusterseed-repo-credentials.yaml`;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-publish-remotes-'));
const TOKEN = 'gtea_' + Date.now().toString(36) + 'Zq7xTESTTOKEN';

let lab: TestLab;
let http: GitHttpServer;
let host: string;
let sshUrl: string;
let httpUrl: string;
const pushKey = path.join(tmp, 'push_ed25519');
const outputs: string[] = [];
const argvSeen = new Set<string>();

test.before(async () => {
  lab = await startLab({ count: 1, prefix: 'pr' });
  host = lab.hosts[0].name;
  // the SSH git server: git is not in the bare test image
  const install = await lab.sh(
    host,
    'DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null 2>&1 || ' +
      '(apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null)',
    { timeoutMs: 180_000 },
  );
  assert.is(install.code, 0, install.stderr);
  const push = generateDeployKey('push');
  writeFileSync(pushKey, push.privateKey, { mode: 0o600 });
  const setup = await lab.sh(
    host,
    [
      'set -e',
      'useradd -m -s /usr/bin/git-shell git',
      'mkdir -p /srv/git ~git/.ssh',
      'git init -q --bare --initial-branch=main /srv/git/gitops.git',
      `echo 'restrict ${push.publicKey}' > ~git/.ssh/authorized_keys`,
      'chown -R git:git /srv/git ~git/.ssh && chmod 700 ~git/.ssh && chmod 600 ~git/.ssh/authorized_keys',
    ].join('\n'),
  );
  assert.is(setup.code, 0, setup.stderr);
  sshUrl = `ssh://git@${lab.hosts[0].address}/srv/git/gitops.git`;

  const httpRoot = path.join(tmp, 'http');
  execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', path.join(httpRoot, 'gitops.git')]);
  http = await startGitHttpServer({ root: httpRoot, username: 'ops', token: TOKEN });
  httpUrl = `${http.url}/gitops.git`;
});

test.after(async () => {
  await http?.close();
  await lab?.stop();
});

/** ssh as the control machine's git does it, with a given key and the lab's known hosts */
const sshCommand = (key: string) =>
  `ssh -i ${key} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=${lab.knownHostsFile} -o StrictHostKeyChecking=yes -o ConnectTimeout=10`;

/** site.mjs in a child process; meanwhile every process's argv is sampled */
function site(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const sampler = setInterval(sampleArgv, 25);
    execFile(
      'npx',
      ['zx', 'scripts/site.mjs', ...args],
      { timeout: 240_000, env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        clearInterval(sampler);
        const out = stdout + stderr;
        outputs.push(out);
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out });
      },
    );
  });
}

function sampleArgv(): void {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      argvSeen.add(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      // gone already
    }
  }
}

async function secretOnHost(): Promise<{ mode: string; stringData: Record<string, string> }> {
  const r = await lab.sh(host, `stat -c %a ${SECRET_FILE}; cat ${SECRET_FILE}`);
  assert.is(r.code, 0, r.stderr);
  const [mode, ...rest] = r.stdout.split('\n');
  const secret = YAML.parseAllDocuments(rest.join('\n'))
    .map((d) => d.toJS())
    .find((d) => d?.kind === 'Secret');
  assert.is(secret.metadata.labels['argocd.argoproj.io/secret-type'], 'repository');
  return { mode, stringData: secret.stringData };
}

/** async: the HTTP git server runs in this process, so a blocking git would never get an answer */
const git = (args: string[], env: Record<string, string> = {}): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile(
      'git',
      args,
      { encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...env }, timeout: 60_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => (err ? reject(new Error(`git ${args[0]}: ${stderr || err.message}`)) : resolve(stdout)),
    ),
  );
const fails = (p: Promise<unknown>) =>
  p.then(
    () => false,
    () => true,
  );

/** every file of a clone, path -> content */
async function treeOf(dir: string): Promise<Map<string, string>> {
  const files = (await git(['-C', dir, 'ls-files', '-z'])).split('\0').filter(Boolean);
  return new Map(files.map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));
}

/** every object of a bare repository's history, as text */
const allBlobs = (gitDir: string) => git(['--git-dir', gitDir, 'cat-file', '--batch-all-objects', '--batch']);

let sshState: { head: string; key: string; files: Map<string, string> };

/** The lab host's line in the lab's known_hosts: the key its sshd presents. */
const labHostKeyLine = () =>
  readFileSync(lab.knownHostsFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${lab.hosts[0].address} `))!;

test('SSH remote without its host key in the named known_hosts: refused before anything is pushed, naming the host', async () => {
  const unrelated = path.join(tmp, 'unrelated_known_hosts');
  writeFileSync(unrelated, `other.lan ${labHostKeyLine().split(' ').slice(1).join(' ')}\n`);
  const inv = lab.writeInventory({ servers: [host], agents: [], extra: { gitops: { repo: { url: sshUrl, known_hosts: unrelated } } } });
  const run = await site(['-i', inv, '--tags', 'argocd-bootstrap'], { GIT_SSH_COMMAND: sshCommand(pushKey) });
  assert.is.not(run.code, 0, run.out);
  assert.match(
    run.out,
    new RegExp(`gitops\\.repo\\.known_hosts: no host key for ${lab.hosts[0].address.replace(/\./g, '\\.')} \\(port 22\\)`),
  );
  assert.match(run.out, /ssh-keyscan -p 22 /);
  const head = await lab.sh(host, 'git --git-dir=/srv/git/gitops.git rev-parse --verify -q main');
  assert.is.not(head.code, 0, 'nothing was pushed');
  assert.is((await lab.sh(host, `test -e ${SECRET_FILE}`)).code, 1, 'no bootstrap file was written');
});

test('SSH remote, key generated by clusterseed: the publish lands, the Secret holds that key and clones with it', async () => {
  const inv = lab.writeInventory({
    servers: [host],
    agents: [],
    extra: { gitops: { repo: { url: sshUrl, known_hosts: lab.knownHostsFile } } },
  });
  const first = await site(['-i', inv, '--tags', 'argocd-bootstrap', '-vv'], { GIT_SSH_COMMAND: sshCommand(pushKey) });
  assert.is(first.code, 0, first.out);
  const head = (await lab.sh(host, 'git --git-dir=/srv/git/gitops.git rev-parse main')).stdout.trim();
  assert.match(head, /^[0-9a-f]{40}$/, 'the push landed on the ssh remote');

  const { mode, stringData } = await secretOnHost();
  assert.is(mode, '600');
  assert.equal(Object.keys(stringData).sort(), ['sshPrivateKey', 'type', 'url']);
  assert.is(stringData.url, sshUrl);
  assert.match(stringData.sshPrivateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);

  // the user is asked to add the public half, which belongs to the Secret's private key
  const asked = /add this public key as a READ-ONLY deploy key to (\S+) .*\n\s+(ssh-ed25519 \S+)/.exec(first.out);
  assert.ok(asked, first.out.slice(-3000));
  assert.is(asked![1], sshUrl);
  const readKey = path.join(tmp, 'read_ed25519');
  writeFileSync(readKey, stringData.sshPrivateKey, { mode: 0o600 });
  assert.is(execFileSync('ssh-keygen', ['-y', '-f', readKey], { encoding: 'utf8' }).split(' ').slice(0, 2).join(' '), asked![2]);

  // before the user adds it, the key reads nothing; once added (read-only: restrict), the clone works
  const clone = path.join(tmp, 'ssh-clone');
  assert.ok(await fails(git(['clone', '-q', sshUrl, path.join(tmp, 'ssh-clone-early')], { GIT_SSH_COMMAND: sshCommand(readKey) })));
  const add = await lab.sh(host, `echo 'restrict ${asked![2]} argocd' >> ~git/.ssh/authorized_keys`);
  assert.is(add.code, 0);
  await git(['clone', '-q', '-b', 'main', sshUrl, clone], { GIT_SSH_COMMAND: sshCommand(readKey) });
  assert.is((await git(['-C', clone, 'rev-parse', 'HEAD'])).trim(), head);
  const files = await treeOf(clone);
  assert.ok(files.get('bootstrap/root.yaml')?.includes(sshUrl), 'Argo CD is told to read the ssh remote');

  // Argo CD's known hosts: exactly the remote's key (the lab's line for it, port 22: a plain host name)
  const extraHosts = YAML.parse(files.get('platform/argocd/values.yaml')!).configs.ssh.extraHosts as string;
  assert.is(extraHosts, `${labHostKeyLine()}\n`);
  // ...and those lines alone let a strict ssh clone with the Secret's key
  const argoKnownHosts = path.join(tmp, 'argocd_known_hosts');
  writeFileSync(argoKnownHosts, extraHosts);
  const strict = `ssh -i ${readKey} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=${argoKnownHosts} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o ConnectTimeout=10`;
  await git(['clone', '-q', '-b', 'main', sshUrl, path.join(tmp, 'strict-clone')], { GIT_SSH_COMMAND: strict });
  assert.is((await git(['-C', path.join(tmp, 'strict-clone'), 'rev-parse', 'HEAD'])).trim(), head);
  // the same ssh without that key refuses the server
  writeFileSync(path.join(tmp, 'empty_known_hosts'), '');
  assert.ok(
    await fails(git(['ls-remote', sshUrl], { GIT_SSH_COMMAND: strict.replace(argoKnownHosts, path.join(tmp, 'empty_known_hosts')) })),
    'unknown host refused',
  );
  sshState = { head, key: stringData.sshPrivateKey, files };
});

test('switching to an HTTPS remote with a token: one commit there with the same tree but its URL, the ssh remote untouched, the Secret rewritten', async () => {
  assert.ok(sshState, 'needs the ssh publish');
  const inv = lab.writeInventory({
    servers: [host],
    agents: [],
    extra: { gitops: { repo: { url: httpUrl, token_env: 'GITEA_TOKEN', username: 'ops' } } },
  });
  // --check first: the new commit and the rewritten Secret are pending, nothing is pushed or written
  const check = await site(['-i', inv, '--tags', 'argocd-bootstrap', '--check'], { GITEA_TOKEN: TOKEN });
  assert.is(check.code, 3, check.out);
  assert.match(check.out, /would change: \[argocd-bootstrap\] bootstrap clusterseed-repo-credentials\.yaml/);
  assert.ok(await fails(git(['--git-dir', path.join(tmp, 'http', 'gitops.git'), 'rev-parse', '--verify', 'main'])), 'check pushed nothing');
  assert.is((await secretOnHost()).stringData.url, sshUrl, 'check wrote nothing');

  const json = path.join(tmp, 'switch.json');
  const run = await site(['-i', inv, '--tags', 'argocd-bootstrap', '-vv', '--json', json], { GITEA_TOKEN: TOKEN });
  assert.is(run.code, 0, run.out);
  assert.match(run.out, /plain http: the token crosses the network unencrypted/, 'http (not https) is warned about');

  // the new remote: exactly one commit
  const httpBare = path.join(tmp, 'http', 'gitops.git');
  assert.is((await git(['--git-dir', httpBare, 'rev-list', '--count', 'main'])).trim(), '1');
  // the old one: left as it was
  assert.is((await lab.sh(host, 'git --git-dir=/srv/git/gitops.git rev-parse main')).stdout.trim(), sshState.head);
  assert.is((await lab.sh(host, 'git --git-dir=/srv/git/gitops.git rev-list --count --all')).stdout.trim(), '1');

  // the Secret is the new remote's: url, username and the token, no key (a changed task)
  const { mode, stringData } = await secretOnHost();
  assert.is(mode, '600');
  assert.equal(stringData, { type: 'git', url: httpUrl, username: 'ops', password: TOKEN });
  const report = JSON.parse(readFileSync(json, 'utf8'));
  const tasks = JSON.stringify(report);
  assert.match(tasks, /bootstrap clusterseed-repo-credentials\.yaml/);
  assert.match(run.out, /changed: \[argocd-bootstrap\] bootstrap clusterseed-repo-credentials\.yaml/);

  // clone with the Secret's username/password: the same tree as on the ssh remote, with every repoURL re-rendered
  const clone = path.join(tmp, 'http-clone');
  await git(
    ['clone', '-q', '-b', 'main', httpUrl, clone],
    basicAuthEnv({ username: stringData.username, password: stringData.password }).env,
  );
  const files = await treeOf(clone);
  assert.equal([...files.keys()].sort(), [...sshState.files.keys()].sort());
  let rerendered = 0;
  for (const [p, content] of sshState.files) {
    if (content.includes(sshUrl)) rerendered++;
    // Argo CD's values lose the ssh remote's host key: https needs none
    const expected = p === 'platform/argocd/values.yaml' ? content.replace(/\n {2}ssh:\n {4}#[^\n]*\n {4}extraHosts: [^\n]*/, '') : content;
    assert.is(files.get(p), expected.split(sshUrl).join(httpUrl), `${p}: only the repository URL changed`);
  }
  assert.not.ok(files.get('platform/argocd/values.yaml')!.includes('extraHosts'), 'no host key pinned for https');
  assert.ok(rerendered >= 2, `repoURL re-rendered in ${rerendered} files (root Application, ApplicationSet...)`);
  assert.not.ok(
    [...files.values()].some((c) => c.includes(sshUrl)),
    'no repoURL still names the old remote',
  );

  // the token went in a header: never in a request URL, and a wrong one is refused
  assert.ok(
    http.requests.some((r) => r.method === 'POST' && r.url.endsWith('/git-receive-pack') && r.auth === 'ok'),
    'pushed with the token',
  );
  assert.not.ok(
    http.requests.some((r) => r.url.includes(TOKEN)),
    'token never in a URL',
  );
  assert.ok(
    await fails(git(['clone', '-q', httpUrl, path.join(tmp, 'wrong')], basicAuthEnv({ username: 'ops', password: 'not-the-token' }).env)),
    'wrong token refused',
  );
  assert.ok(await fails(git(['clone', '-q', httpUrl, path.join(tmp, 'none')])), 'no token refused');
  const denied = await publish({
    files: new Map([['x', 'y\n']]),
    workDir: path.join(tmp, 'wrong-work'),
    remote: httpUrl,
    auth: { username: 'ops', password: 'not-the-token' },
  }).then(
    () => null,
    (e: Error) => e.message,
  );
  assert.ok(denied, 'a wrong token is refused');
  assert.match(denied!, /refused the token \(HTTP 401\)/);
  assert.ok(http.requests.some((r) => r.auth === 'wrong'));
  assert.is((await git(['--git-dir', httpBare, 'rev-list', '--count', 'main'])).trim(), '1', 'the refused publish left nothing');
});

test('a rerun on the https remote makes no commit and changes nothing', async () => {
  const inv = lab.writeInventory({
    servers: [host],
    agents: [],
    extra: { gitops: { repo: { url: httpUrl, token_env: 'GITEA_TOKEN', username: 'ops' } } },
  });
  const again = await site(['-i', inv, '--tags', 'argocd-bootstrap'], { GITEA_TOKEN: TOKEN });
  assert.is(again.code, 0, again.out);
  assert.match(again.out, /repository up to date: no commit/);
  assert.match(again.out, /No changes/);
  assert.is((await git(['--git-dir', path.join(tmp, 'http', 'gitops.git'), 'rev-list', '--count', 'main'])).trim(), '1');
});

const namedKey = path.join(tmp, 'named_readonly_ed25519');

test('back to the SSH remote with a deploy key named in the inventory: no commit (its tree is there already), the Secret holds that key', async () => {
  assert.ok(sshState, 'needs the ssh publish');
  const named = generateDeployKey('named');
  writeFileSync(namedKey, named.privateKey, { mode: 0o600 });
  assert.is((await lab.sh(host, `echo 'restrict ${named.publicKey}' >> ~git/.ssh/authorized_keys`)).code, 0);
  const inv = lab.writeInventory({
    servers: [host],
    agents: [],
    extra: { gitops: { repo: { url: sshUrl, ssh_key: namedKey, known_hosts: lab.knownHostsFile } } },
  });
  const back = await site(['-i', inv, '--tags', 'argocd-bootstrap'], { GIT_SSH_COMMAND: sshCommand(pushKey) });
  assert.is(back.code, 0, back.out);
  assert.match(back.out, /repository up to date: no commit/);
  assert.not.match(back.out, /READ-ONLY deploy key/, 'a named key is not generated nor asked for');
  assert.is((await lab.sh(host, 'git --git-dir=/srv/git/gitops.git rev-list --count --all')).stdout.trim(), '1');
  const { stringData } = await secretOnHost();
  assert.equal(stringData, { type: 'git', url: sshUrl, sshPrivateKey: named.privateKey });
  await git(['ls-remote', sshUrl], { GIT_SSH_COMMAND: sshCommand(namedKey) });
});

test('no secret in any pushed object, any output, or any argv seen during the runs', async () => {
  assert.ok(sshState, 'needs the earlier tests');
  const keyLines = sshState.key.split('\n').filter((l) => l && !l.startsWith('-----'));
  const pushLines = [pushKey, namedKey].flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('-----')),
  );
  const header = basicAuthEnv({ username: 'ops', password: TOKEN }).secrets[1];
  const secrets = [TOKEN, header, ...keyLines, ...pushLines];

  const sshBlobs = (await lab.sh(host, 'git --git-dir=/srv/git/gitops.git cat-file --batch-all-objects --batch')).stdout;
  const httpBlobs = await allBlobs(path.join(tmp, 'http', 'gitops.git'));
  assert.ok(sshBlobs.length > 1000 && httpBlobs.length > 1000, 'both repositories were read');
  const logs = outputs.join('\n');
  assert.ok(outputs.length >= 3 && argvSeen.size > 50, `${outputs.length} runs, ${argvSeen.size} command lines sampled`);
  assert.ok(
    [...argvSeen].some((a) => /git.*(push|receive-pack|remote-http)/.test(a)),
    'the sampler saw git at work',
  );
  const argv = [...argvSeen].join('\n');
  for (const s of secrets) {
    assert.not.ok(sshBlobs.includes(s) || httpBlobs.includes(s), `a secret is in a pushed object: ${s.slice(0, 6)}...`);
    assert.not.ok(logs.includes(s), `a secret is in the output: ${s.slice(0, 6)}...`);
    assert.not.ok(argv.includes(s), `a secret is in a process's argv: ${s.slice(0, 6)}...`);
  }
  assert.not.match(sshBlobs + httpBlobs, /PRIVATE KEY/);
});

test.run();
