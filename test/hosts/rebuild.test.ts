// Issue 16, "rebuilt from code alone": converge bare hosts (K3s stand-in from a loopback mirror),
// reset every host with the real scripts/reset.mjs, converge again: the same repository head, the
// same Sealed Secrets key and K3s token on the server, and a third run changes nothing. Then the
// same without .clusterseed/: the old token is refused, the token and key can be copied back from
// the running server and the passwords unsealed from git (the README's recovery), and after a reset the next run re-seals what
// clusterseed generates for a new key it installs; the old key, token and passwords are lost.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';
import { MANIFESTS, bootstrapRepo, repoFiles, repoHead, type RepoRef } from '../support/repo-head.ts';
import { unsealSecret, type SealedSecret } from '../../lib/gitops/sealed-secrets.ts';
import { tokenPassword } from '../../lib/k3s/token.ts';

const VERSION = 'v1.31.4+k3s1';
const CLUSTER = 'test'; // the harness inventory's cluster name
let lab: TestLab;
let mirror: K3sMirror;

test.before(async () => {
  [lab, mirror] = await Promise.all([startLab({ count: 2, prefix: 'rb' }), startK3sMirror({ versions: [VERSION] })]);
});
test.after(async () => {
  await Promise.all([lab?.stop(), mirror?.close()]);
});

function run(script: string, args: string[], timeout = 300_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['zx', script, ...args], { timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

async function sh(host: string, cmd: string): Promise<string> {
  const r = await lab.sh(host, cmd, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${host}: ${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

interface KeyPair {
  key: string;
  cert: string;
}

/** The Sealed Secrets key pair the bootstrap installed (its 0600 manifest in K3s' manifests dir). */
async function installedSealingKey(server: string): Promise<KeyPair> {
  const file = `${MANIFESTS}/clusterseed-sealing-key.yaml`;
  assert.is(await sh(server, `stat -c %a ${file}`), '600');
  const secret = YAML.parse(await sh(server, `cat ${file}`)) as { data: Record<string, string> };
  return {
    key: Buffer.from(secret.data['tls.key'], 'base64').toString(),
    cert: Buffer.from(secret.data['tls.crt'], 'base64').toString(),
  };
}

/** The control machine's copy of the key pair under .clusterseed/. */
function storedSealingKey(stateDir: string): KeyPair {
  const dir = path.join(stateDir, CLUSTER, 'sealing');
  return {
    key: readFileSync(path.join(dir, 'sealed-secrets.key'), 'utf8'),
    cert: readFileSync(path.join(dir, 'sealed-secrets.crt'), 'utf8'),
  };
}

/** The join token the server runs with: the password part of its token file (the K10<CA hash> prefix follows the CA). */
async function serverToken(server: string): Promise<string> {
  return tokenPassword(await sh(server, 'cat /var/lib/rancher/k3s/server/token'));
}

/** Every SealedSecret of the repository's head, by path. */
async function sealedSecrets(repo: RepoRef): Promise<Map<string, SealedSecret>> {
  const out = new Map<string, SealedSecret>();
  for (const [p, text] of await repoFiles(lab, repo)) {
    if (!/\.ya?ml$/.test(p)) continue;
    for (const doc of YAML.parseAllDocuments(text)) {
      const obj = doc.toJS() as SealedSecret & { kind?: string };
      if (obj?.kind === 'SealedSecret') out.set(`${p}#${obj.metadata.namespace}/${obj.metadata.name}`, obj);
    }
  }
  return out;
}

/** The state of the first server and the repository that the equality checks compare. */
async function snapshot(server: string) {
  const repo = await bootstrapRepo(lab, server);
  const sealed = await sealedSecrets(repo);
  return { repo, head: await repoHead(lab, repo), key: await installedSealingKey(server), token: await serverToken(server), sealed };
}

/** Decrypts a SealedSecret with the key; redis' carries the generated password it must hold. */
function assertSealedFor(where: string, s: SealedSecret, key: KeyPair, redisPassword: string): void {
  const values = unsealSecret(s, key.key);
  assert.ok(Object.keys(values).length > 0, where);
  if (s.metadata.name === 'redis-auth') assert.ok(Object.values(values).includes(redisPassword), `${where} holds the generated password`);
}

async function assertK3sGone(host: string): Promise<void> {
  const left = await sh(
    host,
    'for p in /usr/local/bin/k3s /etc/systemd/system/k3s.service /etc/systemd/system/k3s-agent.service /etc/systemd/system/k3s.service.env ' +
      '/etc/systemd/system/k3s-agent.service.env /etc/rancher/k3s /var/lib/rancher/k3s; do [ -e $p ] && echo $p; done; true',
  );
  assert.is(left, '', `${host}: left after reset: ${left}`);
  assert.is(await sh(host, 'systemctl is-active k3s k3s-agent || true'), 'inactive\ninactive', `${host}: no K3s unit runs`);
}

let inv = '';
let args: string[] = [];
let stateDir = '';
let before: Awaited<ReturnType<typeof snapshot>>;

test('converge, reset every host, converge again: same repo head, sealing key and token; the third run changes nothing', async () => {
  const [server, agent] = lab.hosts.map((h) => h.name);
  // redis: a component with a generated password, so the repository holds a SealedSecret
  inv = lab.writeInventory({ servers: [server], agents: [agent], extra: { gitops: { components: { redis: true } } } });
  stateDir = path.join(path.dirname(inv), '.clusterseed');
  args = ['-i', inv, '--k3s-mirror', mirror.url];

  const first = await run('scripts/site.mjs', args);
  assert.is(first.code, 0, first.out.slice(-6000));
  before = await snapshot(server);
  assert.ok(before.head, `the repository Argo CD reads (${before.repo.url}) has a ${before.repo.branch} head`);
  assert.equal(before.key, storedSealingKey(stateDir), 'the installed sealing key is the one in .clusterseed/');
  assert.is(
    before.token,
    readFileSync(path.join(stateDir, CLUSTER, 'token'), 'utf8').trim(),
    'the server runs with the token of .clusterseed/',
  );
  assert.ok(before.sealed.size >= 1, 'the repository holds SealedSecrets');
  // every SealedSecret in git was sealed for the installed key: the controller can decrypt it
  const creds = JSON.parse(readFileSync(path.join(stateDir, CLUSTER, 'credentials.json'), 'utf8'));
  assert.ok(
    [...before.sealed.values()].some((s) => s.metadata.name === 'redis-auth'),
    'redis-auth is sealed',
  );
  for (const [where, s] of before.sealed) assertSealedFor(where, s, before.key, creds.redis.password);

  const reset = await run('scripts/reset.mjs', ['-i', inv, '--yes']);
  assert.is(reset.code, 0, reset.out.slice(-4000));
  // the equality below is not trivial: K3s, its data and the bootstrap's manifests are gone
  for (const h of [server, agent]) await assertK3sGone(h);

  const second = await run('scripts/site.mjs', args);
  assert.is(second.code, 0, second.out.slice(-6000));
  assert.match(second.out, /repository up to date: no commit/);
  const after = await snapshot(server);
  assert.equal(after.repo, before.repo, 'Argo CD is told to read the same repository');
  assert.is(after.head, before.head, 'same repository head: no new commit');
  assert.equal(after.key, before.key, 'the same sealing key is installed again');
  assert.is(after.token, before.token, 'the server runs with the same join token');
  assert.equal([...after.sealed.keys()], [...before.sealed.keys()]);
  for (const [where, s] of after.sealed)
    assert.equal(unsealSecret(s, after.key.key), unsealSecret(before.sealed.get(where)!, before.key.key), where);
  assert.is(await sh(server, 'systemctl is-active k3s'), 'active');
  assert.is(await sh(agent, 'systemctl is-active k3s-agent'), 'active', 'the agent joined again with the same token');

  const json = path.join(path.dirname(inv), 'third.json');
  const third = await run('scripts/site.mjs', [...args, '--json', json]);
  assert.is(third.code, 0, third.out.slice(-4000));
  assert.match(third.out, /No changes/);
  const report = JSON.parse(readFileSync(json, 'utf8'));
  for (const h of report.hosts) assert.is(h.counts.changed, 0, `${h.host}: ${JSON.stringify(h.counts)}`);
  assert.is(report.gitops.unchanged, true);
  assert.is(await repoHead(lab, before.repo), before.head);
});

test('without .clusterseed/: the old token is refused; what the running server still has can be copied back; else a reset and a new key that re-seals', async () => {
  const [server, agent] = lab.hosts.map((h) => h.name);
  assert.ok(before, 'the first test converged the hosts');
  const lost = `${stateDir}.lost`;
  renameSync(stateDir, lost);

  // K3s still runs with the old token: the server refuses the new one before anything else changes
  const refused = await run('scripts/site.mjs', args);
  assert.is(refused.code, 2, refused.out.slice(-4000));
  assert.match(refused.out, /already runs with another join token than the one in \S*\.clusterseed\/test\/token/);
  assert.equal(await installedSealingKey(server), before.key, 'the old key is still the installed one');

  // the README's recovery from the running server: its token and the bootstrap's sealing key file
  writeFileSync(path.join(stateDir, CLUSTER, 'token'), `${await sh(server, 'cat /var/lib/rancher/k3s/server/token')}\n`, { mode: 0o600 });
  const fromServer = await installedSealingKey(server);
  const sealingDir = path.join(stateDir, CLUSTER, 'sealing');
  writeFileSync(path.join(sealingDir, 'sealed-secrets.key'), fromServer.key, { mode: 0o600 });
  writeFileSync(path.join(sealingDir, 'sealed-secrets.crt'), fromServer.cert, { mode: 0o600 });
  // and the generated passwords, unsealed from the repository's SealedSecrets with that key (what
  // `kubeseal --recovery-unseal` does) into credentials.json, replacing the ones the refused run made
  const lostCreds = JSON.parse(readFileSync(path.join(lost, CLUSTER, 'credentials.json'), 'utf8'));
  const madeByRefusedRun = JSON.parse(readFileSync(path.join(stateDir, CLUSTER, 'credentials.json'), 'utf8'));
  assert.is.not(madeByRefusedRun.redis.password, lostCreds.redis.password, 'without credentials.json the run made new passwords');
  const oldRedis = [...before.sealed.values()].find((s) => s.metadata.name === 'redis-auth')!;
  const unsealed = unsealSecret(oldRedis, fromServer.key)['redis-password'];
  writeFileSync(path.join(stateDir, CLUSTER, 'credentials.json'), JSON.stringify({ redis: { password: unsealed } }), { mode: 0o600 });
  const recovered = await run('scripts/site.mjs', args);
  assert.is(recovered.code, 0, recovered.out.slice(-6000));
  const back = await snapshot(server);
  assert.equal(back.key, before.key, 'the recovered key stays the installed one');
  assert.is(back.token, before.token, 'the server keeps its token');
  assert.is(await sh(agent, 'systemctl is-active k3s-agent'), 'active');
  // the same password as before the loss, sealed again (the sealed cache was lost) for the recovered key
  for (const [where, s] of back.sealed) assertSealedFor(where, s, before.key, lostCreds.redis.password);

  // nothing to copy back: reset every host, then a new key, token and passwords
  rmSync(stateDir, { recursive: true });
  const reset = await run('scripts/reset.mjs', ['-i', inv, '--yes']);
  assert.is(reset.code, 0, reset.out.slice(-4000));
  const rebuilt = await run('scripts/site.mjs', args);
  assert.is(rebuilt.code, 0, rebuilt.out.slice(-6000));

  const now = await snapshot(server);
  assert.ok(existsSync(path.join(stateDir, CLUSTER, 'sealing', 'sealed-secrets.key')), 'a new key pair in the new .clusterseed/');
  assert.equal(now.key, storedSealingKey(stateDir), 'the new key is the installed one');
  assert.is.not(now.key.cert, before.key.cert, 'a new sealing key');
  assert.is.not(now.token, before.token, 'a new join token');
  assert.is(await sh(agent, 'systemctl is-active k3s-agent'), 'active', 'the agent joined with the new token');
  assert.is(JSON.parse(await sh(server, `k3s kubectl get node ${agent} -o json`)).metadata.name, agent);
  // the repository Argo CD reads (on the server, reset leaves it) gets a new commit: every secret
  // re-sealed for the new key (the lost mirror is restored from the server first: no new history)
  assert.ok(now.head);
  assert.is.not(now.head, before.head);

  assert.equal([...now.sealed.keys()], [...before.sealed.keys()], 'the same SealedSecrets are rendered');
  const newCreds = JSON.parse(readFileSync(path.join(stateDir, CLUSTER, 'credentials.json'), 'utf8'));
  assert.is.not(newCreds.redis.password, lostCreds.redis.password, 'generated passwords are new');
  for (const [where, s] of now.sealed) {
    assert.not.equal(s.spec.encryptedData, before.sealed.get(where)!.spec.encryptedData, `${where} re-sealed`);
    assertSealedFor(where, s, now.key, newCreds.redis.password);
    // what was sealed for the lost key stays unreadable: the old SealedSecrets cannot be opened with the new one
    assert.throws(() => unsealSecret(before.sealed.get(where)!, now.key.key), /cannot decrypt/);
  }
});

test.run();
