// Registering an adopted cluster through its kubeconfig against a local Kubernetes API stand-in with
// real TLS and a real token check (test/support/kube-api-server.ts).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { registerAdoptedCluster } from '../../lib/clusters/adopted.ts';
import { clusterAccessFile, readClusterAccess } from '../../lib/clusters/access.ts';
import { KubeApi } from '../../lib/clusters/kube-api.ts';
import { MANAGER_NAMESPACE, MANAGER_TOKEN_SECRET } from '../../lib/clusters/manifests.ts';
import { generateSealingKeyPair, sealingKeySecretManifest, SEALING_KEY_LABEL } from '../../lib/gitops/sealing-keys.ts';
import type { ClusterSpec } from '../../lib/inventory/model.ts';
import type { Logger } from '../../lib/runner/types.ts';
import { mask, MASK } from '../../lib/report/mask.ts';
import { generateTlsMaterial, KubeApiServer } from '../support/kube-api-server.ts';

/** Every line any registration logged in this file, checked for tokens at the end. */
const logged: string[] = [];
/** Every error message a registration threw in this file. */
const errors: string[] = [];
/** Every token the tests saw: admin tokens and ServiceAccount tokens. */
const tokens = new Set<string>();

// captures raw lines, unmasked and unfiltered: the code must not even try to log a token
const log: Logger = {
  info: (m) => logged.push(m),
  verbose: (m) => logged.push(m),
  debug: (m) => logged.push(m),
  warn: (m) => logged.push(m),
};

/** One CA and certificates for all servers of this file (openssl is slow on a busy machine); each server has its own store and tokens. */
let sharedTls: ReturnType<typeof generateTlsMaterial> | undefined;

interface Setup {
  server: KubeApiServer;
  dir: string;
  stateDir: string;
  kubeconfig: string;
  cluster: ClusterSpec;
  close(): Promise<void>;
}

function kubeconfigFor(server: KubeApiServer, user: Record<string, unknown>, caPem = server.tls.caPem): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'lke-gpu',
    clusters: [{ name: 'lke', cluster: { server: server.url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'lke-admin', user }],
    contexts: [{ name: 'lke-gpu', context: { cluster: 'lke', user: 'lke-admin' } }],
  });
}

function clusterSpec(kubeconfig: string, server?: string): ClusterSpec {
  return {
    name: 'gpu',
    k3sVersion: '',
    clusterCidr: '10.42.0.0/16',
    serviceCidr: '10.43.0.0/16',
    flannelBackend: 'vxlan',
    servers: [],
    agents: [],
    domain: 'gpu.lan',
    components: {},
    vars: {},
    adopted: { kubeconfig, context: 'lke-gpu', server, nodePools: [] },
  };
}

async function setup(opts: { user?: (s: KubeApiServer) => Record<string, unknown>; caPem?: string; server?: string } = {}): Promise<Setup> {
  const server = await KubeApiServer.start({ tokenDelayMs: 120, tls: (sharedTls ??= generateTlsMaterial()) });
  tokens.add(server.adminToken);
  const dir = mkdtempSync(path.join(tmpdir(), 'adopted-test-'));
  const kubeconfig = path.join(dir, 'gpu.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigFor(server, opts.user ? opts.user(server) : { token: server.adminToken }, opts.caPem), {
    mode: 0o600,
  });
  return {
    server,
    dir,
    stateDir: path.join(dir, '.clusterseed'),
    kubeconfig,
    cluster: clusterSpec(kubeconfig, opts.server),
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function register(s: Setup, extra: { check?: boolean; sealingKeyManifest?: string } = {}) {
  try {
    const r = await registerAdoptedCluster({
      cluster: s.cluster,
      stateDir: s.stateDir,
      check: extra.check ?? false,
      sealingKeyManifest: extra.sealingKeyManifest,
      log,
    });
    if (r.access) tokens.add(r.access.bearerToken);
    return r;
  } catch (err) {
    errors.push((err as Error).message);
    throw err;
  }
}

async function registerFails(s: Setup, extra: { sealingKeyManifest?: string } = {}): Promise<string> {
  try {
    await register(s, extra);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('registration was expected to fail');
}

/** GET /version with a bearer token, over TLS verified against the server's CA: the HTTP status. */
async function versionStatus(s: Setup, token: string): Promise<number> {
  const api = new KubeApi({ file: 'probe', context: 'probe', server: s.server.url, caPem: s.server.tls.caPem, credentials: { token } });
  return (await api.request('GET', '/version')).status;
}

test('registration creates the ServiceAccount, ClusterRole, binding and token Secret, and records the access 0600', async () => {
  const s = await setup();
  try {
    const r = await register(s);
    assert.ok(r.changed);
    assert.equal(r.actions.slice(0, 4), [
      'created ServiceAccount kube-system/argocd-manager',
      'created ClusterRole argocd-manager-role',
      'created ClusterRoleBinding argocd-manager-role-binding',
      'created Secret kube-system/argocd-manager-long-lived-token',
    ]);
    assert.match(r.actions[4], /^recorded Argo CD's access in .*\/gpu\/argocd-access.json$/);
    const binding = s.server.get('ClusterRoleBinding', 'argocd-manager-role-binding');
    assert.equal(binding?.subjects, [{ kind: 'ServiceAccount', name: 'argocd-manager', namespace: 'kube-system' }]);
    const access = await readClusterAccess(s.stateDir, 'gpu');
    assert.ok(access);
    assert.equal(access, r.access);
    assert.is(access!.server, s.server.url, 'no adopted.server: the kubeconfig context server');
    assert.ok(
      logged.some(
        (l) => l.includes(`the kubeconfig's server ${s.server.url} is a loopback address`) && l.includes('set clusters.gpu.server'),
      ),
      'a loopback server is reported',
    );
    assert.is(Buffer.from(access!.caData, 'base64').toString(), s.server.tls.caPem);
    assert.is((statSync(clusterAccessFile(s.stateDir, 'gpu')).mode & 0o777).toString(8), '600');
    // the token is the one the token controller put into the Secret, and the server accepts it
    const secret = s.server.get('Secret', MANAGER_TOKEN_SECRET, MANAGER_NAMESPACE);
    assert.is(Buffer.from(secret!.data.token, 'base64').toString(), access!.bearerToken);
    assert.is(await versionStatus(s, access!.bearerToken), 200);
    assert.is(await versionStatus(s, 'made-up-token'), 401);
    assert.is(mask(access!.bearerToken), MASK, 'the token is registered as a secret for every printed line');
  } finally {
    await s.close();
  }
});

test('the stand-in checks RBAC: a ServiceAccount token is refused until its ServiceAccount is bound to a ClusterRole allowing *', async () => {
  const s = await setup();
  try {
    const r = await register(s);
    const token = r.access!.bearerToken;
    const binding = s.server.get('ClusterRoleBinding', 'argocd-manager-role-binding')!;
    s.server.store.delete('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/argocd-manager-role-binding');
    assert.is(await versionStatus(s, token), 403);
    s.server.seed(binding);
    const role = s.server.get('ClusterRole', 'argocd-manager-role')!;
    s.server.seed({ ...role, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] });
    assert.is(await versionStatus(s, token), 403);
    // the next run repairs the ClusterRole (a PUT of the drifted object) and nothing else
    const before = s.server.writes().length;
    const again = await register(s);
    assert.equal(again.actions, ['updated ClusterRole argocd-manager-role']);
    assert.equal(
      s.server
        .writes()
        .slice(before)
        .map((w) => `${w.method} ${w.path} ${w.status}`),
      ['PUT /apis/rbac.authorization.k8s.io/v1/clusterroles/argocd-manager-role 200'],
    );
    assert.is(await versionStatus(s, token), 200);
  } finally {
    await s.close();
  }
});

test('a rerun changes nothing: no POST or PUT, the access file untouched', async () => {
  const s = await setup();
  try {
    await register(s);
    const file = clusterAccessFile(s.stateDir, 'gpu');
    const mtime = statSync(file).mtimeMs;
    const writes = s.server.writes().length;
    const again = await register(s);
    assert.equal([again.changed, again.actions], [false, []]);
    assert.is(s.server.writes().length, writes, 'no POST/PUT on the rerun');
    assert.is(statSync(file).mtimeMs, mtime);
  } finally {
    await s.close();
  }
});

test("a token Secret of that name for another ServiceAccount: refused, not updated (its token is not argocd-manager's)", async () => {
  const s = await setup();
  try {
    s.server.seed({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: {
        name: MANAGER_TOKEN_SECRET,
        namespace: MANAGER_NAMESPACE,
        annotations: { 'kubernetes.io/service-account.name': 'default' },
      },
      data: { token: Buffer.from('default-sa-token-77').toString('base64') },
    });
    tokens.add('default-sa-token-77');
    const m = await registerFails(s);
    assert.match(
      m,
      `${s.kubeconfig} (context lke-gpu): Secret kube-system/${MANAGER_TOKEN_SECRET} exists but is not the argocd-manager token Secret`,
    );
    assert.not.ok(s.server.writes().some((w) => w.method === 'PUT'));
    assert.is(await readClusterAccess(s.stateDir, 'gpu'), undefined);
  } finally {
    await s.close();
  }
});

test('a rotated token (Secret recreated) is recorded anew; the old one no longer works', async () => {
  const s = await setup();
  try {
    const first = await register(s);
    s.server.rotateToken(MANAGER_NAMESPACE, MANAGER_TOKEN_SECRET);
    assert.is(await versionStatus(s, first.access!.bearerToken), 401, 'the old token died with its Secret');
    const r = await register(s);
    assert.ok(r.changed);
    assert.is(r.actions.length, 1);
    assert.match(r.actions[0], /^recorded Argo CD's access in .* \(new token\)$/);
    const access = await readClusterAccess(s.stateDir, 'gpu');
    assert.is.not(access!.bearerToken, first.access!.bearerToken);
    assert.is(await versionStatus(s, access!.bearerToken), 200);
  } finally {
    await s.close();
  }
});

test('check mode reads only: nothing created on the cluster, nothing written locally; then nothing pending after a real run', async () => {
  const s = await setup({ server: 'https://10.77.0.9:6443' });
  try {
    const r = await register(s, { check: true });
    assert.ok(r.changed);
    assert.equal(r.actions, [
      'would create ServiceAccount kube-system/argocd-manager',
      'would create ClusterRole argocd-manager-role',
      'would create ClusterRoleBinding argocd-manager-role-binding',
      'would create Secret kube-system/argocd-manager-long-lived-token',
      "would record Argo CD's access once the token Secret is filled",
    ]);
    assert.is(r.access, undefined);
    assert.equal(s.server.writes(), []);
    assert.ok(s.server.requests.every((q) => q.method === 'GET'));
    assert.is(await readClusterAccess(s.stateDir, 'gpu'), undefined);
    const warnings = logged.filter((l) => l.includes('loopback')).length;
    const real = await register(s);
    assert.is(real.access!.server, 'https://10.77.0.9:6443', 'adopted.server: as Argo CD reaches it');
    assert.is(logged.filter((l) => l.includes('loopback')).length, warnings, 'no loopback warning with adopted.server set');
    s.server.rotateToken(MANAGER_NAMESPACE, MANAGER_TOKEN_SECRET);
    await new Promise((r) => setTimeout(r, 300)); // the token controller refills it
    const writes = s.server.writes().length;
    const pending = await register(s, { check: true });
    assert.equal([pending.changed, pending.actions.length], [true, 1]);
    assert.match(pending.actions[0], /^would record Argo CD's access in .* \(new token\)$/);
    assert.is(s.server.writes().length, writes);
    assert.equal(await readClusterAccess(s.stateDir, 'gpu'), real.access, 'the recorded access is unchanged in check mode');
  } finally {
    await s.close();
  }
});

test('an API server whose certificate the kubeconfig CA does not verify: a TLS error naming the kubeconfig, nothing sent', async () => {
  const other = generateTlsMaterial();
  const s = await setup({ caPem: other.caPem });
  try {
    const m = await registerFails(s);
    assert.match(
      m,
      `${s.kubeconfig} (context lke-gpu): TLS: the API server ${s.server.url} presented a certificate that does not verify against the kubeconfig's certificate-authority`,
    );
    assert.equal(s.server.requests, [], 'no request got through the handshake');
  } finally {
    await s.close();
  }
});

test('a rejected admin token (401): a clear error naming the kubeconfig and context, not the token', async () => {
  const s = await setup({ user: () => ({ token: 'expired-admin-token-0001' }) });
  tokens.add('expired-admin-token-0001');
  try {
    const m = await registerFails(s);
    assert.match(
      m,
      `${s.kubeconfig} (context lke-gpu): GET /version answered 401: the API server rejected the kubeconfig user's credentials`,
    );
    assert.not.ok(m.includes('expired-admin-token-0001'));
  } finally {
    await s.close();
  }
});

test('exec credential plugins: a script printing an ExecCredential token, and one returning a client certificate', async () => {
  const s = await setup();
  try {
    const tokenPlugin = path.join(s.dir, 'token-plugin.sh');
    writeFileSync(
      tokenPlugin,
      `#!/bin/sh\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$LKE_TOKEN"\n`,
    );
    chmodSync(tokenPlugin, 0o755);
    const exec = {
      apiVersion: 'client.authentication.k8s.io/v1',
      command: './token-plugin.sh',
      env: [{ name: 'LKE_TOKEN', value: s.server.adminToken }],
      interactiveMode: 'Never',
    };
    writeFileSync(s.kubeconfig, kubeconfigFor(s.server, { exec }));
    const r = await register(s);
    assert.ok(r.access);
    assert.is(await versionStatus(s, r.access!.bearerToken), 200);

    const certPlugin = path.join(s.dir, 'cert-plugin.sh');
    const cred = {
      apiVersion: 'client.authentication.k8s.io/v1beta1',
      kind: 'ExecCredential',
      status: { clientCertificateData: s.server.tls.clientCertPem, clientKeyData: s.server.tls.clientKeyPem },
    };
    writeFileSync(path.join(s.dir, 'cred.json'), JSON.stringify(cred));
    writeFileSync(certPlugin, `#!/bin/sh\ncat "$(dirname "$0")/cred.json"\n`);
    chmodSync(certPlugin, 0o755);
    writeFileSync(
      s.kubeconfig,
      kubeconfigFor(s.server, { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: certPlugin } }),
    );
    const again = await register(s);
    assert.equal([again.changed, again.actions], [false, []], 'the client certificate authenticates; same objects, same token');
    assert.ok(s.server.requests.slice(-1)[0].status === 200);
  } finally {
    await s.close();
  }
});

test('sealing key: installed once in kube-system, a rerun leaves it; a foreign active key is refused, never overwritten', async () => {
  const s = await setup();
  const t = await setup();
  try {
    const ours = await generateSealingKeyPair({ keySize: 2048 });
    const manifest = sealingKeySecretManifest(ours, 'kube-system');
    const r = await register(s, { sealingKeyManifest: manifest });
    const installed = r.actions.filter((a) => a.startsWith('installed'));
    assert.is(installed.length, 1);
    assert.match(installed[0], /^installed Sealed Secrets key Secret kube-system\/sealed-secrets-key-[0-9a-f]{8}$/);
    const keys = [...s.server.store.values()].filter((o) => o.metadata.labels?.[SEALING_KEY_LABEL] === 'active');
    assert.is(keys.length, 1);
    assert.is(keys[0].data['tls.key'], Buffer.from(ours.privateKeyPem).toString('base64'));
    const writes = s.server.writes().length;
    const again = await register(s, { sealingKeyManifest: manifest });
    assert.equal([again.changed, again.actions], [false, []]);
    assert.is(s.server.writes().length, writes);

    // another cluster already runs Sealed Secrets with a key of its own
    const foreign = await generateSealingKeyPair({ keySize: 2048 });
    t.server.seed({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'sealed-secrets-keyabcde', namespace: 'kube-system', labels: { [SEALING_KEY_LABEL]: 'active' } },
      data: {
        'tls.crt': Buffer.from(foreign.certificatePem).toString('base64'),
        'tls.key': Buffer.from(foreign.privateKeyPem).toString('base64'),
      },
    });
    const m = await registerFails(t, { sealingKeyManifest: manifest });
    assert.match(
      m,
      `${t.kubeconfig} (context lke-gpu): kube-system already has an active Sealed Secrets key sealed-secrets-keyabcde that is not clusterseed's`,
    );
    assert.equal(
      t.server
        .writes()
        .filter((q) => q.path.includes('/secrets'))
        .map((q) => `${q.method} ${q.path}`),
      ['POST /api/v1/namespaces/kube-system/secrets'],
      'only the token Secret was written, no sealing key',
    );
    const stillForeign = [...t.server.store.values()].filter((o) => o.metadata.labels?.[SEALING_KEY_LABEL] === 'active');
    assert.equal(
      stillForeign.map((o) => o.metadata.name),
      ['sealed-secrets-keyabcde'],
      'ours was not added beside it',
    );

    // a different key under our key's name is not overwritten either
    const u = await setup();
    try {
      const name = /name: (\S+)/.exec(manifest)![1];
      u.server.seed({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name, namespace: 'kube-system' },
        data: {
          'tls.crt': Buffer.from(foreign.certificatePem).toString('base64'),
          'tls.key': Buffer.from(foreign.privateKeyPem).toString('base64'),
        },
      });
      const m2 = await registerFails(u, { sealingKeyManifest: manifest });
      assert.match(m2, `Sealed Secrets key Secret kube-system/${name} exists with a different key`);
      assert.is(u.server.get('Secret', name, 'kube-system')!.data['tls.crt'], Buffer.from(foreign.certificatePem).toString('base64'));
    } finally {
      await u.close();
    }
  } finally {
    await s.close();
    await t.close();
  }
});

test('every request is bounded: a server that accepts and never answers fails after the timeout, naming the kubeconfig', async () => {
  const sockets: Socket[] = [];
  const silent = createNetServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const url = `https://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const api = new KubeApi(
      {
        file: '/x/gpu.kubeconfig',
        context: 'lke-gpu',
        server: url,
        caPem: (sharedTls ??= generateTlsMaterial()).caPem,
        credentials: { token: 'tok-0000' },
      },
      300,
    );
    const started = Date.now();
    const m = await api.version().then(
      () => 'answered',
      (err: Error) => err.message,
    );
    assert.is(m, `/x/gpu.kubeconfig (context lke-gpu): GET /version on ${url}: no answer within 0.3s`);
    assert.ok(Date.now() - started < 5000);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((r) => silent.close(r));
  }
});

test('no token in any log line or error message of this file', () => {
  assert.ok(logged.length > 10, 'the registrations logged');
  assert.ok(errors.length >= 4, 'failures were seen');
  assert.ok(tokens.size >= 6);
  for (const line of [...logged, ...errors]) {
    for (const token of tokens) assert.not.ok(line.includes(token), `a token leaked into: ${line}`);
  }
});

test.run();
