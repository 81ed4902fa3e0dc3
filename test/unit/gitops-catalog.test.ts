// The catalog's choices (issue 15): maintained upstreams, one owner per object, the values the
// pinned charts really read. Rendered from the all-components inventory (every component on an
// x86 + arm64 + GPU cluster) and from the shipped inventory.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { loadInventory } from '../../lib/inventory/load.ts';
import { renderRepoWithSecrets } from '../../lib/gitops/index.ts';
import { CATALOG } from '../../lib/gitops/catalog.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

const state = tempDir('gitops-catalog');
const ALL = path.resolve('test/fixtures/inventory/good/all-components.yaml');
const docs = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS())
    .filter(Boolean);

let cached: Map<string, string> | undefined;
async function all(): Promise<Map<string, string>> {
  cached ??= (await renderRepoWithSecrets(await loadInventory(ALL), { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS })).files;
  return cached;
}
const objects = (files: Map<string, string>) =>
  [...files].flatMap(([f, t]) => (/\.ya?ml$/.test(f) ? docs(t).map((o) => ({ file: f, o })) : []));

test('all-components inventory: loads, enables every catalog component, renders valid', async () => {
  const files = await all();
  for (const c of CATALOG) assert.ok(files.has(`clusters/allin/apps/${c.name}.yaml`), c.name);
});

test('no Bitnami chart or image, no deprecated Promtail; pins found upstream', async () => {
  const files = await all();
  const apps = [...files].filter(([f]) => f.startsWith('clusters/allin/apps/')).map(([, t]) => parse(t));
  const charts = apps.flatMap((a) => (a.spec.sources ?? []).filter((s: { chart?: string }) => s.chart));
  for (const s of charts) assert.not.match(s.repoURL, /bitnami\.com\/bitnami|charts\.bitnami/, s.chart);
  assert.not.ok(charts.some((s) => s.chart === 'promtail'));
  const pin = (chart: string) => charts.find((s) => s.chart === chart)?.targetRevision;
  assert.equal(['kube-prometheus-stack', 'mlflow', 'cloudnative-pg', 'alloy'].map(pin), ['88.5.3', '1.11.5', '0.29.0', '1.11.1']);
  for (const [f, t] of files) assert.not.match(t, /docker\.io\/bitnami\/|image: bitnami\//, f);
});

test('PostgreSQL: a CloudNativePG Cluster whose initdb owner Secret is sealed basic-auth, and MLflow reaches its rw Service', async () => {
  const files = await all();
  const cluster = docs(files.get('clusters/allin/postgresql/manifests/cluster.yaml')!)[0];
  assert.is(cluster.apiVersion, 'postgresql.cnpg.io/v1');
  assert.is(cluster.kind, 'Cluster');
  // the operator's CRD comes in the same sync: no dry run against a missing kind
  assert.match(cluster.metadata.annotations['argocd.argoproj.io/sync-options'], /SkipDryRunOnMissingResource=true/);
  const initdb = cluster.spec.bootstrap.initdb;
  assert.equal([initdb.database, initdb.owner], ['mlflow', 'mlflow']);
  const sealed = parse(files.get(`clusters/allin/postgresql/manifests/sealed-${initdb.secret.name}.yaml`)!);
  assert.is(sealed.spec.template.type, 'kubernetes.io/basic-auth');
  assert.is(sealed.metadata.namespace, cluster.metadata.namespace);
  assert.equal(Object.keys(sealed.spec.encryptedData).sort(), ['password', 'username']);
  assert.match(cluster.spec.imageName, /^ghcr\.io\/cloudnative-pg\/postgresql:\d+\.\d+-/);
  assert.is(cluster.spec.storage.storageClass, 'longhorn');
  const mlflow = parse(files.get('platform/mlflow/values.yaml')!);
  assert.is(mlflow.backendStore.postgres.host, `${cluster.metadata.name}-rw.${cluster.metadata.namespace}.svc.cluster.local`);
});

test('Redis: one StatefulSet of the official image; the password never on a command line', async () => {
  const files = await all();
  const objs = docs(files.get('clusters/allin/redis/manifests/redis.yaml')!);
  const sts = objs.find((o) => o.kind === 'StatefulSet');
  assert.ok(objs.some((o) => o.kind === 'Service' && o.metadata.name === 'redis'));
  const c = sts.spec.template.spec.containers[0];
  assert.match(c.image, /^docker\.io\/library\/redis:\d+\.\d+\.\d+-alpine$/);
  const argv = [...(c.command ?? []), ...(c.args ?? [])].join(' ');
  assert.ok(argv.includes('"$REDIS_PASSWORD"') && !argv.includes('--requirepass'), argv);
  assert.is(c.env.find((e: { name: string }) => e.name === 'REDIS_PASSWORD').valueFrom.secretKeyRef.name, 'redis-auth');
  assert.ok(files.has('clusters/allin/redis/manifests/sealed-redis-auth.yaml'));
});

test('one owner: no nvidia RuntimeClass (K3s ships it), no second default StorageClass, Longhorn pre-upgrade Job off', async () => {
  const files = await all();
  assert.not.ok(objects(files).some(({ o }) => o.kind === 'RuntimeClass'));
  const longhorn = parse(files.get('platform/longhorn/values.yaml')!);
  assert.is(longhorn.persistence.defaultClass, false);
  assert.is(longhorn.preUpgradeChecker.jobEnabled, false);
});

test('argo-workflows: no dead useDefaultArtifactRepo; the artifact repository with static credentials', async () => {
  const files = await all();
  const v = parse(files.get('platform/argo-workflows/values.yaml')!);
  assert.not.ok('useDefaultArtifactRepo' in v);
  assert.is(v.useStaticCredentials, true);
  assert.is(v.artifactRepository.s3.accessKeySecret.name, 'argo-artifacts');
});

test('logs: Alloy as a DaemonSet on every node, pushing to the Loki Service', async () => {
  const files = await all();
  const p = parse(files.get('platform/loki/values-alloy.yaml')!);
  const c = parse(files.get('clusters/allin/loki/values-alloy.yaml')!);
  assert.is(p.controller.type, 'daemonset');
  assert.equal(p.controller.tolerations, [{ operator: 'Exists' }]);
  assert.is(p.alloy.mounts.varlog, true);
  assert.match(c.alloy.configMap.content, /url = "http:\/\/loki\.logging\.svc\.cluster\.local:3100\/loki\/api\/v1\/push"/);
  const app = parse(files.get('clusters/allin/apps/loki.yaml')!);
  const alloy = app.spec.sources.find((s: { chart?: string }) => s.chart === 'alloy');
  assert.equal(alloy.helm.valueFiles, ['$values/platform/loki/values-alloy.yaml', '$values/clusters/allin/loki/values-alloy.yaml']);
});

test('MinIO: replaced, not surged, on its ReadWriteOnce volume; its bucket Job placed like the server', async () => {
  const files = await all();
  const p = parse(files.get('platform/minio/values.yaml')!);
  const c = parse(files.get('clusters/allin/minio/values.yaml')!);
  assert.is(p.mode, 'standalone');
  assert.is(p.deploymentUpdate.type, 'Recreate');
  assert.equal(c.postJob.nodeSelector, c.nodeSelector);
  assert.equal(c.postJob.tolerations, c.tolerations);
});

test('the shipped inventory renders with the same catalog', async () => {
  const { files } = await renderRepoWithSecrets(await loadInventory(path.resolve('inventory.yaml')), {
    stateDir: tempDir('gitops-catalog-shipped'),
    sealingKeyOptions: TEST_KEY_OPTIONS,
  });
  assert.ok(files.has('clusters/homelab/postgresql/manifests/cluster.yaml'));
  assert.not.ok([...files.keys()].some((f) => /promtail/.test(f)));
});

test.run();
