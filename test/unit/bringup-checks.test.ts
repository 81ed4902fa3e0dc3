// The bring-up analysis' individual rules, each shown failing and passing on a rendered repo:
// Argo CD's dry run of custom resources, namespaces, scheduling, image architectures,
// references and node capacity.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { renderRepoWithSecrets } from '../../lib/gitops/index.ts';
import { analyze, factsFromDir, type ChartFacts, type FactsLookup, type Finding } from '../../lib/gitops/bringup/index.ts';
import { candidateNodes } from '../../lib/gitops/bringup/scheduling.ts';
import { surgeOf } from '../../lib/gitops/bringup/pods.ts';
import { keyKnown, truthy } from '../../lib/gitops/bringup/values.ts';
import { homelab } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

const state = tempDir('bringup-checks');
const fixtures = factsFromDir(path.resolve('test/fixtures/bringup/facts'));
const base = homelab({
  minio: { enabled: false },
  mlflow: { enabled: false },
  kserve: { enabled: false },
  'iris-classifier': { enabled: false },
  redis: { enabled: true },
});
const renderedBase = renderRepoWithSecrets(base, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS });

async function run(
  edit: (files: Map<string, string>) => void = () => {},
  facts: FactsLookup = fixtures,
  nodeCapacity?: Record<string, { milliCpu: number; memoryMi: number }>,
): Promise<Finding[]> {
  const { files, model } = await renderedBase;
  const copy = new Map(files);
  edit(copy);
  return analyze({ model, files: copy, facts, nodeCapacity }).findings;
}

const replace = (files: Map<string, string>, file: string, from: string | RegExp, to: string) => {
  const text = files.get(file)!;
  const next = text.replace(from, to);
  assert.is.not(next, text, `${file}: ${String(from)} not found`);
  files.set(file, next);
};

const withFacts =
  (chart: string, edit: (f: ChartFacts) => ChartFacts): FactsLookup =>
  (c, v) => {
    const f = fixtures(c, v);
    return f && c === chart ? edit(structuredClone(f)) : f;
  };

test('dry run: a custom resource whose CRD is neither installed nor in the same sync fails the sync; SkipDryRunOnMissingResource lets it through', async () => {
  const issuers = 'clusters/homelab/cert-manager/manifests/issuers.yaml';
  const crdsOff = (files: Map<string, string>) =>
    replace(files, 'platform/cert-manager/values.yaml', /crds:\n {2}enabled: true/, 'crds:\n  enabled: false');
  const unmark = (files: Map<string, string>) =>
    replace(files, issuers, /\n {4}argocd\.argoproj\.io\/sync-options: SkipDryRunOnMissingResource=true/g, '');
  const fs = (await run((files) => (crdsOff(files), unmark(files)))).filter((f) => f.check === 'dry-run');
  assert.ok(fs.length >= 1);
  assert.is(fs[0].component, 'cert-manager');
  assert.is(fs[0].object, `ClusterIssuer selfsigned (${issuers})`);
  assert.is(fs[0].field, 'apiVersion');
  assert.match(
    fs[0].reason,
    /CRD clusterissuers\.cert-manager\.io is not installed before this sync and not part of it: the dry run fails the whole sync/,
  );
  // the CRDs in the same sync (the chart installs them), or the objects marked: no finding
  assert.equal(
    (await run(unmark)).filter((f) => f.check === 'dry-run'),
    [],
  );
  assert.equal(
    (await run(crdsOff)).filter((f) => f.check === 'dry-run'),
    [],
  );
});

test('namespaces: a namespaced object whose namespace nothing creates', async () => {
  const fs = await run((files) =>
    files.set('clusters/homelab/redis/manifests/extra.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: ghost\n'),
  );
  const ns = fs.filter((f) => f.check === 'namespace');
  assert.is(ns.length, 1);
  assert.is(ns[0].object, 'ConfigMap ghost/x (clusters/homelab/redis/manifests/extra.yaml)');
  assert.match(ns[0].reason, /namespace ghost does not exist when this object is applied/);
});

test('scheduling: a nodeSelector no node matches; image architectures of every node the pods may land on', async () => {
  const nowhere = await run((files) =>
    replace(files, 'clusters/homelab/cert-manager/values.yaml', /^nodeSelector: .*$/m, 'nodeSelector: {"disk":"nvme"}'),
  );
  const s = nowhere.find((f) => f.check === 'scheduling');
  assert.ok(s);
  assert.is(s!.object, 'Deployment cert-manager/cert-manager');
  assert.is(s!.field, 'nodeSelector');
  assert.match(s!.reason, /no node can run these pods: desktop: label disk=nvme missing; pi-1: label disk=nvme missing/);
  // amd64-only image on the arm64 pool
  const amd64Only = withFacts('cert-manager', (f) => ({ ...f, images: f.images!.map((i) => ({ ...i, platforms: ['linux/amd64'] })) }));
  const onArm = await run(
    (files) =>
      replace(
        files,
        'clusters/homelab/cert-manager/values.yaml',
        /^nodeSelector: .*$/m,
        'nodeSelector: {"clusterseed.io/arch-pool":"arm"}',
      ),
    amd64Only,
  );
  const a = onArm.filter((f) => f.check === 'image-arch' && f.object === 'Deployment cert-manager/cert-manager');
  assert.is(a.length, 2);
  assert.match(
    a[0].reason,
    /image quay\.io\/jetstack\/cert-manager-controller:v1\.16\.2 is published for linux\/amd64, not linux\/arm64, but the pods may land on pi-1/,
  );
  assert.equal(
    (await run(undefined, amd64Only)).filter((f) => f.check === 'image-arch'),
    [],
    'on the x86 desktop it runs',
  );
});

// redis is the catalog's own StatefulSet now (no chart): its pod spec names the SealedSecret redis-auth
const REDIS = 'clusters/homelab/redis/manifests/redis.yaml';

test('references: a Secret the pods name must exist when the wave syncs', async () => {
  const fs = await run((files) =>
    replace(files, REDIS, /name: redis-auth\n(\s+)key: redis-password/, 'name: redis-pass\n$1key: redis-password'),
  );
  const r = fs.filter((f) => f.check === 'reference');
  assert.is(r.length, 1, JSON.stringify(r, null, 1));
  assert.is(r[0].object, 'StatefulSet redis/redis');
  assert.match(r[0].reason, /Secret redis\/redis-pass does not exist when this wave syncs/);
  assert.equal(
    (await run()).filter((f) => f.check === 'reference'),
    [],
  );
});

test('capacity: a pod larger than every node it may land on (where the inventory gives capacity)', async () => {
  const nodes = {
    desktop: { milliCpu: 4000, memoryMi: 8192 },
    'pi-1': { milliCpu: 4000, memoryMi: 8192 },
    'pi-2': { milliCpu: 4000, memoryMi: 8192 },
  };
  const big = (files: Map<string, string>) =>
    replace(
      files,
      REDIS,
      /requests: \{ cpu: 50m, memory: 128Mi \}\n(\s+)limits: \{ cpu: 500m, memory: 512Mi \}/,
      'requests: { cpu: "6", memory: 1Gi }\n$1limits: { cpu: "6", memory: 1Gi }',
    );
  const fs = await run(big, fixtures, nodes);
  const c = fs.find((f) => f.check === 'capacity');
  assert.ok(
    c,
    JSON.stringify(
      fs.filter((f) => f.check !== 'facts'),
      null,
      1,
    ),
  );
  assert.is(c!.object, 'StatefulSet redis/redis');
  assert.match(c!.reason, /one pod requests 6 CPU \/ 1Gi, more than any node it may land on has \(/);
  assert.not.ok((await run(undefined, fixtures, nodes)).some((f) => f.check === 'capacity'));
});

test('rules: surge rounding, facts `when` defaults, open and passthrough values, taints', () => {
  assert.is(surgeOf('25%', 1), 1);
  assert.is(surgeOf('25%', 6), 2);
  assert.is(surgeOf(0, 3), 0);
  assert.ok(truthy({}, 'a.b', { 'a.b': true }));
  assert.not.ok(truthy({}, 'crds.enabled', { 'crds.enabled': false }));
  assert.not.ok(truthy({ crds: { enabled: false } }, 'crds.enabled', { 'crds.enabled': true }));
  const f = { chart: 'c', version: '1', maintained: true, values: { keys: ['a.b', 'list'], open: ['pod'] } } as ChartFacts;
  assert.ok(keyKnown(f, 'a.b'));
  assert.ok(keyKnown(f, 'pod.any.thing'));
  assert.not.ok(keyKnown(f, 'a.c'));
  assert.ok(keyKnown({ ...f, values: { keys: [], passthrough: true } }, 'whatever'));
  const node = {
    name: 'n',
    role: 'agent' as const,
    groups: [],
    labels: {},
    inventoryLabels: {},
    taints: ['gpu=true:NoSchedule'],
    gpu: true,
  };
  const pod = { nodeSelector: {}, tolerations: [] } as unknown as Parameters<typeof candidateNodes>[0];
  assert.is(candidateNodes(pod, [node]).nodes.length, 0);
  assert.is(
    candidateNodes({ ...pod, tolerations: [{ key: 'gpu', operator: 'Equal', value: 'true', effect: 'NoSchedule' }] }, [node]).nodes.length,
    1,
  );
  assert.is(candidateNodes({ ...pod, tolerations: [{ operator: 'Exists' }] }, [node]).nodes.length, 1);
});

test.run();
