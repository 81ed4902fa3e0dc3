import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { loadInventory } from '../../lib/inventory/load.ts';
import { bootstrapPlan, buildModel, MissingSecretsError, ModelError, renderRepo, renderRepoWithSecrets } from '../../lib/gitops/index.ts';
import { everything, homelab } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';
import { register } from '../fixtures/gitops/multicluster.ts';

const state = tempDir('gitops-render');
const render = (inv: Parameters<typeof renderRepoWithSecrets>[0]) =>
  renderRepoWithSecrets(inv, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS }).then((r) => r.files);

const docs = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS())
    .filter(Boolean);

test('the shipped inventory renders a valid repo, and a second render is byte-identical', async () => {
  const inv = await loadInventory(path.resolve('inventory.yaml'));
  const first = await render(inv);
  const second = await render(await loadInventory(path.resolve('inventory.yaml')));
  assert.ok(first.size > 20);
  assert.equal([...second.keys()], [...first.keys()]);
  for (const [file, content] of first) assert.is(second.get(file), content, file);
  for (const f of [
    'README.md',
    'renovate.json',
    'bootstrap/root.yaml',
    'bootstrap/argocd.yaml',
    'bootstrap/clusters.yaml',
    'platform/argocd/values.yaml',
  ]) {
    assert.ok(first.has(f), f);
  }
  // mlflow pulls in what it requires
  for (const c of ['mlflow', 'postgresql', 'minio']) assert.ok(first.has(`clusters/homelab/apps/${c}.yaml`), c);
});

test('output does not depend on the order of the inventory', async () => {
  const a = homelab({ redis: { enabled: true }, registry: { enabled: true } });
  const b = homelab({ registry: { enabled: true }, redis: { enabled: true } });
  b.hosts.reverse();
  b.clusters[0].components = Object.fromEntries(Object.entries(b.clusters[0].components).reverse());
  const [ra, rb] = [await render(a), await render(b)];
  assert.equal([...rb], [...ra]);
});

test('every component, two clusters: valid, one folder per cluster, remote cluster registered sealed', async () => {
  const registered = tempDir('gitops-render-registered');
  await register(registered, { edge: 'https://edge.example.lan:6443' });
  const files = (await renderRepoWithSecrets(everything(), { stateDir: registered, sealingKeyOptions: TEST_KEY_OPTIONS })).files;
  assert.ok(files.has('clusters/lab/apps/kube-prometheus-stack.yaml'));
  assert.ok(files.has('clusters/edge/apps/iris-classifier.yaml'));
  // in the management cluster's tree, synced after its Sealed Secrets controller (not bootstrap/)
  assert.not.ok(files.has('bootstrap/cluster-edge.yaml'));
  const reg = parse(files.get('clusters/lab/cluster-registrations/cluster-edge.yaml')!);
  assert.is(reg.kind, 'SealedSecret');
  assert.is(reg.spec.template.metadata.labels['argocd.argoproj.io/secret-type'], 'cluster');
  assert.equal(Object.keys(reg.spec.encryptedData).sort(), ['config', 'name', 'server']);
  const edgeApp = parse(files.get('clusters/edge/apps/kserve.yaml')!);
  assert.is(edgeApp.spec.destination.server, 'https://edge.example.lan:6443');
  const labApp = parse(files.get('clusters/lab/apps/kserve.yaml')!);
  assert.is(labApp.spec.destination.server, 'https://kubernetes.default.svc');
  // the management cluster has no registration of itself
  assert.not.ok([...files.keys()].some((f) => f.endsWith('/cluster-lab.yaml')));
  const projects = docs(files.get('bootstrap/projects.yaml')!);
  const servers = projects[0].spec.destinations.map((d: { server: string }) => d.server).sort();
  assert.equal(servers, ['https://edge.example.lan:6443', 'https://kubernetes.default.svc']);
});

test('Applications: waves in tier order, automated prune/selfHeal, retry, CreateNamespace, SSA for big CRDs', async () => {
  const files = await render(everything());
  const order = ['governance', 'infrastructure', 'data', 'ml-platform', 'monitoring', 'apps'];
  for (const [file, text] of files) {
    // the registrations Application is no catalog component (gitops-multicluster.test.ts)
    if (!/^clusters\/[^/]+\/apps\//.test(file) || file.endsWith('/cluster-registrations.yaml')) continue;
    const app = parse(text);
    const tier = app.metadata.labels['clusterseed.io/tier'];
    assert.is(app.metadata.annotations['argocd.argoproj.io/sync-wave'], String(order.indexOf(tier)), file);
    assert.equal(app.spec.syncPolicy.automated, { prune: true, selfHeal: true }, file);
    assert.ok(app.spec.syncPolicy.retry.limit > 0, file);
    assert.ok(app.spec.syncPolicy.syncOptions.includes('CreateNamespace=true'), file);
    const ssa = app.spec.syncPolicy.syncOptions.includes('ServerSideApply=true');
    assert.is(ssa, /kube-prometheus-stack|kserve|postgresql/.test(file), file);
  }
  const kps = parse(files.get('clusters/lab/apps/kube-prometheus-stack.yaml')!);
  const chart = kps.spec.sources[0];
  assert.equal([chart.chart, chart.repoURL], ['kube-prometheus-stack', 'https://prometheus-community.github.io/helm-charts']);
  assert.match(chart.targetRevision, /^\d+\.\d+\.\d+$/);
  assert.equal(chart.helm.valueFiles, [
    '$values/platform/kube-prometheus-stack/values.yaml',
    '$values/clusters/lab/kube-prometheus-stack/values.yaml',
  ]);
  assert.equal(kps.spec.sources[1].ref, 'values');
  // inventory `values:` land in their own file, applied last
  const mlflow = parse(files.get('clusters/lab/apps/mlflow.yaml')!);
  assert.is(mlflow.spec.sources[0].helm.valueFiles.at(-1), '$values/clusters/lab/mlflow/values-inventory.yaml');
  assert.equal(parse(files.get('clusters/lab/mlflow/values-inventory.yaml')!), { replicaCount: 2 });
});

test('Argo CD: Application health check in argocd-cm, ApplicationSet git generator with escaped go templates', async () => {
  const files = await render(homelab());
  const values = parse(files.get('platform/argocd/values.yaml')!);
  const lua = values.configs.cm['resource.customizations.health.argoproj.io_Application'];
  assert.match(lua, /obj\.status\.health\.status/);
  const appset = parse(files.get('bootstrap/clusters.yaml')!);
  assert.is(appset.kind, 'ApplicationSet');
  assert.equal(appset.spec.generators[0].git.directories, [{ path: 'clusters/*' }]);
  assert.is(appset.spec.template.metadata.name, '{{.path.basename}}-root');
  assert.is(appset.spec.template.spec.source.path, '{{.path.path}}/apps');
  const root = parse(files.get('bootstrap/root.yaml')!);
  assert.is(root.spec.source.path, 'bootstrap');
  assert.is(root.spec.source.repoURL, 'git@github.com:homelab/gitops.git');
});

test('bootstrap plan points at files the render produced', async () => {
  const inv = everything();
  const files = await render(inv);
  const plan = bootstrapPlan(buildModel(inv), state);
  assert.ok(files.has(plan.rootApplication) && files.has(plan.argocd.valuesFile));
  const app = parse(files.get('bootstrap/argocd.yaml')!);
  assert.equal([app.spec.sources[0].chart, app.spec.sources[0].targetRevision], [plan.argocd.chart.chart, plan.argocd.chart.version]);
  assert.equal(
    plan.sealingKeys.map((k) => k.cluster),
    ['lab', 'edge'],
  );
  assert.equal(
    plan.clusterAccess.map((a) => [a.cluster, a.server]),
    [['edge', 'https://edge.example.lan:6443']],
  );
  assert.equal(plan.unregistered, ['edge']);
  assert.equal(
    plan.sealingKeyInstalls.map((k) => [k.cluster, k.built]),
    [
      ['lab', true],
      ['edge', true],
    ],
  );
});

test('governance: PriorityClasses on the clusters without Argo CD, and a quota + LimitRange per namespace', async () => {
  const all = await render(everything());
  // the management cluster's PriorityClasses come from the bootstrap (before Argo CD): one owner
  assert.not.ok([...all].some(([f, text]) => f.startsWith('clusters/lab/') && /kind: PriorityClass/.test(text)));
  assert.not.ok([...all.keys()].some((f) => f.startsWith('platform/governance/')));
  const pcs = docs(all.get('clusters/edge/governance/manifests/priority-classes.yaml')!);
  assert.equal(
    pcs.map((p) => [p.metadata.name, p.value]),
    [
      ['infrastructure-critical', 1000],
      ['data-services', 900],
      ['ml-platform', 800],
      ['monitoring', 700],
      ['low-priority', 100],
    ],
  );
  const files = await render(homelab());
  const ns = docs(files.get('clusters/homelab/governance/manifests/namespaces.yaml')!);
  const quotas = ns.filter((d) => d.kind === 'ResourceQuota');
  const limitRanges = ns.filter((d) => d.kind === 'LimitRange');
  assert.ok(quotas.length >= 5);
  assert.is(limitRanges.length, quotas.length);
  assert.not.ok(ns.some((d) => d.metadata.name === 'kube-system' || d.metadata.namespace === 'kube-system'));
  const mlflow = quotas.find((q) => q.metadata.namespace === 'mlflow');
  assert.ok(mlflow.spec.hard['requests.cpu'] && mlflow.spec.hard['limits.memory']);
});

test('renovate.json parses and covers Argo CD sources, values files and kustomize', async () => {
  const files = await render(homelab());
  const cfg = JSON.parse(files.get('renovate.json')!);
  assert.ok(cfg.argocd.managerFilePatterns.length > 0);
  assert.ok(cfg['helm-values'].managerFilePatterns.length > 0);
  assert.is(cfg.customManagers[0].customType, 'regex');
  // OCI charts carry a renovate comment the regex manager reads
  const kserve = files.get('clusters/homelab/apps/kserve.yaml')!;
  assert.match(kserve, /# renovate: datasource=docker depName=ghcr\.io\/kserve\/charts\/kserve\n\s+targetRevision: v/);
  const readme = files.get('README.md')!;
  for (const s of ['bootstrap/', 'clusters/<name>/', 'platform/<component>/', 'apps/', 'ResourceQuota']) assert.ok(readme.includes(s), s);
});

test('secrets never render in plaintext: without sealed secrets the render refuses', () => {
  assert.throws(
    () => renderRepo(homelab()),
    (e: unknown) => e instanceof MissingSecretsError && /homelab:minio\/minio-root/.test((e as Error).message),
  );
});

test('model errors name the cluster and the inventory field', () => {
  const unknown = homelab({ grafana: { enabled: true } });
  assert.throws(
    () => buildModel(unknown),
    (e: unknown) => e instanceof ModelError && /unknown component "grafana"/.test((e as Error).message),
  );
  const metallb = homelab({ metallb: { enabled: true } });
  assert.throws(() => buildModel(metallb), /components\.metallb\.addresses/);
  const off = homelab({ postgresql: { enabled: false } });
  assert.throws(() => buildModel(off), /mlflow requires postgresql, which gitops\.components\.postgresql\.enabled turns off/);
  const acme = homelab({ 'cert-manager': { enabled: true, issuer: 'acme' } });
  assert.throws(() => buildModel(acme), /acmeEmail is required/);
});

test.run();
