// Several clusters (issue 17): the management cluster, a built edge cluster at another site and an
// adopted GPU cluster. What the generated repository must do so that every cluster really
// receives its platform: registrations after the management cluster's Sealed Secrets controller
// (not in bootstrap/, whose sync runs before any CRD but Argo CD's), cluster Secrets only from
// recorded access (no placeholder token), each cluster's SealedSecrets sealed for its own key,
// adopted clusters placed by their node pools.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { writeClusterAccess } from '../../lib/clusters/access.ts';
import { bootstrapPlan, buildModel, ModelError, sealingKeyInstalls, validateTree } from '../../lib/gitops/index.ts';
import { renderAndAnalyze, type AnalyzedRender } from '../../lib/gitops/bringup/pipeline.ts';
import { analyze, bringupInputOf, factsFromDir, formatFindings, manifestObjects, type Finding } from '../../lib/gitops/bringup/index.ts';
import { unsealSecret, type SealedSecret } from '../../lib/gitops/sealed-secrets.ts';
import { scanFiles } from '../../cli/gitops.ts';
import { bootstrapOfRender } from '../../roles/argocd-bootstrap/index.ts';
import { GPU_SERVER, mgmtAndGpu, mgmtEdgeGpu, register } from '../fixtures/gitops/multicluster.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';
import type { Inventory } from '../../lib/inventory/model.ts';

const EDGE_SERVER = 'https://10.77.0.2:6443';
const facts = factsFromDir();
const renderIn = (inv: Inventory, stateDir: string) =>
  renderAndAnalyze(inv, { stateDir, sealingKeyOptions: TEST_KEY_OPTIONS, bootstrap: bootstrapOfRender });
const key = (stateDir: string, cluster: string) => readFileSync(path.join(stateDir, cluster, 'sealing', 'sealed-secrets.key'), 'utf8');
const sealedIn = (files: Map<string, string>, file: string) => parse(files.get(file)!.replace(/^#.*\n/, '')) as SealedSecret;

/** the analysis of `files` as site.mjs runs it (bootstrap read from the role) */
function analyzeFiles(
  inv: Inventory,
  r: AnalyzedRender,
  files: Map<string, string>,
  over: Partial<Parameters<typeof analyze>[0]> = {},
): Finding[] {
  const { manifests, ...bootstrap } = bootstrapOfRender(files, r.model);
  const input = {
    ...bringupInputOf(inv, r.model, files, facts),
    bootstrap,
    bootstrapObjects: manifestObjects('bootstrap (K3s manifests directory)', manifests),
    ...over,
  };
  return analyze(input).findings.filter((f) => f.severity !== 'warning');
}

// rendered once for (b), registered: most tests read this
const stateB = tempDir('gitops-mc-b');
let b: AnalyzedRender;
let accessB: Awaited<ReturnType<typeof register>>;
test.before(async () => {
  accessB = await register(stateB, { edge: EDGE_SERVER, gpu: GPU_SERVER });
  b = await renderIn(mgmtEdgeGpu(), stateB);
});

test('acceptance (a): management + adopted GPU cluster: analysis and offline validation pass, no placeholder', async () => {
  const state = tempDir('gitops-mc-a');
  const access = await register(state, { gpu: GPU_SERVER });
  const r = await renderIn(mgmtAndGpu(), state);
  assert.equal(r.findings, [], formatFindings(r.findings));
  assert.equal(validateTree(r.files), []);
  assert.equal(scanFiles(r.files), []);
  assert.equal(r.unregistered, []);
  for (const [file, text] of r.files) {
    assert.not.match(text, /pending-registration|placeholder/i, file);
    assert.not.ok(text.includes(access.gpu.bearerToken), `${file} holds the token in clear`);
  }
  const reg = unsealSecret(sealedIn(r.files, 'clusters/mgmt/cluster-registrations/cluster-gpu.yaml'), key(state, 'mgmt'));
  assert.equal(JSON.parse(reg.config), {
    bearerToken: access.gpu.bearerToken,
    tlsClientConfig: { insecure: false, caData: access.gpu.caData },
  });
  assert.equal([reg.name, reg.server], ['gpu', GPU_SERVER]);
});

test("acceptance (b): management + built edge + adopted GPU: passes; each cluster's SealedSecrets open only with its own key", async () => {
  assert.equal(b.findings, [], formatFindings(b.findings));
  assert.equal(validateTree(b.files), []);
  assert.equal(scanFiles(b.files), []);
  for (const [file, text] of b.files) {
    assert.not.match(text, /pending-registration|placeholder/i, file);
    for (const a of Object.values(accessB)) assert.not.ok(text.includes(a.bearerToken), `${file} holds a token in clear`);
  }
  const creds = (c: string) => JSON.parse(readFileSync(path.join(stateB, c, 'credentials.json'), 'utf8'));
  for (const c of ['edge', 'gpu']) {
    const sealed = sealedIn(b.files, `clusters/${c}/redis/manifests/sealed-redis-auth.yaml`);
    assert.equal(unsealSecret(sealed, key(stateB, c)), { 'redis-password': creds(c).redis.password }, c);
    for (const other of ['mgmt', 'edge', 'gpu'].filter((x) => x !== c))
      assert.throws(() => unsealSecret(sealed, key(stateB, other)), /cannot decrypt/, `${c} opens with ${other}'s key`);
  }
  for (const [c, server] of [
    ['edge', EDGE_SERVER],
    ['gpu', GPU_SERVER],
  ] as const) {
    const file = `clusters/mgmt/cluster-registrations/cluster-${c}.yaml`;
    const doc = sealedIn(b.files, file);
    assert.is(doc.spec.template.metadata?.labels?.['argocd.argoproj.io/secret-type'], 'cluster');
    const reg = unsealSecret(doc, key(stateB, 'mgmt'));
    assert.equal([reg.name, reg.server], [c, server]);
    assert.equal(JSON.parse(reg.config), {
      bearerToken: accessB[c].bearerToken,
      tlsClientConfig: { insecure: false, caData: accessB[c].caData },
    });
    assert.throws(() => unsealSecret(doc, key(stateB, c)), /cannot decrypt/);
  }
  // the Applications of each cluster go to the server Argo CD registered it under
  assert.is(parse(b.files.get('clusters/edge/apps/redis.yaml')!).spec.destination.server, EDGE_SERVER);
  assert.is(parse(b.files.get('clusters/gpu/apps/redis.yaml')!).spec.destination.server, GPU_SERVER);
});

test('ordering: registrations sync in the management tree a wave after its Sealed Secrets controller; the old bootstrap/ layout fails the analysis', async () => {
  assert.not.ok(
    [...b.files.keys()].some((f) => f.startsWith('bootstrap/cluster-')),
    'no registration in bootstrap/',
  );
  const app = parse(b.files.get('clusters/mgmt/apps/cluster-registrations.yaml')!);
  const controller = parse(b.files.get('clusters/mgmt/apps/sealed-secrets.yaml')!);
  const wave = (a: { metadata: { annotations: Record<string, string> } }) => Number(a.metadata.annotations['argocd.argoproj.io/sync-wave']);
  assert.ok(wave(app) > wave(controller), `registrations in wave ${wave(app)}, controller in ${wave(controller)}`);
  assert.equal(
    [app.spec.source.path, app.spec.destination.server],
    ['clusters/mgmt/cluster-registrations', 'https://kubernetes.default.svc'],
  );
  // the layout before issue 17: the same SealedSecrets synced by the root Application from bootstrap/
  const old = new Map(b.files);
  old.delete('clusters/mgmt/apps/cluster-registrations.yaml');
  for (const c of ['edge', 'gpu']) {
    old.set(`bootstrap/cluster-${c}.yaml`, old.get(`clusters/mgmt/cluster-registrations/cluster-${c}.yaml`)!);
    old.delete(`clusters/mgmt/cluster-registrations/cluster-${c}.yaml`);
  }
  const findings = analyzeFiles(mgmtEdgeGpu(), b, old);
  const dry = findings.filter((f) => f.check === 'dry-run' && /root Application/.test(f.phase));
  assert.equal(dry.map((f) => f.object).sort(), [
    'SealedSecret argocd/cluster-edge (bootstrap/cluster-edge.yaml)',
    'SealedSecret argocd/cluster-gpu (bootstrap/cluster-gpu.yaml)',
  ]);
  assert.match(dry[0].reason, /sealedsecrets\.bitnami\.com .*fails the whole sync/);
  // and the new layout passes the same analysis
  assert.equal(analyzeFiles(mgmtEdgeGpu(), b, b.files), []);
});

test('keys: every cluster with SealedSecrets is listed with its own key dir, where to install it, and runs the controller', async () => {
  const model = b.model;
  assert.equal(sealingKeyInstalls(model, stateB), [
    { cluster: 'mgmt', sealingKeyDir: path.join(stateB, 'mgmt', 'sealing'), management: true, built: true },
    { cluster: 'edge', sealingKeyDir: path.join(stateB, 'edge', 'sealing'), management: false, built: true },
    { cluster: 'gpu', sealingKeyDir: path.join(stateB, 'gpu', 'sealing'), management: false, built: false },
  ]);
  assert.equal(bootstrapPlan(model, stateB).sealingKeyInstalls, sealingKeyInstalls(model, stateB));
  for (const c of model.clusters) assert.ok(c.enabled['sealed-secrets'], c.name);
  // a cluster with SealedSecrets whose controller is turned off: refused with the reason
  const inv = mgmtEdgeGpu();
  inv.clusters[1].components['sealed-secrets'] = { enabled: false };
  assert.throws(
    () => buildModel(inv),
    (e: Error) =>
      e instanceof ModelError &&
      /cluster edge: its repository holds SealedSecrets but gitops\.components\.sealed-secrets\.enabled is false/.test(e.message),
  );
});

test('analysis: a SealedSecret on a cluster without its controller, or without its own key installed, is a finding', async () => {
  const inv = mgmtEdgeGpu();
  const noController = new Map(b.files);
  noController.delete('clusters/gpu/apps/sealed-secrets.yaml');
  const f1 = analyzeFiles(inv, b, noController).filter((f) => f.check === 'sealing');
  assert.equal(
    f1.map((f) => [f.phase.split(':')[0], f.object]),
    [['gpu', 'SealedSecret redis/redis-auth (clusters/gpu/redis/manifests/sealed-redis-auth.yaml)']],
  );
  assert.match(f1[0].reason, /no Sealed Secrets controller is deployed on cluster gpu/);
  const f2 = analyzeFiles(inv, b, b.files, { sealingKeysInstalled: ['mgmt', 'edge'] }).filter((f) => f.check === 'sealing');
  assert.equal(
    f2.map((f) => f.phase.split(':')[0]),
    ['gpu'],
  );
  assert.match(f2[0].reason, /cluster gpu's own Sealed Secrets key is not installed/);
});

test('no placeholder: without recorded access no cluster Secret is rendered and the cluster is listed unregistered; stale access too', async () => {
  const state = tempDir('gitops-mc-unreg');
  const r = await renderIn(mgmtEdgeGpu(), state);
  assert.equal(r.unregistered, ['edge', 'gpu']);
  assert.equal(r.secrets.unregistered, ['edge', 'gpu']);
  assert.not.ok([...r.files.keys()].some((f) => /cluster-registrations|bootstrap\/cluster-/.test(f)));
  for (const [file, text] of r.files) assert.not.match(text, /pending-registration|bearerToken/i, file);
  // the keys are there before registration: whoever installs them needs them now
  assert.equal(
    sealingKeyInstalls(r.model, state).map((k) => k.cluster),
    ['mgmt', 'edge', 'gpu'],
  );
  // edge's access recorded for another address (the host moved): stale, so edge stays unregistered
  await register(state, { edge: 'https://192.168.1.21:6443', gpu: GPU_SERVER });
  const again = await renderIn(mgmtEdgeGpu(), state);
  assert.equal(again.unregistered, ['edge']);
  assert.ok(again.files.has('clusters/mgmt/cluster-registrations/cluster-gpu.yaml'));
  assert.not.ok(again.files.has('clusters/mgmt/cluster-registrations/cluster-edge.yaml'));
  assert.equal(again.findings, [], formatFindings(again.findings));
});

test('no placeholder: a recorded access with a placeholder token is refused before sealing; a plain cluster Secret with one fails validation', async () => {
  const state = tempDir('gitops-mc-placeholder');
  const [good] = Object.values(await register(state, { gpu: GPU_SERVER }));
  await writeClusterAccess(state, 'gpu', { ...good, bearerToken: 'pending-registration' });
  const err = await renderIn(mgmtAndGpu(), state).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.match(
    err?.message ?? 'rendered',
    /gpu\/argocd-access\.json: cluster gpu: the recorded access cannot register it in Argo CD: config\.bearerToken is a placeholder/,
  );
  const secret = (config: unknown) =>
    new Map([
      [
        'x/cluster.yaml',
        `apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-gpu\n  namespace: argocd\n  labels:\n    argocd.argoproj.io/secret-type: cluster\nstringData:\n  name: gpu\n  server: ${GPU_SERVER}\n  config: '${JSON.stringify(config)}'\n`,
      ],
    ]);
  const bad = validateTree(secret({ bearerToken: 'pending-registration', tlsClientConfig: { insecure: false } }));
  assert.equal(
    bad.map((i) => i.field),
    ['stringData.config', 'stringData.config'],
  );
  assert.match(bad[0].message, /placeholder/);
  assert.match(bad[1].message, /caData/);
  assert.equal(validateTree(secret({ bearerToken: good.bearerToken, tlsClientConfig: { insecure: false, caData: good.caData } })), []);
});

test('adopted cluster: nodes from its pools (capacity, labels, taints), GPU components on the GPU pool, server from the access record', async () => {
  const gpu = b.model.clusters.find((c) => c.name === 'gpu')!;
  assert.ok(gpu.adopted);
  assert.equal(
    gpu.nodes.map((n) => n.name),
    ['general-1', 'general-2', 'gpu-1', 'gpu-2'],
  );
  assert.equal(gpu.capacity, { milliCpu: 2 * 4000 + 2 * 8000, memoryMi: 2 * 16384 + 2 * 32768 });
  const plugin = gpu.enabled['nvidia-device-plugin'];
  assert.equal(plugin.placement.nodes, ['gpu-1', 'gpu-2']);
  assert.equal(plugin.scheduling.nodeSelector, { 'lke.linode.com/pool-id': '123', 'nvidia.com/gpu.present': 'true' });
  assert.equal(plugin.scheduling.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' }]);
  // control services on the general pool, not on the tainted GPU nodes
  assert.equal(gpu.enabled['sealed-secrets'].placement.nodes, ['general-1', 'general-2']);
  assert.equal(gpu.enabled['sealed-secrets'].scheduling.tolerations, []);
  // K3s-only: no HelmChartConfig for a Traefik K3s does not run there, no K3s RuntimeClass assumed
  assert.not.ok(gpu.enabled.traefik);
  assert.not.ok(b.files.has('clusters/gpu/apps/traefik.yaml'));
  assert.not.match(b.files.get('clusters/gpu/nvidia-device-plugin/values.yaml')!, /runtimeClassName/);
  assert.match(b.files.get('clusters/mgmt/sealed-secrets/values.yaml') ?? '', /priorityClassName/);
  assert.equal(
    b.model.clusters.find((c) => c.name === 'edge')!.server,
    EDGE_SERVER,
    'a built remote cluster is reached over the site link',
  );
  // the recorded server wins over the inventory's (registration records how Argo CD reaches it)
  const inv = mgmtAndGpu();
  assert.is(buildModel(inv).clusters[1].server, GPU_SERVER);
  assert.is(buildModel(inv, { clusterAccess: { gpu: { server: 'https://10.77.0.9:6443' } } }).clusters[1].server, 'https://10.77.0.9:6443');
  delete inv.clusters[1].adopted!.server;
  assert.throws(() => buildModel(inv), /cluster gpu: no API server URL/);
});

test("analysis of an adopted cluster: none of K3s' objects (an Ingress of class traefik is never served), what the inventory names is the provider's", async () => {
  const inv = mgmtAndGpu();
  inv.clusters[1].components['iris-classifier'] = { enabled: true };
  inv.clusters[1].components['nvidia-device-plugin'] = { enabled: true, runtimeClassName: 'nvidia-gpu' };
  const state = tempDir('gitops-mc-k3sless');
  await register(state, { gpu: GPU_SERVER });
  const r = await renderIn(inv, state);
  assert.match(r.files.get('clusters/gpu/nvidia-device-plugin/values.yaml')!, /runtimeClassName: nvidia-gpu/);
  assert.equal(
    r.findings.map((f) => [f.phase.split(':')[0], f.check, f.field, f.reason]),
    [['gpu', 'reference', 'spec.ingressClassName', 'IngressClass traefik is never created (no component of this cluster creates it)']],
  );
});

test('adopted cluster: clear model errors (first cluster, hosts, K3s-only component, volumes without a StorageClass)', () => {
  const first = mgmtAndGpu();
  first.clusters.reverse();
  assert.throws(() => buildModel(first), /cluster gpu: the first cluster runs Argo CD for all and is built by clusterseed/);
  const traefik = mgmtAndGpu();
  traefik.clusters[1].components.traefik = { enabled: true };
  assert.throws(() => buildModel(traefik), /cluster gpu: component traefik cannot run on an adopted cluster: it is a HelmChartConfig/);
  const noSc = mgmtAndGpu();
  noSc.clusters[1].vars = {};
  assert.throws(
    () => buildModel(noSc),
    /cluster gpu: redis need volumes and an adopted cluster has no K3s local-path: set clusters\.gpu\.vars\.storageClass/,
  );
  const pools = mgmtAndGpu();
  pools.clusters[1].adopted!.nodePools = [];
  assert.throws(() => buildModel(pools), /cluster gpu: adopted cluster without nodes/);
});

test.run();
