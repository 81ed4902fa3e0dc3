// Issue 15: the bring-up analysis and the fixed catalog agree. The shipped inventory and the
// all-components inventory come up (only MinIO's accepted risk is left, as a warning), and each
// model gap closed on the way has its own case that fails without the fix.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { renderRepoWithSecrets } from '../../lib/gitops/index.ts';
import { PRIORITY_CLASSES } from '../../lib/gitops/catalog.ts';
import { analyze, factsFromDir, manifestObjects, type BringupInput, type Finding } from '../../lib/gitops/bringup/index.ts';
import { renderAndAnalyze } from '../../lib/gitops/bringup/pipeline.ts';
import { embeddedEtcdOf, hostPackagesOf, k3sDisableOf } from '../../lib/gitops/bringup/host-side.ts';
import { registeredNodes } from '../../lib/gitops/bringup/node-labels.ts';
import { operatorCreated, serviceOfHost } from '../../lib/gitops/bringup/operators.ts';
import { chartPods, type PodGroup } from '../../lib/gitops/bringup/pods.ts';
import { candidateNodes } from '../../lib/gitops/bringup/scheduling.ts';
import type { ChartFacts } from '../../lib/gitops/bringup/types.ts';
import { loadChartFacts, loadPlainImages, parsePlainImagesFile } from '../../lib/gitops/chart-facts/load.ts';
import { truthy } from '../../lib/gitops/bringup/values.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { bootstrapOfRender } from '../../roles/argocd-bootstrap/index.ts';
import { homelab } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

const state = tempDir('bringup-wire');
const fixtureFacts = factsFromDir(path.resolve('test/fixtures/bringup/facts'));
const SHIPPED = path.resolve('inventory.yaml');
const ALL = path.resolve('test/fixtures/inventory/good/all-components.yaml');

async function rendered(inv: Inventory) {
  return renderRepoWithSecrets(inv, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS });
}

async function findingsOf(
  inv: Inventory,
  over: Partial<BringupInput> = {},
  edit?: (files: Map<string, string>) => void,
): Promise<Finding[]> {
  const { files, model } = await rendered(inv);
  const copy = new Map(files);
  edit?.(copy);
  return analyze({ model, files: copy, facts: fixtureFacts, k3sDisable: k3sDisableOf(inv), hostPackages: hostPackagesOf(inv), ...over })
    .findings;
}

for (const [name, file] of [
  ['the shipped inventory', SHIPPED],
  ['the all-components inventory', ALL],
] as const) {
  test(`${name} comes up: no finding, only MinIO's accepted risk as a warning`, async () => {
    const inv = await loadInventory(file);
    const r = await renderAndAnalyze(inv, {
      stateDir: tempDir('bringup-wire-inv'),
      sealingKeyOptions: TEST_KEY_OPTIONS,
      bootstrap: bootstrapOfRender,
    });
    assert.equal(r.findings, [], JSON.stringify(r.findings, null, 1));
    assert.equal(
      r.warnings.map((w) => `${w.check}:${w.component}`),
      ['maintained:minio'],
    );
    assert.match(r.warnings[0].reason, /accepted by the catalog: .*Component choices/);
  });
}

test('bootstrap read from roles/argocd-bootstrap: its PriorityClasses exist before Argo CD, its HelmChart is handed over to Application argocd', async () => {
  const inv = homelab();
  const { files, model } = await rendered(inv);
  const b = bootstrapOfRender(files, model);
  assert.is(b.helmChartRemains, false);
  assert.is(b.adoptedBy, 'argocd');
  assert.is(b.argocdRelease, 'argocd');
  const pcs = manifestObjects('bootstrap', b.manifests);
  assert.equal(
    pcs.map((o) => `${o.kind}/${o.metadata.name}`),
    PRIORITY_CLASSES.map((p) => `PriorityClass/${p.name}`),
  );
  const { manifests, ...bootstrap } = b;
  const wired = await findingsOf(inv, { bootstrap, bootstrapObjects: manifestObjects('bootstrap', manifests) });
  assert.equal(
    wired.filter((f) => f.check === 'priority-class' || f.check === 'ownership'),
    [],
  );
  // without the role's facts: Argo CD's pods lack their class and the HelmChart stays a second owner
  const unwired = await findingsOf(inv);
  assert.ok(unwired.some((f) => f.check === 'priority-class' && f.component === 'argocd' && /bootstrap/.test(f.phase)));
  assert.ok(unwired.some((f) => f.check === 'ownership'));
  // handed over to "argocd" only: another Application installing the same release still owns it twice
  const other = await findingsOf(inv, { bootstrap, bootstrapObjects: manifestObjects('bootstrap', manifests) }, (fs) => {
    fs.set('bootstrap/argocd.yaml', fs.get('bootstrap/argocd.yaml')!.replace(/^( {2}name:) argocd$/m, '$1 argocd-copy'));
  });
  assert.equal(
    other.filter((f) => f.check === 'ownership').map((f) => f.object),
    ['Application argocd/argocd-copy (bootstrap/argocd.yaml)'],
  );
});

const group = (nodeSelector: Record<string, string>): PodGroup =>
  ({
    component: 'x',
    object: 'DaemonSet x/x',
    kind: 'DaemonSet',
    namespace: 'x',
    replicas: 1,
    surge: 0,
    perNode: true,
    containers: [],
    priorityField: '',
    nodeSelector,
    tolerations: [],
    schedulingField: 'nodeSelector',
    hostPrerequisites: [],
    refs: [],
  }) as PodGroup;

test('registered nodes carry the kubelet and K3s labels: os, arch, hostname, control-plane/master, etcd with embedded etcd', async () => {
  const inv = homelab();
  const { model } = await rendered(inv);
  const cluster = model.clusters[0];
  const single = registeredNodes(cluster, false);
  const desktop = single.find((n) => n.name === 'desktop')!;
  const pi = single.find((n) => n.name === 'pi-1')!;
  assert.equal(
    {
      os: desktop.labels['kubernetes.io/os'],
      arch: desktop.labels['kubernetes.io/arch'],
      host: desktop.labels['kubernetes.io/hostname'],
      cp: desktop.labels['node-role.kubernetes.io/control-plane'],
      master: desktop.labels['node-role.kubernetes.io/master'],
      etcd: desktop.labels['node-role.kubernetes.io/etcd'],
    },
    { os: 'linux', arch: 'amd64', host: 'desktop', cp: 'true', master: 'true', etcd: undefined },
  );
  assert.is(pi.labels['kubernetes.io/arch'], 'arm64');
  assert.is(pi.labels['node-role.kubernetes.io/master'], undefined);
  assert.is(registeredNodes(cluster, true).find((n) => n.name === 'desktop')!.labels['node-role.kubernetes.io/etcd'], 'true');
  // node-exporter's selector: every node once registered, none in the placement model alone
  assert.is(candidateNodes(group({ 'kubernetes.io/os': 'linux' }), single).nodes.length, cluster.nodes.length);
  assert.is(candidateNodes(group({ 'kubernetes.io/os': 'linux' }), cluster.nodes).nodes.length, 0);
  assert.equal(
    candidateNodes(group({ 'node-role.kubernetes.io/master': 'true' }), single).nodes.map((n) => n.name),
    ['desktop'],
  );
  assert.equal(embeddedEtcdOf(inv), { homelab: false });
});

test('host packages: what roles/platform-prereq installs counts (Longhorn: open-iscsi, nfs-common); K3s disables servicelb with MetalLB', async () => {
  const all = await loadInventory(ALL);
  const pkgs = hostPackagesOf(all);
  for (const h of ['desktop', 'pi-1', 'gpu-box']) {
    assert.ok(pkgs(h).includes('open-iscsi'), h);
    assert.ok(pkgs(h).includes('nfs-common'), h);
  }
  assert.ok(pkgs('gpu-box').includes('nvidia-container-toolkit'));
  assert.not.ok(pkgs('pi-1').includes('nvidia-container-toolkit'));
  assert.equal(k3sDisableOf(all), { allin: ['servicelb'] });
  const shipped = await loadInventory(SHIPPED);
  for (const h of shipped.hosts) assert.not.ok(hostPackagesOf(shipped)(h.name).includes('open-iscsi'), h.name);
  assert.equal(k3sDisableOf(shipped), { homelab: [] });
});

test('Services: in-cluster host names are name + namespace; CloudNativePG Clusters create <name>-rw/-ro/-r', () => {
  assert.equal(serviceOfHost('postgresql-rw.postgresql.svc.cluster.local', 'mlflow'), { name: 'postgresql-rw', namespace: 'postgresql' });
  assert.equal(serviceOfHost('minio.minio.svc:9000', 'mlflow'), { name: 'minio', namespace: 'minio' });
  assert.equal(serviceOfHost('minio', 'mlflow'), { name: 'minio', namespace: 'mlflow' });
  assert.is(serviceOfHost('db.example.com', 'mlflow'), undefined);
  const cluster = { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'pg' }, spec: {} } as never;
  assert.equal(
    operatorCreated(cluster).map((o) => o.name),
    ['pg-rw', 'pg-ro', 'pg-r'],
  );
  const onlyRw = {
    apiVersion: 'postgresql.cnpg.io/v1',
    kind: 'Cluster',
    metadata: { name: 'pg' },
    spec: { managed: { services: { disabledDefaultServices: ['ro', 'r'] } } },
  } as never;
  assert.equal(
    operatorCreated(onlyRw).map((o) => o.name),
    ['pg-rw'],
  );
  assert.equal(operatorCreated({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'pg' } } as never), []);
});

test('a CRD a chart uses is found among the installed CRDs (kserve after cert-manager)', async () => {
  const inv = await loadInventory(ALL);
  const r = await renderAndAnalyze(inv, {
    stateDir: tempDir('bringup-wire-crd'),
    sealingKeyOptions: TEST_KEY_OPTIONS,
    bootstrap: bootstrapOfRender,
  });
  assert.equal(
    r.findings.filter((f) => f.component === 'kserve'),
    [],
  );
  // and a CRD nobody installs is still reported
  const { files, model } = await rendered(inv);
  const facts = factsFromDir();
  const kserveFacts = facts('kserve', 'v0.14.1')!;
  const lookup = Object.assign(
    (c: string, v: string) =>
      c === 'kserve'
        ? {
            ...kserveFacts,
            uses: [...(kserveFacts.uses ?? []), { kind: 'CustomResourceDefinition', name: { default: 'widgets.example.io' } }],
          }
        : facts(c, v),
    { plainImages: facts.plainImages },
  );
  const res = analyze({ model, files, facts: lookup, k3sDisable: k3sDisableOf(inv), hostPackages: hostPackagesOf(inv) }).findings;
  assert.equal(
    res.filter((f) => f.check === 'reference').map((f) => f.reason),
    ['CustomResourceDefinition widgets.example.io does not exist when this wave syncs (nothing earlier or in the same wave creates it)'],
  );
});

test('facts resourcesFrom: resources built from scalar values (KubeSpawner), byte suffixes powers of 1024', () => {
  const facts = {
    chart: 'hub',
    version: '1',
    maintained: true,
    values: { keys: [] },
    workloads: [
      {
        kind: 'Pod',
        name: 'jupyter-{username}',
        containers: [
          {
            name: 'notebook',
            image: { ref: 'x/y:1' },
            resources: { default: {} },
            resourcesFrom: {
              'requests.memory': { path: 'su.memory.guarantee', default: '1G' },
              'limits.memory': { path: 'su.memory.limit' },
              'requests.cpu': { path: 'su.cpu.guarantee' },
              byteSuffixes: 'binary',
            },
          },
        ],
      },
    ],
  } as unknown as ChartFacts;
  const res = (values: Record<string, unknown>) => chartPods('hub', 'hub', facts, 'hub', values)[0].containers[0].resources;
  assert.equal(res({ su: { memory: { guarantee: '512M', limit: '2G' }, cpu: { guarantee: 0.25 } } }), {
    requests: { memory: '512Mi', cpu: 0.25 },
    limits: { memory: '2Gi' },
  });
  assert.equal(res({}), { requests: { memory: '1Gi' }, limits: {} });
});

test('images outside charts: plain-images.yaml is valid, names where it was read, and the analysis knows its images', async () => {
  const images = loadPlainImages();
  assert.equal(images.map((i) => i.ref).sort(), ['docker.io/library/python:3.12-slim', 'docker.io/library/redis:8.10.1-alpine']);
  for (const i of images) assert.match(i.platformsFrom, /docker-library\/official-images .* commit [0-9a-f]{40}/);
  assert.throws(
    () => parsePlainImagesFile('plain-images.yaml', 'images:\n  - ref: docker.io/library/python:3.12-slim\n    platforms: [linux/amd64]\n'),
    /plain-images\.yaml:2:5: images\.0: missing field "platformsFrom"/,
  );
  // a directory without the file knows none of them: the image is a facts finding
  const inv = homelab({ 'iris-classifier': { enabled: true } });
  const without = await findingsOf(inv);
  assert.ok(without.some((f) => f.check === 'facts' && /python:3\.12-slim is in no facts file/.test(f.reason)));
  const withImages = Object.assign((c: string, v: string) => fixtureFacts(c, v), { plainImages: () => images });
  const known = await findingsOf(inv, { facts: withImages });
  assert.not.ok(known.some((f) => /python:3\.12-slim/.test(f.reason)));
});

test('unmaintained: accepted by the catalog (MinIO) is a warning; any other unmaintained source an error', async () => {
  const inv = homelab({ minio: { enabled: true }, 'cert-manager': { enabled: true, issuer: 'selfsigned' } });
  const archived = Object.assign((c: string, v: string) => {
    const f = fixtureFacts(c, v);
    return c === 'cert-manager' && f ? { ...f, maintained: 'archived upstream' as const } : f;
  });
  const fs = (await findingsOf(inv, { facts: archived })).filter((f) => f.check === 'maintained');
  const minio = fs.find((f) => f.component === 'minio');
  const cm = fs.find((f) => f.component === 'cert-manager');
  assert.is(minio?.severity, 'warning');
  assert.is(cm?.severity, undefined);
  assert.match(cm!.reason, /source is not maintained: archived upstream$/);
});

test('facts values.defaults (schema-validated): a `when:` on a path the values do not set reads the chart default', () => {
  const mlflow = loadChartFacts('mlflow', '1.11.5');
  assert.is(mlflow.values.defaults?.['backendStore.postgres.enabled'], false);
  // mlflow uses the Service named by backendStore.postgres.host only when postgres is enabled
  assert.not.ok(truthy({}, 'backendStore.postgres.enabled', mlflow.values.defaults));
  assert.ok(truthy({ backendStore: { postgres: { enabled: true } } }, 'backendStore.postgres.enabled', mlflow.values.defaults));
  const kserve = loadChartFacts('kserve', 'v0.14.1');
  assert.ok(truthy({}, 'kserve.modelmesh.enabled', kserve.values.defaults));
  assert.not.ok(truthy({ kserve: { modelmesh: { enabled: false } } }, 'kserve.modelmesh.enabled', kserve.values.defaults));
});

test.run();
