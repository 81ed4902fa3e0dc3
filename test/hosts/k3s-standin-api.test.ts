// The K3s stand-in's Kubernetes API on a real (nspawn) server installed by the K3s roles: the
// argocd-manager objects of lib/clusters/manifests.ts applied as JSON through `k3s kubectl` over
// SSH, the token Secret filled by the token controller, and the HTTPS API on <address>:6443
// reached from this process with node:https, verifying the CA from that Secret and the address
// SAN: the token is accepted (200), a wrong or missing one is not (401), an unbound
// ServiceAccount's token is refused where RBAC applies (403), a foreign CA fails the handshake.
// Re-applying changes nothing and keeps the token; delete + apply makes a new one and the old one
// stops working. A restart keeps the CA; a new tls-san reissues the serving certificate.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { Role, RunReport } from '../../lib/runner/types.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { clearSecrets } from '../../lib/report/mask.ts';
import { argocdManagerObjects, tokenSecretData, MANAGER_NAMESPACE, MANAGER_TOKEN_SECRET } from '../../lib/clusters/manifests.ts';
import { k3sArtifactsRole } from '../../roles/k3s-prereq/artifacts.ts';
import { k3sPrereqRole } from '../../roles/k3s-prereq/index.ts';
import { k3sServerRole } from '../../roles/k3s-server/index.ts';
import { kubeconfigRole } from '../../roles/kubeconfig/index.ts';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';

const VERSION = 'v1.31.4+k3s1';
const ROLES: Role[] = [k3sArtifactsRole, k3sPrereqRole, k3sServerRole, kubeconfigRole];
const CA_FILE = '/var/lib/rancher/k3s/server/tls/server-ca.crt';
const SERVING_FILE = '/var/lib/rancher/k3s/server/tls/serving-kube-apiserver.crt';

let lab: TestLab;
let mirror: K3sMirror;
let work: string;
let address: string;

test.before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'clusterseed-standin-api-'));
  [lab, mirror] = await Promise.all([startLab({ count: 1, prefix: 'api' }), startK3sMirror({ versions: [VERSION] })]);
  address = lab.hosts[0].address;
  const inventory = await loadInventory(
    lab.writeInventory({
      extra: {
        cluster: {
          name: 'test',
          k3s_version: VERSION,
          token_file: path.join(work, 'token'),
          vars: { k3s: { ready_timeout: 60, kubeconfig: path.join(work, 'kubeconfig') } },
        },
      },
    }),
  );
  const report = await runSite({
    inventory,
    roles: ROLES,
    options: { check: false, diff: false, verbosity: 0, forks: 10 },
    connect: (h) => createTransport(h, { knownHostsFile: lab.knownHostsFile }),
    log: { info: () => {}, verbose: () => {}, debug: () => {}, warn: () => {} },
    shared: new Map<string, unknown>([
      ['k3s.mirror', mirror.url],
      ['k3s.cacheDir', path.join(work, 'cache')],
    ]),
  });
  assert.is(failures(report), '[]');
});
test.after(async () => {
  await lab?.stop();
  await mirror?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  clearSecrets();
});

function failures(r: RunReport): string {
  return JSON.stringify(
    r.hosts.flatMap((h) =>
      h.tasks.filter((t) => t.outcome === 'failed' || t.outcome === 'unreachable').map((t) => `${h.host}: ${t.task}: ${t.message}`),
    ),
  );
}

const host = () => lab.hosts[0].name;

/** `k3s kubectl ARGS` on the server over SSH, stdin from `input` */
async function kubectl(args: string, input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return lab.sh(host(), `k3s kubectl ${args}`, { input, timeoutMs: 20_000 });
}

const asList = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

async function tokenSecret(name = MANAGER_TOKEN_SECRET): Promise<{ token: string; caData: string }> {
  const got = await kubectl(`get secret ${name} -n ${MANAGER_NAMESPACE} -o json`);
  assert.is(got.code, 0, got.stderr);
  const data = tokenSecretData(JSON.parse(got.stdout));
  assert.ok(data, `the token controller filled ${name}: ${got.stdout}`);
  return data!;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** GET https://<address>:6443<path>, trusting only `caData` (base64 PEM); rejects on a TLS failure */
function get(pathname: string, opts: { token?: string; caData: string; servername?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: address,
        port: 6443,
        path: pathname,
        method: 'GET',
        agent: false,
        timeout: 10_000,
        ca: Buffer.from(opts.caData, 'base64').toString('utf8'),
        ...(opts.servername ? { servername: opts.servername } : {}),
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch (err) {
            reject(new Error(`not JSON (${res.statusCode}): ${text}: ${String(err)}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

test('the argocd-manager objects apply as JSON; the token and CA of their Secret open the API', async () => {
  const applied = await kubectl('apply -f -', asList(argocdManagerObjects()));
  assert.is(applied.code, 0, applied.stderr);
  assert.equal(applied.stdout.trim().split('\n'), [
    'serviceaccount/argocd-manager created',
    'clusterrole.rbac.authorization.k8s.io/argocd-manager-role created',
    'clusterrolebinding.rbac.authorization.k8s.io/argocd-manager-role-binding created',
    'secret/argocd-manager-long-lived-token created',
  ]);
  const { token, caData } = await tokenSecret();
  // the Secret's CA is the cluster's CA, the one k3s.yaml carries
  assert.is(Buffer.from(caData, 'base64').toString('utf8'), (await lab.sh(host(), `cat ${CA_FILE}`)).stdout);
  const k3sYaml = parse((await lab.sh(host(), 'cat /etc/rancher/k3s/k3s.yaml')).stdout) as {
    clusters: Array<{ cluster: Record<string, string> }>;
  };
  assert.is(k3sYaml.clusters[0].cluster['certificate-authority-data'], caData);

  const version = await get('/version', { token, caData });
  assert.is(version.status, 200, JSON.stringify(version.body));
  assert.is(version.body.gitVersion, VERSION);
  assert.is(version.body.major, '1');
  assert.is(version.body.minor, '31');
  const namespaces = await get('/api/v1/namespaces', { token, caData });
  assert.is(namespaces.status, 200);
  assert.ok((namespaces.body.items as Array<{ metadata: { name: string } }>).some((n) => n.metadata.name === 'kube-system'));

  for (const wrong of [`${token.slice(0, -4)}AAAA`, 'not-a-token', undefined]) {
    const denied = await get('/version', { token: wrong, caData });
    assert.is(denied.status, 401, `token ${wrong}`);
    assert.equal([denied.body.kind, denied.body.reason, denied.body.code], ['Status', 'Unauthorized', 401]);
  }
});

test("an unbound ServiceAccount's token: discovery as for every authenticated user, 403 where RBAC applies", async () => {
  const applied = await kubectl(
    'apply -f -',
    asList([
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'unbound', namespace: MANAGER_NAMESPACE } },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/service-account-token',
        metadata: { name: 'unbound-token', namespace: MANAGER_NAMESPACE, annotations: { 'kubernetes.io/service-account.name': 'unbound' } },
      },
    ]),
  );
  assert.is(applied.code, 0, applied.stderr);
  const { token, caData } = await tokenSecret('unbound-token');
  assert.is(
    (await get('/version', { token, caData })).status,
    200,
    'kube-apiserver lets every authenticated user read /version (system:public-info-viewer)',
  );
  const forbidden = await get('/api/v1/namespaces', { token, caData });
  assert.is(forbidden.status, 403);
  assert.is(forbidden.body.reason, 'Forbidden');
  assert.match(String(forbidden.body.message), 'User "system:serviceaccount:kube-system:unbound" cannot list resource "namespaces"');
  assert.is((await get('/healthz-not-a-path', { token, caData })).status, 403, 'a non-resource path needs a nonResourceURLs rule');
  const bound = await tokenSecret();
  assert.is(
    (await get('/healthz-not-a-path', { token: bound.token, caData })).status,
    404,
    'bound (nonResourceURLs *): allowed, then not found',
  );

  // kubectl's flags may come before the verb; the other kinds read back as applied
  const account = await kubectl(`-n ${MANAGER_NAMESPACE} get serviceaccount unbound -o json`);
  assert.is(account.code, 0, account.stderr);
  assert.equal([JSON.parse(account.stdout).kind, JSON.parse(account.stdout).metadata.namespace], ['ServiceAccount', MANAGER_NAMESPACE]);
  const binding = JSON.parse((await kubectl('get clusterrolebinding argocd-manager-role-binding -o json')).stdout);
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: 'argocd-manager', namespace: MANAGER_NAMESPACE }]);
});

test('TLS: a foreign CA fails the handshake; the address is an IP SAN of the serving certificate', async () => {
  const { token, caData } = await tokenSecret();
  const dir = mkdtempSync(path.join(work, 'foreign-'));
  await promisify(execFile)(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=foreign-ca',
      '-days',
      '1',
      '-keyout',
      path.join(dir, 'ca.key'),
      '-out',
      path.join(dir, 'ca.crt'),
    ],
    { timeout: 20_000 },
  );
  const foreign = readFileSync(path.join(dir, 'ca.crt')).toString('base64');
  const err = await get('/version', { token, caData: foreign }).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  assert.ok(err, 'the handshake must fail with a foreign CA');
  assert.match(String(err!.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
  const wrongName = await get('/version', { token, caData, servername: 'not-in-the-sans.example' }).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  assert.is(wrongName?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  const sans = (await lab.sh(host(), `openssl x509 -in ${SERVING_FILE} -noout -ext subjectAltName`)).stdout;
  for (const want of [
    'DNS:kubernetes',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
    'IP Address:127.0.0.1',
    `IP Address:${address}`,
    `DNS:${host()}`,
    'IP Address:10.43.0.1',
  ]) {
    assert.ok(sans.includes(want), `${want} in ${sans}`);
  }
});

test('re-apply: unchanged, same token; delete + apply: a new token, the old one is refused', async () => {
  const before = await tokenSecret();
  const again = await kubectl('apply -f -', asList(argocdManagerObjects()));
  assert.is(again.code, 0, again.stderr);
  assert.ok(
    again.stdout
      .trim()
      .split('\n')
      .every((l) => l.endsWith(' unchanged')),
    again.stdout,
  );
  assert.is((await tokenSecret()).token, before.token);

  const deleted = await kubectl(`delete secret ${MANAGER_TOKEN_SECRET} -n ${MANAGER_NAMESPACE}`);
  assert.is(deleted.code, 0, deleted.stderr);
  assert.is(deleted.stdout.trim(), `secret "${MANAGER_TOKEN_SECRET}" deleted`);
  const gone = await kubectl(`get secret ${MANAGER_TOKEN_SECRET} -n ${MANAGER_NAMESPACE} -o json`);
  assert.is(gone.code, 1);
  assert.match(gone.stderr, `Error from server (NotFound): secrets "${MANAGER_TOKEN_SECRET}" not found`);
  assert.is((await get('/version', { token: before.token, caData: before.caData })).status, 401, "the deleted Secret's token");

  const reapplied = await kubectl('apply -f -', asList(argocdManagerObjects()));
  assert.is(reapplied.code, 0, reapplied.stderr);
  assert.match(reapplied.stdout, `secret/${MANAGER_TOKEN_SECRET} created`);
  assert.match(reapplied.stdout, 'serviceaccount/argocd-manager unchanged');
  const after = await tokenSecret();
  assert.is.not(after.token, before.token);
  assert.is((await get('/version', { token: after.token, caData: after.caData })).status, 200);
  assert.is((await get('/version', { token: before.token, caData: after.caData })).status, 401);
});

test('kubectl refuses YAML and kinds the stand-in does not serve, exit 1, naming what it got', async () => {
  const yaml = await kubectl('apply -f -', 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\n');
  assert.is(yaml.code, 1);
  assert.match(yaml.stderr, 'reads JSON only');
  const deployment = await kubectl('apply -f -', JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' } }));
  assert.is(deployment.code, 1);
  assert.match(deployment.stderr, 'not apps/v1 Deployment "web"');
  const bad = await kubectl('apply -f -', '{"apiVersion": "v1", "kind": ');
  assert.is(bad.code, 1);
  assert.match(bad.stderr, 'error parsing -');
});

test('a restart keeps the CA and the objects; a new tls-san reissues the serving certificate', async () => {
  const { token, caData } = await tokenSecret();
  const sum = async (file: string) => (await lab.sh(host(), `sha256sum ${file}`)).stdout.split(' ')[0];
  const [caBefore, servingBefore] = [await sum(CA_FILE), await sum(SERVING_FILE)];
  await lab.sh(host(), 'systemctl restart k3s', { timeoutMs: 60_000 });
  assert.is(await sum(CA_FILE), caBefore);
  assert.is(await sum(SERVING_FILE), servingBefore, 'same SANs: the serving certificate is kept');
  assert.is((await get('/version', { token, caData })).status, 200, 'the token survives a restart');

  const edit = await lab.sh(
    host(),
    `sed -i 's/^tls-san:$/tls-san:\\n  - api.lab.test/' /etc/rancher/k3s/config.yaml && grep -c api.lab.test /etc/rancher/k3s/config.yaml && systemctl restart k3s`,
    { timeoutMs: 60_000 },
  );
  assert.is(edit.code, 0, `${edit.stdout} ${edit.stderr}`);
  assert.is(await sum(CA_FILE), caBefore, 'the CA is kept');
  assert.is.not(await sum(SERVING_FILE), servingBefore, 'the serving certificate was issued again');
  const named = await get('/version', { token, caData, servername: 'api.lab.test' });
  assert.is(named.status, 200);
});

test.run();
