// The adopted cluster end to end, the seed-003 flow without the cloud: OpenTofu's kubeconfig names
// a cluster (here a local HTTPS Kubernetes API with real TLS and a real token check); `site.mjs
// --skip-hosts` registers it through that kubeconfig (ServiceAccount, ClusterRole, binding, token
// Secret, its own Sealed Secrets key) and publishes a repository whose management tree holds the
// cluster Secret sealed for the management cluster, with the token the API really accepts.
// A second run registers nothing anew and commits nothing.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { KubeApi } from '../../lib/clusters/kube-api.ts';
import {
  MANAGER_CLUSTER_ROLE,
  MANAGER_CLUSTER_ROLE_BINDING,
  MANAGER_NAMESPACE,
  MANAGER_SERVICE_ACCOUNT,
  MANAGER_TOKEN_SECRET,
} from '../../lib/clusters/manifests.ts';
import { unsealSecret, type SealedSecret } from '../../lib/gitops/sealed-secrets.ts';
import { SEALING_KEY_LABEL } from '../../lib/gitops/sealing-keys.ts';
import { generateTlsMaterial, KubeApiServer } from '../support/kube-api-server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SITE = path.join(root, 'scripts', 'site.mjs');
const REGISTRATION = 'clusters/mgmt/cluster-registrations/cluster-gpu.yaml';

let server: KubeApiServer;
let dir: string;

test.before(async () => {
  server = await KubeApiServer.start({ tokenDelayMs: 100, tls: generateTlsMaterial() });
  dir = mkdtempSync(path.join(tmpdir(), 'site-adopted-'));
  writeFileSync(
    path.join(dir, 'gpu.kubeconfig'),
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'lke-gpu',
      clusters: [
        { name: 'lke', cluster: { server: server.url, 'certificate-authority-data': Buffer.from(server.tls.caPem).toString('base64') } },
      ],
      users: [{ name: 'lke-admin', user: { token: server.adminToken } }],
      contexts: [{ name: 'lke-gpu', context: { cluster: 'lke', user: 'lke-admin' } }],
    }),
    { mode: 0o600 },
  );
  const example = parse(readFileSync(path.join(root, 'examples', 'managed-gpu.yaml'), 'utf8'));
  // the seed inventory, pointed at this test's cluster; the URL Argo CD uses is said explicitly
  example.clusters.gpu.kubeconfig = './gpu.kubeconfig';
  example.clusters.gpu.server = server.url;
  example.defaults = { user: 'admin' };
  writeFileSync(path.join(dir, 'inventory.yaml'), stringify(example));
});

test.after(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** site.mjs in a child process, asynchronously: the API server answers from this process's event loop. */
function site(): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SITE, '-i', path.join(dir, 'inventory.yaml'), '--skip-hosts'],
      { cwd: dir, timeout: 240_000, env: { ...process.env, FORCE_COLOR: '0' } },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: `${stdout}\n${stderr}` });
      },
    );
  });
}

const published = (file: string) =>
  execFileSync('git', ['--git-dir', path.join(dir, '.clusterseed', 'gitops.git'), 'show', `main:${file}`], { encoding: 'utf8' });
const head = () =>
  execFileSync('git', ['--git-dir', path.join(dir, '.clusterseed', 'gitops.git'), 'rev-parse', 'main'], { encoding: 'utf8' }).trim();

async function versionStatus(token: string): Promise<number> {
  const api = new KubeApi({ file: 'probe', context: 'probe', server: server.url, caPem: server.tls.caPem, credentials: { token } });
  return (await api.request('GET', '/version')).status;
}

test('site --skip-hosts registers the adopted cluster through its kubeconfig and publishes its sealed cluster Secret', async () => {
  const first = await site();
  assert.is(first.code, 0, first.out);
  // what `argocd cluster add` creates, on the adopted cluster
  assert.ok(server.get('ServiceAccount', MANAGER_SERVICE_ACCOUNT, MANAGER_NAMESPACE), 'ServiceAccount');
  assert.ok(server.get('ClusterRole', MANAGER_CLUSTER_ROLE), 'ClusterRole');
  assert.ok(server.get('ClusterRoleBinding', MANAGER_CLUSTER_ROLE_BINDING), 'ClusterRoleBinding');
  const tokenSecret = server.get('Secret', MANAGER_TOKEN_SECRET, MANAGER_NAMESPACE) as { data: Record<string, string> };
  const token = Buffer.from(tokenSecret.data.token, 'base64').toString('utf8');
  // its own sealing key installed there, the one the repo's gpu SealedSecrets are sealed with
  type KeySecret = { kind: string; metadata: { namespace?: string; labels?: Record<string, string> }; data: Record<string, string> };
  const keys = [...server.store.values()]
    .map((o) => o as unknown as KeySecret)
    .filter((o) => o.kind === 'Secret' && o.metadata.labels?.[SEALING_KEY_LABEL] === 'active');
  assert.is(keys.length, 1, "the gpu cluster's sealing key Secret is installed");
  const installed = keys[0];
  assert.is(installed.metadata.namespace, 'kube-system');
  assert.is(
    Buffer.from(installed.data['tls.crt'], 'base64').toString('utf8'),
    readFileSync(path.join(dir, '.clusterseed', 'gpu', 'sealing', 'sealed-secrets.crt'), 'utf8'),
  );

  // the published repo: the cluster Secret, sealed for the management cluster, holds that token
  const doc = parse(published(REGISTRATION).replace(/^#.*\n/gm, '')) as SealedSecret;
  const mgmtKey = readFileSync(path.join(dir, '.clusterseed', 'mgmt', 'sealing', 'sealed-secrets.key'), 'utf8');
  const data = unsealSecret(doc, mgmtKey);
  assert.equal([data.name, data.server], ['gpu', server.url]);
  const config = JSON.parse(data.config);
  assert.is(config.bearerToken, token);
  assert.is(config.tlsClientConfig.insecure, false);
  assert.is(Buffer.from(config.tlsClientConfig.caData, 'base64').toString('utf8').trim(), server.tls.caPem.trim());
  assert.not.ok(first.out.includes(token), 'the token is never printed');
  // the token Argo CD will present is accepted by that API, a wrong one is not
  assert.is(await versionStatus(token), 200);
  assert.is(await versionStatus(`${token}x`), 401);
});

test('a second run registers nothing anew and commits nothing', async () => {
  const before = head();
  const writes = server.writes().length;
  const again = await site();
  assert.is(again.code, 0, again.out);
  assert.is(head(), before, again.out);
  assert.is(server.writes().length, writes, 'no POST or PUT on the adopted cluster');
});

test("an adopted cluster that refuses the kubeconfig's credential fails the run (exit 2), naming the cluster", async () => {
  const file = path.join(dir, 'gpu.kubeconfig');
  const kubeconfig = parse(readFileSync(file, 'utf8'));
  kubeconfig.users[0].user.token = 'not-the-admin-token';
  writeFileSync(file, stringify(kubeconfig), { mode: 0o600 });
  const r = await site();
  assert.is(r.code, 2, r.out);
  assert.match(r.out, /adopted cluster gpu was not registered: .*401/);
  assert.match(r.out, /FAILED to register .*: gpu/);
});

test.run();
