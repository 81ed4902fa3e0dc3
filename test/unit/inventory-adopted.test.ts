// Adopted clusters (`clusters.<name>.kubeconfig`) through the real loader: YAML text and a
// kubeconfig file in, the model (adopted, node pools, the server) or an error at the field out.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { preflight } from '../../cli/preflight.ts';
import { InventoryError, checkKubeconfigFiles, parseInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'clusterseed-adopted-'));
const FILE = path.join(dir, 'inventory.yaml');
// stands for a credential in the kubeconfig: it must never show in any report
const SECRET = 'kubeconfig-test-credential-must-not-leak';

function kubeconfig(name: string, text: string, mode = 0o600): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
  return file;
}

const LKE = [
  'apiVersion: v1',
  'kind: Config',
  'clusters:',
  '  - name: lke-gpu',
  '    cluster: { server: "https://1234.eu-central-2.linodelke.net:443", certificate-authority-data: Q0EK }',
  '  - name: other',
  '    cluster: { server: "https://other.example:6443" }',
  'users:',
  `  - name: lke-admin`,
  `    user: { token: ${SECRET} }`,
  'contexts:',
  '  - name: lke-gpu-ctx',
  '    context: { cluster: lke-gpu, user: lke-admin }',
  '  - name: other-ctx',
  '    context: { cluster: other, user: lke-admin }',
  'current-context: lke-gpu-ctx',
].join('\n');

kubeconfig('gpu.kubeconfig', LKE);
kubeconfig('kube/open.kubeconfig', LKE, 0o644);
kubeconfig('no-current.kubeconfig', LKE.replace('current-context: lke-gpu-ctx', ''));
kubeconfig('no-server.kubeconfig', LKE.replace('server: "https://1234.eu-central-2.linodelke.net:443", ', ''));
kubeconfig('http.kubeconfig', LKE.replace('https://1234', 'http://1234'));
kubeconfig('dangling.kubeconfig', LKE.replace('context: { cluster: lke-gpu,', 'context: { cluster: lke-gone,'));
kubeconfig('broken.kubeconfig', `users:\n  - name: a\n    user: { token: ${SECRET}\n  bad: [`);
kubeconfig('not-a-kubeconfig.kubeconfig', `token: ${SECRET}\n`);
// credentials as registration needs them (checked before hosts are contacted)
const USER = `    user: { token: ${SECRET} }`;
kubeconfig('no-credential.kubeconfig', LKE.replace(USER, '    user: { username: admin }'));
kubeconfig(
  'auth-provider.kubeconfig',
  LKE.replace(USER, `    user: { auth-provider: { name: gcp, config: { access-token: ${SECRET} } } }`),
);
kubeconfig('insecure.kubeconfig', LKE.replace('certificate-authority-data: Q0EK', 'insecure-skip-tls-verify: true'));
kubeconfig('creds/token-file.kubeconfig', LKE.replace(USER, '    user: { tokenFile: ./missing-token }'));
kubeconfig(
  'creds/exec.kubeconfig',
  LKE.replace(USER, '    user: { exec: { apiVersion: client.authentication.k8s.io/v1, command: ./token-helper } }'),
);
kubeconfig('creds/cert.kubeconfig', LKE.replace(USER, '    user: { client-certificate: ./client.crt, client-key-data: S0VZCg== }'));
kubeconfig('creds/client.crt', 'not checked beyond being readable');
kubeconfig(
  'no-user.kubeconfig',
  LKE.replace('context: { cluster: lke-gpu, user: lke-admin }', 'context: { cluster: lke-gpu, user: somebody }'),
);

function load(lines: string[]): Inventory {
  return parseInventory(lines.join('\n'), FILE);
}

function failure(lines: string[]): InventoryError {
  try {
    parseInventory(lines.join('\n'), FILE);
  } catch (err) {
    if (err instanceof InventoryError) return err;
    throw err;
  }
  throw new Error('the inventory loaded although it is wrong');
}

const POOL =
  '{ name: gpu, count: 2, arch: x86_64, cpu: 8, memory: 32Gi, gpus: 1, labels: { lke.linode.com/pool-id: "123", nvidia.com/gpu.present: "true" }, taints: ["nvidia.com/gpu=present:NoSchedule"] }';

/** mgmt built from one host, gpu adopted (line 4 holds gpu's settings, line 5 its node pools). */
function inventory(o: { gpu?: string; pools?: string; hosts?: string[]; first?: string } = {}): string[] {
  return [
    'clusters:',
    `  ${o.first ?? 'mgmt: { k3s_version: v1.31.4+k3s1 }'}`,
    '  gpu:',
    `    ${o.gpu ?? 'kubeconfig: ./gpu.kubeconfig'}`,
    `    node_pools: ${o.pools ?? `[${POOL}]`}`,
    'defaults: { user: admin }',
    'hosts:',
    '  box: { address: 10.0.0.5, cluster: mgmt }',
    ...(o.hosts ?? []),
    'groups: { servers: [box] }',
  ];
}

test('an adopted cluster: kubeconfig resolved from the inventory, server from its current context, pools normalized', () => {
  const inv = load(inventory());
  assert.equal(
    inv.clusters.map((c) => c.name),
    ['mgmt', 'gpu'],
  );
  const gpu = inv.clusters[1];
  assert.equal(gpu.adopted, {
    kubeconfig: path.join(dir, 'gpu.kubeconfig'),
    server: 'https://1234.eu-central-2.linodelke.net:443',
    nodePools: [
      {
        name: 'gpu',
        count: 2,
        arch: 'x86_64',
        cpu: 8,
        memoryMi: 32768,
        gpus: 1,
        labels: { 'lke.linode.com/pool-id': '123', 'nvidia.com/gpu.present': 'true' },
        taints: ['nvidia.com/gpu=present:NoSchedule'],
      },
    ],
  });
  assert.equal([gpu.servers, gpu.agents, gpu.k3sVersion, gpu.tokenFile], [[], [], '', undefined]);
  assert.is(gpu.domain, 'gpu.lan');
  assert.is(inv.clusters[0].adopted, undefined);
  assert.ok(inv.hosts.every((h) => h.cluster === 'mgmt'));
  assert.is(inv.warnings, undefined);
});

test('context: picks another context and its server; server: overrides the kubeconfig; gpus default 0; decimal memory', () => {
  let inv = load(
    inventory({
      gpu: 'kubeconfig: gpu.kubeconfig\n    context: other-ctx',
      pools: '[{ name: cpu, count: 1, arch: aarch64, cpu: 3.5, memory: 16G }]',
    }),
  );
  assert.is(inv.clusters[1].adopted!.context, 'other-ctx');
  assert.is(inv.clusters[1].adopted!.server, 'https://other.example:6443');
  assert.equal(inv.clusters[1].adopted!.nodePools[0], {
    name: 'cpu',
    count: 1,
    arch: 'aarch64',
    cpu: 3.5,
    memoryMi: 15258,
    gpus: 0,
    labels: {},
    taints: [],
  });
  inv = load(
    inventory({
      gpu: 'kubeconfig: gpu.kubeconfig\n    server: "https://10.77.0.40:6443"',
      pools: '[{ name: a, count: 1, arch: x86_64, cpu: 2, memory: 512Mi }]',
    }),
  );
  assert.is(inv.clusters[1].adopted!.server, 'https://10.77.0.40:6443');
  assert.is(inv.clusters[1].adopted!.nodePools[0].memoryMi, 512);
});

test('a kubeconfig others can read is accepted with a warning at its key', () => {
  const inv = load(inventory({ gpu: 'kubeconfig: kube/open.kubeconfig' }));
  const file = path.join(dir, 'kube/open.kubeconfig');
  assert.equal(inv.warnings, [
    `${FILE}:4:17: warning: clusters.gpu.kubeconfig: kubeconfig ${file} has mode 0644: it holds the cluster's credentials and is open to group or others on this machine; run chmod 600 ${file}`,
  ]);
});

test('the kubeconfig must exist, be YAML, be a kubeconfig, have the context and its cluster a https server; no credential is ever printed', () => {
  const cases: Array<[string, string]> = [
    [
      'kubeconfig: ./missing.kubeconfig',
      `${FILE}:4:17: clusters.gpu.kubeconfig: kubeconfig file does not exist: ${path.join(dir, 'missing.kubeconfig')}`,
    ],
    ['kubeconfig: kube', `${FILE}:4:17: clusters.gpu.kubeconfig: kubeconfig ${path.join(dir, 'kube')} is not a file`],
    [
      'kubeconfig: broken.kubeconfig',
      `clusters.gpu.kubeconfig: kubeconfig ${path.join(dir, 'broken.kubeconfig')} is not valid YAML (line 4, column`,
    ],
    ['kubeconfig: not-a-kubeconfig.kubeconfig', 'is not a kubeconfig: it needs clusters: and contexts: lists'],
    ['kubeconfig: no-current.kubeconfig', 'has no current-context: set context: to one of lke-gpu-ctx, other-ctx'],
    [
      'kubeconfig: gpu.kubeconfig\n    context: lke-gpu-ctz',
      `${FILE}:5:14: clusters.gpu.context: kubeconfig ${path.join(dir, 'gpu.kubeconfig')} has no context "lke-gpu-ctz" (did you mean "lke-gpu-ctx"?); contexts: lke-gpu-ctx, other-ctx`,
    ],
    ['kubeconfig: dangling.kubeconfig', 'context "lke-gpu-ctx" names cluster "lke-gone", which is not in its clusters: list'],
    ['kubeconfig: no-server.kubeconfig', 'cluster "lke-gpu" (context "lke-gpu-ctx") has no server'],
    ['kubeconfig: http.kubeconfig', 'the server of cluster "lke-gpu" is not an https:// URL'],
  ];
  for (const [gpu, expected] of cases) {
    const report = failure(inventory({ gpu })).format();
    assert.match(report, expected, `${gpu}:\n${report}`);
    assert.not.match(report, SECRET);
  }
});

test('the management cluster cannot be adopted (clusters: first, or the single cluster:)', () => {
  const report = failure(
    inventory({ first: 'mgmt: { kubeconfig: gpu.kubeconfig, node_pools: [{ name: a, count: 1, arch: x86_64, cpu: 2, memory: 4Gi }] }' }),
  ).format();
  assert.match(
    report,
    `${FILE}:2:11: clusters.mgmt.kubeconfig: the first cluster is the management cluster: it runs Argo CD and clusterseed builds it; list a built cluster first and the adopted one after it`,
  );
  const single = failure([
    'cluster: { name: solo, kubeconfig: gpu.kubeconfig, node_pools: [{ name: a, count: 1, arch: x86_64, cpu: 2, memory: 4Gi }] }',
    'defaults: { user: admin }',
    'hosts: { a: { address: 10.0.0.1 } }',
    'groups: { servers: [a] }',
  ]).format();
  assert.match(single, 'cluster.kubeconfig: the only cluster (cluster:) is the management cluster');
});

test('K3s settings on an adopted cluster are refused, each by name', () => {
  const gpu =
    'kubeconfig: gpu.kubeconfig\n    k3s_version: v1.31.4+k3s1\n    cluster_cidr: 10.62.0.0/16\n    token_file: x\n    flannel_backend: vxlan\n    vars: { k3s: {} }';
  const report = failure(inventory({ gpu })).format();
  for (const key of ['k3s_version', 'cluster_cidr', 'token_file', 'flannel_backend', 'vars.k3s']) {
    assert.match(report, `clusters.gpu.${key}: is a K3s setting: an adopted cluster (kubeconfig:) is not built by clusterseed`);
  }
});

test('a built cluster still needs k3s_version; context/server/node_pools need kubeconfig', () => {
  const report = failure(inventory({ gpu: 'context: x', first: 'mgmt: { domain: a.lan }' })).format();
  assert.match(
    report,
    `${FILE}:2:3: clusters.mgmt.k3s_version: is required (a pinned K3s version like v1.31.4+k3s1); a cluster built elsewhere gets kubeconfig: instead`,
  );
  assert.match(report, 'clusters.gpu.context: only applies to an adopted cluster (one with kubeconfig:)');
  assert.match(report, 'clusters.gpu.node_pools: only applies to an adopted cluster');
  assert.match(report, 'clusters.gpu.k3s_version: is required');
});

test('a host on an adopted cluster is refused', () => {
  const report = failure(
    inventory({ hosts: ['  gpu-1: { address: 10.0.0.6, cluster: gpu }'] }).map((l) => l.replace('servers: [box]', 'servers: [box, gpu-1]')),
  ).format();
  assert.is(
    report,
    `${FILE}:9:40: hosts.gpu-1.cluster: cluster "gpu" is adopted (kubeconfig:): clusterseed does not build it, so it has no hosts; built clusters: mgmt`,
  );
});

test("node pools: required, counts and sizes, unique names, labels and taints like a host's", () => {
  assert.match(failure(inventory({ pools: '[]' })).format(), 'clusters.gpu.node_pools: must be a list of node pools (got an empty list)');
  assert.match(
    failure(inventory().filter((l) => !l.includes('node_pools'))).format(),
    'clusters.gpu.kubeconfig: an adopted cluster needs node_pools: (name, count, arch, cpu, memory of its nodes)',
  );
  const bad = [
    '{ name: a, count: 0, arch: x86_64, cpu: 0, memory: 32GB, gpus: -1 }',
    '{ name: b, count: 1, arch: arm64, cpu: 1, memory: "100" }',
    '{ name: b, count: 1, arch: x86_64, cpu: 1, memory: 1Gi, labels: { "-bad": x }, taints: ["a=b:NoSchedule", "a=c:NoSchedule", "nope"] }',
  ];
  const report = failure(inventory({ pools: `[${bad.join(', ')}]` })).format();
  assert.match(report, 'clusters.gpu.node_pools[0].count: must be an integer >= 1 (got 0)');
  assert.match(report, 'clusters.gpu.node_pools[0].cpu: must be a number of CPU cores > 0 (got 0)');
  assert.match(report, 'clusters.gpu.node_pools[0].memory: must be a memory quantity like 32Gi or 512Mi (got "32GB")');
  assert.match(report, 'clusters.gpu.node_pools[0].gpus: must be an integer >= 0 (got -1)');
  assert.match(report, 'clusters.gpu.node_pools[1].arch: must be one of x86_64, aarch64, armv7l (got "arm64")');
  const report2 = failure(
    inventory({
      pools: `[${bad
        .slice(1)
        .map((p) => p.replace('arm64', 'aarch64'))
        .join(', ')}]`,
    }),
  ).format();
  assert.match(report2, 'clusters.gpu.node_pools[1].labels.-bad: invalid key "-bad": must be a Kubernetes label key like example.com/name');
  assert.match(report2, 'clusters.gpu.node_pools[1].taints[2]: must be a taint like key=value:NoSchedule');
  // what the schema cannot say: checked like a host's labels and taints
  const longName = 'x'.repeat(64);
  const pools = [
    '{ name: b, count: 1, arch: aarch64, cpu: 1, memory: "100" }',
    `{ name: b, count: 1, arch: x86_64, cpu: 1, memory: 1Gi, labels: { example.com/${longName}: x }, taints: ["a=b:NoSchedule", "a=c:NoSchedule"] }`,
  ];
  const report3 = failure(inventory({ pools: `[${pools.join(', ')}]` })).format();
  assert.match(report3, 'clusters.gpu.node_pools[0].memory: 100 is less than 1Mi');
  assert.match(report3, 'clusters.gpu.node_pools[1].name: repeats pool name "b" (node_pools[0])');
  assert.match(
    report3,
    `clusters.gpu.node_pools[1].labels["example.com/${longName}"]: label key name "${longName}" must be 1-63 characters`,
  );
  assert.match(report3, 'clusters.gpu.node_pools[1].taints[1]: repeats taint key "a" with effect NoSchedule');
});

test("before hosts are contacted: the context's user has a usable credential, the files it names exist, TLS is verified", () => {
  const check = (file: string) => {
    try {
      checkKubeconfigFiles(load(inventory({ gpu: `kubeconfig: ${file}` })));
      return '';
    } catch (err) {
      if (err instanceof InventoryError) return err.format();
      throw err;
    }
  };
  assert.is(check('gpu.kubeconfig'), '', 'a token');
  assert.is(check('creds/exec.kubeconfig'), '', 'an exec plugin (run at registration)');
  assert.is(check('creds/cert.kubeconfig'), '', 'a client certificate file and key data');
  const cases: Array<[string, string]> = [
    [
      'no-credential.kubeconfig',
      `${FILE}:4:17: clusters.gpu.kubeconfig: kubeconfig ${path.join(dir, 'no-credential.kubeconfig')}, context "lke-gpu-ctx": user "lke-admin" has no credential clusterseed can use (token, tokenFile, client-certificate with client-key, or exec)`,
    ],
    ['auth-provider.kubeconfig', 'user "lke-admin" authenticates with auth-provider, which clusterseed does not support'],
    ['insecure.kubeconfig', 'cluster "lke-gpu" sets insecure-skip-tls-verify; Argo CD would have no CA to verify the API server with'],
    ['creds/token-file.kubeconfig', `tokenFile ${path.join(dir, 'creds/missing-token')} cannot be read (ENOENT)`],
    ['no-user.kubeconfig', 'names user "somebody", which is not in its users: list'],
  ];
  for (const [file, expected] of cases) {
    const report = check(file);
    assert.match(report, expected, `${file}:\n${report}`);
    assert.not.match(report, SECRET);
  }
});

test('preflight refuses an unusable kubeconfig when hosts will be contacted, not when they will not', async () => {
  const file = path.join(dir, 'preflight.yaml');
  writeFileSync(file, inventory({ gpu: 'kubeconfig: no-credential.kubeconfig' }).join('\n'));
  const input = {
    inventoryFile: file,
    roles: [],
    acceptNewHostKeys: false,
    defaultKnownHosts: path.join(dir, 'known_hosts'),
    env: { SSH_AUTH_SOCK: path.join(dir, 'agent') },
  };
  await preflight({ ...input, connect: false });
  try {
    await preflight({ ...input, connect: true });
    assert.unreachable('preflight passed');
  } catch (err) {
    assert.instance(err, InventoryError);
    assert.match(
      (err as InventoryError).format(),
      `${file}:4:17: clusters.gpu.kubeconfig: kubeconfig ${path.join(dir, 'no-credential.kubeconfig')}, context "lke-gpu-ctx": user "lke-admin" has no credential`,
    );
  }
});

test.run();
