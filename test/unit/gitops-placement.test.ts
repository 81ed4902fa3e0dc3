import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { buildModel, renderRepoWithSecrets } from '../../lib/gitops/index.ts';
import { discriminatingSelector, nodeModel, parseTaint, placementFor, type NodeModel } from '../../lib/gitops/placement.ts';
import { clusterCapacity, quotaFor } from '../../lib/gitops/quota.ts';
import { everything, homelab, host } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

const state = tempDir('gitops-placement');

interface Scheduling {
  nodeSelector?: Record<string, string>;
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: { matchExpressions: { key: string; values: string[] }[] }[] };
    };
  };
}

/** the nodes of the model a rendered pod spec / chart values section can be scheduled on */
function nodesFor(s: Scheduling, nodes: NodeModel[]): string[] {
  const hostnames = s.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0].matchExpressions.find(
    (e) => e.key === 'kubernetes.io/hostname',
  )?.values;
  return nodes
    .filter((n) => Object.entries(s.nodeSelector ?? {}).every(([k, v]) => n.labels[k] === v))
    .filter((n) => !hostnames || hostnames.includes(n.name))
    .map((n) => n.name)
    .sort();
}

test('homelab: demo model and serving on the arm64 Pis; MLflow, PostgreSQL, MinIO on the desktop server', async () => {
  const inv = homelab();
  const { files, model } = await renderRepoWithSecrets(inv, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS });
  const nodes = model.clusters[0].nodes;
  const arm64 = nodes.filter((n) => n.arch === 'arm64').map((n) => n.name);
  assert.equal(arm64, ['pi-1', 'pi-2']);

  // the demo model: the kustomize overlay patches placement into the Deployment
  const overlay = parse(files.get('clusters/homelab/iris-classifier/kustomization.yaml')!);
  const deployPatch = parse(overlay.patches.find((p: { target: { kind: string } }) => p.target.kind === 'Deployment').patch);
  const demo = deployPatch.spec.template.spec as Scheduling;
  assert.is(demo.nodeSelector!['kubernetes.io/arch'], 'arm64');
  assert.equal(nodesFor(demo, nodes), arm64);

  // model serving: the KServe controller
  const kserve = parse(files.get('clusters/homelab/kserve/values.yaml')!).kserve.controller as Scheduling;
  assert.is(kserve.nodeSelector!['kubernetes.io/arch'], 'arm64');
  assert.equal(nodesFor(kserve, nodes), arm64);

  // stateful and control services: the inventory's stateful label singles out the desktop
  const mlflow = parse(files.get('clusters/homelab/mlflow/values.yaml')!) as Scheduling;
  // PostgreSQL: the CloudNativePG operator (chart values) and the database pods (the Cluster's affinity)
  const operator = parse(files.get('clusters/homelab/postgresql/values.yaml')!) as Scheduling;
  const postgres = parse(files.get('clusters/homelab/postgresql/manifests/cluster.yaml')!).spec.affinity as Scheduling;
  const minio = parse(files.get('clusters/homelab/minio/values.yaml')!) as Scheduling;
  for (const [name, s] of [
    ['mlflow', mlflow],
    ['postgresql operator', operator],
    ['postgresql', postgres],
    ['minio', minio],
  ] as const) {
    assert.is(s.nodeSelector!['node-role.clusterseed.io/stateful'], 'true', name);
    assert.equal(nodesFor(s, nodes), ['desktop'], name);
  }
  const argocd = parse(files.get('platform/argocd/values.yaml')!).global as Scheduling;
  assert.equal(nodesFor(argocd, nodes), ['desktop']);
});

test('without inventory labels: arch and the K3s control-plane label, else host names', () => {
  const cluster = [
    nodeModel(host('srv', 'c', { arch: 'x86_64' }), 'server'),
    nodeModel(host('a1', 'c', { arch: 'aarch64' }), 'agent'),
    nodeModel(host('a2', 'c', { arch: 'aarch64' }), 'agent'),
  ];
  assert.equal(placementFor('control', cluster).nodeSelector, {
    'kubernetes.io/arch': 'amd64',
    'node-role.kubernetes.io/control-plane': 'true',
  });
  assert.equal(placementFor('edge', cluster).nodeSelector, { 'kubernetes.io/arch': 'arm64' });
  // an all-arm64 cluster: the agent is singled out by host name, still pinned to arm64
  const pis = [nodeModel(host('p0', 'c', { arch: 'aarch64' }), 'server'), nodeModel(host('p1', 'c', { arch: 'aarch64' }), 'agent')];
  const edge = placementFor('edge', pis);
  assert.equal(edge.hostnames, ['p1']);
  assert.equal(edge.nodeSelector, { 'kubernetes.io/arch': 'arm64' });
  // a single-node cluster runs everything on the server, unconstrained
  const one = [nodeModel(host('solo', 'c', { arch: 'x86_64' }), 'server')];
  assert.equal(placementFor('edge', one).nodes, ['solo']);
  assert.equal(placementFor('edge', one).nodeSelector, {});
});

test('a selector that would also match another node is not used', () => {
  const nodes = [
    nodeModel(host('s', 'c', { labels: { zone: 'a' } }), 'server'),
    nodeModel(host('x', 'c', { labels: { zone: 'a', disk: 'ssd' } }), 'agent'),
    nodeModel(host('y', 'c', { labels: { zone: 'b' } }), 'agent'),
  ];
  // zone=a matches the agent x too; the K3s control-plane label completes the selector
  assert.equal(discriminatingSelector([nodes[0]], nodes), { 'node-role.kubernetes.io/control-plane': 'true', zone: 'a' });
});

test("GPU nodes: the device plugin selects the gpu node and tolerates its taint; the RuntimeClass is K3s' own", async () => {
  const { files, model } = await renderRepoWithSecrets(everything(), { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS });
  const lab = model.clusters.find((c) => c.name === 'lab')!;
  // K3s creates the nvidia RuntimeClass itself: one owner
  assert.not.ok([...files.keys()].some((f) => f.startsWith('clusters/lab/nvidia-device-plugin/manifests/')));
  // per cluster: a built (K3s) cluster uses K3s' RuntimeClass; an adopted one does not assume it (gitops-multicluster.test.ts)
  assert.not.ok('runtimeClassName' in parse(files.get('platform/nvidia-device-plugin/values.yaml')!));
  const values = parse(files.get('clusters/lab/nvidia-device-plugin/values.yaml')!);
  assert.is(values.runtimeClassName, 'nvidia');
  assert.equal(nodesFor(values, lab.nodes), ['gpu-box']);
  assert.equal(values.tolerations, [parseTaint('nvidia.com/gpu=true:NoSchedule')]);
  // a cluster without gpu nodes gets no device plugin placement at all
  assert.equal(
    placementFor(
      'gpu',
      lab.nodes.filter((n) => !n.gpu),
    ).nodes,
    [],
  );
});

test('taints parse into tolerations; bad taints are refused', () => {
  assert.equal(parseTaint('dedicated=edge:NoSchedule'), { key: 'dedicated', operator: 'Equal', value: 'edge', effect: 'NoSchedule' });
  assert.equal(parseTaint('gpu:NoExecute'), { key: 'gpu', operator: 'Exists', effect: 'NoExecute' });
  assert.throws(() => parseTaint('nonsense'), /key=value:Effect/);
});

test('quota: capacity hints or arch defaults, 80% usable, split by weight, limits twice the requests', () => {
  const hosts = [
    host('big', 'c', { arch: 'x86_64', vars: { capacity: { cpu: 8, memory: '32Gi' } } }),
    host('pi', 'c', { arch: 'aarch64' }),
  ];
  const cap = clusterCapacity(hosts);
  assert.equal(cap, { milliCpu: 12000, memoryMi: 32768 + 4096 });
  const q = quotaFor(cap, 1, 4);
  // 12000m * 0.8 / 4 = 2400m; 36864Mi * 0.8 / 4 = 7372.8Mi -> 7360Mi
  assert.equal(q, { requestsCpu: '2400m', requestsMemory: '7360Mi', limitsCpu: '4800m', limitsMemory: '14720Mi', pods: 20 });
  assert.throws(
    () => clusterCapacity([host('bad', 'c', { vars: { capacity: { memory: 'lots' } } })]),
    /host bad vars\.capacity: invalid memory/,
  );
  // a component's floor wins over a small share
  assert.equal(quotaFor(cap, 1, 100, { milliCpu: 1500, memoryMi: 3072 }), {
    requestsCpu: '1500m',
    requestsMemory: '3Gi',
    limitsCpu: '3',
    limitsMemory: '6Gi',
    pods: 20,
  });
  const crowded = buildModel(
    homelab({ 'kube-prometheus-stack': { enabled: true }, jupyterhub: { enabled: true }, loki: { enabled: true } }),
  );
  const monitoring = crowded.clusters[0].namespaces.find((n) => n.name === 'monitoring')!;
  assert.is(monitoring.quota!.requestsMemory, '3Gi');
  // the model sizes every clusterseed namespace, never kube-system
  const model = buildModel(homelab());
  const names = model.clusters[0].namespaces.map((n) => n.name);
  assert.ok(names.includes('mlflow') && !names.includes('kube-system'));
});

test.run();
