// Two clusters on nspawn hosts with the K3s stand-in (management: mc1; edge: mc2), one site run
// publishing to a local bare repository: the edge cluster is registered with Argo CD during the
// host run (roles/cluster-registration) and the published repository carries its cluster Secret,
// sealed for the management cluster. Checked independently of lib/gitops: the SealedSecret is
// opened with openssl (RSA-OAEP SHA-256 with the scope label: the session key) and node:crypto's
// AES-256-GCM, with the management cluster's private key; what it holds (server URL, CA, token)
// opens the stand-in's API (200) where a wrong token does not (401). The edge cluster's own
// sealing key is installed on edge's server, and it is the key edge's SealedSecrets are sealed
// for. A rerun changes nothing and commits nothing; a deleted token Secret is re-registered and a
// re-sealed Secret committed.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { createDecipheriv } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';
import { opensslOaepDecrypt } from '../support/openssl-oaep.ts';

const VERSION = 'v1.31.4+k3s1';
const MANIFESTS = '/var/lib/rancher/k3s/server/manifests';
const TAGS = 'k3s-artifacts,k3s-prereq,k3s-server,k3s-agent,kubeconfig,cluster-registration,argocd-bootstrap';
const STEP_MS = 240_000;

let lab: TestLab;
let mirror: K3sMirror;
let work: string;
let inv: string;
let bare: string;

test.before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cs-multi-cluster-'));
  [lab, mirror] = await Promise.all([startLab({ count: 2, prefix: 'mc' }), startK3sMirror({ versions: [VERSION] })]);
  const [mc1, mc2] = lab.hosts;
  const k3s = (name: string) => ({ k3s: { ready_timeout: 60, kubeconfig: path.join(work, `${name}.kubeconfig`) } });
  inv = path.join(work, 'inventory.yaml');
  writeFileSync(
    inv,
    YAML.stringify({
      clusters: {
        mgmt: { k3s_version: VERSION, vars: k3s('mgmt') },
        // minio: edge gets a SealedSecret of its own (the root credentials), sealed with edge's key
        edge: {
          k3s_version: VERSION,
          cluster_cidr: '10.62.0.0/16',
          service_cidr: '10.63.0.0/16',
          components: { minio: true },
          vars: k3s('edge'),
        },
      },
      defaults: { user: 'admin', become: true, ssh_key: lab.keyPath, known_hosts: lab.knownHostsFile, port: 22 },
      hosts: { mc1: { address: mc1.address, cluster: 'mgmt' }, mc2: { address: mc2.address, cluster: 'edge' } },
      groups: { servers: ['mc1', 'mc2'], agents: [] },
    }),
  );
  bare = path.join(work, 'remote.git');
  execFileSync('git', ['init', '-q', '--bare', bare]);
});
test.after(async () => {
  await lab?.stop();
  await mirror?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

function site(extra: string[] = []): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['zx', 'scripts/site.mjs', '-i', inv, '--remote', bare, '--k3s-mirror', mirror.url, '--tags', TAGS, ...extra],
      // the K3s download cache is keyed by the mirror's URL: a port another test's mirror used
      // before would hand over that mirror's stand-in, so this run caches on its own
      { timeout: STEP_MS, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, XDG_CACHE_HOME: path.join(work, 'cache') } },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
      },
    );
  });
}

const head = () => execFileSync('git', ['--git-dir', bare, 'rev-parse', 'main'], { encoding: 'utf8' }).trim();

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a published manifest: parsed YAML of any kind, read by path
type Doc = any;

/** Every YAML document of the published head, by path. */
function publishedDocs(): { file: string; doc: Doc }[] {
  const clone = mkdtempSync(path.join(work, 'clone-'));
  execFileSync('git', ['clone', '-q', '-b', 'main', bare, clone]);
  const out: { file: string; doc: Doc }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      if (e === '.git') continue;
      const p = path.join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e))
        for (const d of YAML.parseAllDocuments(readFileSync(p, 'utf8'))) out.push({ file: path.relative(clone, p), doc: d.toJS() });
    }
  };
  walk(clone);
  return out;
}

/** The RSA-OAEP label of a SealedSecret's scope (bitnami v1alpha1 EncryptionLabel). */
function scopeLabel(s: Doc): string {
  const ann = s.metadata?.annotations ?? s.spec?.template?.metadata?.annotations ?? {};
  if (ann['sealedsecrets.bitnami.com/cluster-wide'] === 'true') return '';
  if (ann['sealedsecrets.bitnami.com/namespace-wide'] === 'true') return s.metadata.namespace;
  return `${s.metadata.namespace}/${s.metadata.name}`;
}

/**
 * One value of a SealedSecret opened without lib/gitops: 2-byte length, the RSA-OAEP(SHA-256,
 * label) encrypted session key (openssl pkeyutl), then AES-256-GCM under a zero nonce, tag last.
 */
function unseal(s: Doc, key: string, privateKeyPem: string): string {
  const raw = Buffer.from(s.spec.encryptedData[key], 'base64');
  const n = raw.readUInt16BE(0);
  const keyFile = path.join(work, `unseal-${process.pid}.key`);
  writeFileSync(keyFile, privateKeyPem, { mode: 0o600 });
  const session = opensslOaepDecrypt(keyFile, scopeLabel(s), raw.subarray(2, 2 + n));
  rmSync(keyFile);
  const body = raw.subarray(2 + n);
  const d = createDecipheriv('aes-256-gcm', session, Buffer.alloc(12));
  d.setAuthTag(body.subarray(body.length - 16));
  return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8');
}

/** The management cluster's Secret for edge, opened: name, server, token, CA. */
function edgeClusterSecret(): { file: string; name: string; server: string; token: string; caData: string } {
  const mgmtKey = readFileSync(path.join(work, '.clusterseed', 'mgmt', 'sealing', 'sealed-secrets.key'), 'utf8');
  const candidates = publishedDocs().filter(
    ({ doc }) => doc?.kind === 'SealedSecret' && doc.spec?.template?.metadata?.labels?.['argocd.argoproj.io/secret-type'] === 'cluster',
  );
  for (const { file, doc } of candidates) {
    const name = unseal(doc, 'name', mgmtKey);
    if (name !== 'edge') continue;
    const config = JSON.parse(unseal(doc, 'config', mgmtKey));
    assert.is(config.tlsClientConfig?.insecure ?? false, false);
    return { file, name, server: unseal(doc, 'server', mgmtKey), token: config.bearerToken, caData: config.tlsClientConfig.caData };
  }
  throw new Error(`no cluster Secret for edge among ${candidates.map((c) => c.file).join(', ') || 'no cluster SealedSecrets'}`);
}

function version(server: string, token: string, caData: string): Promise<number> {
  const url = new URL(server);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: url.hostname,
        port: Number(url.port),
        path: '/version',
        method: 'GET',
        agent: false,
        timeout: 10_000,
        ca: Buffer.from(caData, 'base64').toString('utf8'),
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

let first: { code: number; out: string };
let registered: ReturnType<typeof edgeClusterSecret>;

test('one site run: edge registered during the host run; the sealed Secret opens to a server, CA and token the stand-in accepts', async () => {
  first = await site();
  assert.is(first.code, 0, first.out);
  assert.match(first.out, /registered with Argo CD \(access sealed into the repository\): edge/);
  registered = edgeClusterSecret();
  assert.is(registered.server, `https://${lab.hosts[1].address}:6443`);
  assert.match(Buffer.from(registered.caData, 'base64').toString(), /^-----BEGIN CERTIFICATE-----/);
  assert.ok(registered.token.length > 10);
  assert.not.ok(first.out.includes(registered.token), 'the token is never printed');
  assert.is(await version(registered.server, registered.token, registered.caData), 200);
  assert.is(await version(registered.server, `${registered.token}x`, registered.caData), 401);
  // what the run recorded is what it sealed
  const access = JSON.parse(readFileSync(path.join(work, '.clusterseed', 'edge', 'argocd-access.json'), 'utf8'));
  assert.equal(access, { server: registered.server, caData: registered.caData, bearerToken: registered.token });
});

test("edge's own sealing key is installed on edge's server, and edge's SealedSecrets are sealed for it", async () => {
  const text = (
    await lab.sh('mc2', `stat -c %a ${MANIFESTS}/clusterseed-sealing-key.yaml && cat ${MANIFESTS}/clusterseed-sealing-key.yaml`)
  ).stdout;
  assert.match(text, /^600\n/);
  const secret = YAML.parse(text.replace(/^600\n/, ''));
  assert.is(secret.metadata.labels['sealedsecrets.bitnami.com/sealed-secrets-key'], 'active');
  const cert = Buffer.from(secret.data['tls.crt'], 'base64').toString();
  const key = Buffer.from(secret.data['tls.key'], 'base64').toString();
  assert.is(cert, readFileSync(path.join(work, '.clusterseed', 'edge', 'sealing', 'sealed-secrets.crt'), 'utf8'));
  const mgmtCert = readFileSync(path.join(work, '.clusterseed', 'mgmt', 'sealing', 'sealed-secrets.crt'), 'utf8');
  assert.is.not(cert, mgmtCert, "its own key, not the management cluster's");
  assert.not.ok(first.out.includes(secret.data['tls.key'].slice(0, 60)), 'the private key is never printed');
  // a SealedSecret of edge's tree opens with edge's key (and only its own)
  const edgeSealed = publishedDocs().filter(({ file, doc }) => doc?.kind === 'SealedSecret' && /(^|\/)edge(\/|$)/.test(file));
  assert.ok(edgeSealed.length > 0, 'edge has SealedSecrets');
  const { doc } = edgeSealed[0];
  const k = Object.keys(doc.spec.encryptedData)[0];
  assert.type(unseal(doc, k, key), 'string');
  const mgmtKey = readFileSync(path.join(work, '.clusterseed', 'mgmt', 'sealing', 'sealed-secrets.key'), 'utf8');
  assert.throws(() => unseal(doc, k, mgmtKey));
});

test('a rerun changes nothing and commits nothing', async () => {
  const before = head();
  const again = await site();
  assert.is(again.code, 0, again.out);
  assert.match(again.out, /No changes/);
  assert.match(again.out, /repository up to date: no commit/);
  assert.is(head(), before);
});

test('rotation: the token Secret deleted on edge → the rerun registers again and commits a re-sealed Secret', async () => {
  const before = head();
  const del = await lab.sh('mc2', 'k3s kubectl delete secret argocd-manager-long-lived-token -n kube-system', { timeoutMs: 20_000 });
  assert.is(del.code, 0, del.stderr);
  const again = await site();
  assert.is(again.code, 0, again.out);
  assert.match(again.out, /registered with Argo CD \(access sealed into the repository\): edge/);
  assert.is.not(head(), before, 'a new commit');
  const now = edgeClusterSecret();
  assert.is.not(now.token, registered.token);
  assert.is(await version(now.server, now.token, now.caData), 200);
  assert.is(await version(now.server, registered.token, now.caData), 401, 'the old token is gone');
});

test.run();
