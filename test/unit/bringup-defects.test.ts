// Issue 15: every defect found in the generated platform is a failing case of the bring-up
// analysis, with a precise message, and its fixed variant passes that check. Facts come from the
// small fixtures in test/fixtures/bringup/facts/ (see the README there).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { renderRepoWithSecrets } from '../../lib/gitops/index.ts';
import { analyze, factsFromDir, manifestObjects, type BringupInput, type Finding } from '../../lib/gitops/bringup/index.ts';
import { hostPackagesOf, k3sDisableOf } from '../../lib/gitops/bringup/host-side.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { homelab } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

const state = tempDir('bringup-defects');
const facts = factsFromDir(path.resolve('test/fixtures/bringup/facts'));

async function rendered(inv: Inventory) {
  return renderRepoWithSecrets(inv, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS });
}

async function findingsOf(
  inv: Inventory,
  edit?: (files: Map<string, string>) => void,
  over: Partial<BringupInput> = {},
): Promise<Finding[]> {
  const { files, model } = await rendered(inv);
  const copy = new Map(files);
  edit?.(copy);
  return analyze({ model, files: copy, facts, k3sDisable: k3sDisableOf(inv), hostPackages: hostPackagesOf(inv), ...over }).findings;
}

const only = (fs: Finding[], check: Finding['check']) => fs.filter((f) => f.check === check);
const withAllNodes = (inv: Inventory, vars: Record<string, unknown>) => {
  for (const h of inv.hosts) h.vars = { ...h.vars, ...vars };
  return inv;
};

test('1. Argo CD deadlocks at bootstrap: its pods (pre-install hook included) name a PriorityClass only governance creates', async () => {
  const fs = only(await findingsOf(homelab()), 'priority-class').filter((f) => f.component === 'argocd');
  const hook = fs.find((f) => f.object === 'Job argocd/argocd-redis-secret-init');
  assert.ok(hook, JSON.stringify(fs, null, 1));
  assert.match(hook!.phase, /bootstrap/);
  assert.is(hook!.field, 'global.priorityClassName');
  assert.match(
    hook!.reason,
    /PriorityClass infrastructure-critical does not exist when this pod is created: admission rejects it \(Helm hook pre-install\)/,
  );
  assert.ok(fs.some((f) => f.object === 'StatefulSet argocd/argocd-application-controller'));
  // fixed: Argo CD's own pods use a class that exists before Argo CD (or none)
  const fixed = await findingsOf(homelab(), (files) => {
    files.set(
      'platform/argocd/values.yaml',
      files
        .get('platform/argocd/values.yaml')!
        .replace('priorityClassName: infrastructure-critical', 'priorityClassName: system-cluster-critical'),
    );
  });
  assert.equal(
    only(fixed, 'priority-class').filter((f) => f.component === 'argocd'),
    [],
  );
  // fixed the other way: the bootstrap writes the PriorityClasses before Argo CD's HelmChart
  const pcs = 'apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: infrastructure-critical\nvalue: 1000\n';
  const first = await findingsOf(homelab(), undefined, { bootstrapObjects: manifestObjects('bootstrap', pcs) });
  assert.equal(
    only(first, 'priority-class').filter((f) => f.component === 'argocd'),
    [],
  );
});

test('2. gone image, unmaintained source, unknown pin', async () => {
  // the catalog no longer pins Bitnami's redis chart (redis is its own StatefulSet now): the gone
  // image is shown on cert-manager's controller image, marked as gone from its registry
  const gone = (c: string, v: string) => {
    const f = facts(c, v);
    return c === 'cert-manager' && f ? { ...f, images: f.images!.map((i) => ({ ...i, missing: 'deleted from the registry' })) } : f;
  };
  const fs = await findingsOf(homelab({ redis: { enabled: true } }), undefined, { facts: gone });
  const img = fs.find((f) => f.check === 'facts' && f.component === 'cert-manager' && f.field === 'containers.controller.image');
  assert.ok(
    img,
    JSON.stringify(
      fs.filter((f) => f.component === 'cert-manager'),
      null,
      1,
    ),
  );
  assert.is(img!.object, 'Deployment cert-manager/cert-manager');
  assert.match(img!.reason, /quay\.io\/jetstack\/cert-manager-controller:v1\.16\.2 cannot be pulled: deleted from the registry/);
  const unmaintained = fs.find((f) => f.check === 'maintained' && f.component === 'minio');
  assert.ok(unmaintained);
  assert.is(unmaintained!.object, 'chart minio@5.4.0');
  assert.match(unmaintained!.reason, /no longer maintained/);
  // the catalog accepts MinIO with a reason: a warning, not an error
  assert.is(unmaintained!.severity, 'warning');
  const unknown = fs.find((f) => f.check === 'facts' && f.object === 'chart cloudnative-pg@0.29.0');
  assert.ok(unknown);
  assert.is(unknown!.field, 'targetRevision');
  assert.match(
    unknown!.reason,
    /no facts file lib\/gitops\/chart-facts\/cloudnative-pg@0\.29\.0\.yaml: this pin was not read from upstream/,
  );
  // fixed: a pin whose facts exist and whose images are published gives none of these
  const inv = homelab({
    minio: { enabled: false },
    mlflow: { enabled: false },
    kserve: { enabled: false },
    'iris-classifier': { enabled: false },
  });
  const clean = await findingsOf(inv);
  assert.equal(
    clean.filter((f) => f.check === 'facts' || f.check === 'maintained'),
    [],
  );
});

test('3a. quota: Helm hooks, rollout surges and containers without resources (LimitRange defaults) count: cert-manager', async () => {
  const fs = only(await findingsOf(homelab()), 'quota').filter((f) => f.object.startsWith('ResourceQuota cert-manager/'));
  const limits = fs.find((f) => f.field === 'spec.hard.limits.cpu');
  assert.ok(limits, JSON.stringify(fs, null, 1));
  // controller 500m, webhook 250m, cainjector 250m: each Deployment 1 replica + 1 surge pod (25% of 1
  // rounds up), plus the post-install startupapicheck Job with the LimitRange default limit 250m
  assert.match(limits!.reason, /^2250m needed at the peak of a rollout .* > quota \S+: the last pods are rejected/);
  assert.match(limits!.reason, /Deployment cert-manager\/cert-manager 2x500m/);
  assert.match(limits!.reason, /Job cert-manager\/cert-manager-startupapicheck \[hook\] 1x250m/);
});

test('3b. quota: DaemonSet pods x matching nodes, FRR sidecars without resources: MetalLB', async () => {
  const inv = homelab({ metallb: { enabled: true, addresses: ['192.168.1.240-192.168.1.250'] } });
  const { files, model } = await rendered(inv);
  const res = analyze({ model, files, facts, k3sDisable: { homelab: ['servicelb'] } });
  const speaker = res.needs.get('homelab')!.find((n) => n.group.object === 'DaemonSet metallb-system/metallb-speaker')!;
  assert.is(speaker.pods, 3, 'one speaker per node (the speaker tolerates everything)');
  // speaker 200m + three FRR containers with the LimitRange default 250m each
  assert.is(speaker.limits.milliCpu, 950);
  const q = only(res.findings, 'quota').find(
    (f) => f.object.startsWith('ResourceQuota metallb-system/') && f.field === 'spec.hard.limits.cpu',
  );
  assert.ok(q);
  assert.match(q!.reason, /DaemonSet metallb-system\/metallb-speaker 3x950m/);
});

test('3c. quota: the demo app HPA maximum (6) and its surge must fit, not just the initial replicas', async () => {
  // the shipped inventory's components: ml-demo's weight share is 1 CPU of limits
  const inv = homelab({
    jupyterhub: { enabled: true },
    'argo-workflows': { enabled: true },
    'kube-prometheus-stack': { enabled: true },
    loki: { enabled: true },
  });
  const res = await findingsOf(inv);
  const q = only(res, 'quota').find((f) => f.object.startsWith('ResourceQuota ml-demo/') && f.field === 'spec.hard.limits.cpu');
  assert.ok(q, JSON.stringify(only(res, 'quota'), null, 1));
  // maxReplicas 6 + ceil(25% of 6) = 8 pods x 250m
  assert.match(q!.reason, /^2 needed .*Deployment ml-demo\/iris-classifier 8x250m/);
});

test('3d. quota sized from the needs passes; capacity that cannot hold the components is a clear error', async () => {
  const { sizeQuotas } = await import('../../lib/gitops/bringup/pipeline.ts');
  const { renderModel } = await import('../../lib/gitops/index.ts');
  const inv = homelab({ metallb: { enabled: true, addresses: ['192.168.1.240-192.168.1.250'] } });
  const { files, model, secrets } = await rendered(inv);
  const input = { model, files, facts, k3sDisable: { homelab: ['servicelb'] } };
  const first = analyze(input);
  assert.ok(sizeQuotas(model, first.needs, facts));
  const again = renderModel(model, { sealedSecrets: secrets.sealed });
  const second = analyze({ ...input, files: again });
  for (const ns of ['cert-manager', 'metallb-system']) {
    assert.equal(
      only(second.findings, 'quota').filter((f) => f.object.startsWith(`ResourceQuota ${ns}/`)),
      [],
      ns,
    );
  }
  const cm = model.clusters[0].namespaces.find((n) => n.name === 'cert-manager')!.quota!;
  // 2250m of limits x 1.25 headroom, rounded up to 100m
  assert.is(cm.limitsCpu, '2900m');
  // tiny nodes: the same components do not fit
  const small = homelab({ metallb: { enabled: true, addresses: ['192.168.1.240-192.168.1.250'] } });
  for (const h of small.hosts) h.vars = { capacity: { cpu: '200m', memory: '512Mi' } };
  const r = await rendered(small);
  const res = analyze({ model: r.model, files: r.files, facts });
  assert.throws(
    () => sizeQuotas(r.model, res.needs, facts),
    /cluster homelab: the enabled components request \d+m CPU .* but 80% of the nodes' capacity is 480m CPU/,
  );
});

test('4a. host prerequisites: Longhorn needs open-iscsi where its pods land; its chart wants preUpgradeChecker.jobEnabled=false', async () => {
  // the defect as it was: no role installs open-iscsi (now roles/platform-prereq does), the chart's advice not followed
  const fs = await findingsOf(
    homelab({ longhorn: { enabled: true } }),
    (files) => {
      files.set(
        'platform/longhorn/values.yaml',
        files.get('platform/longhorn/values.yaml')!.replace(/^preUpgradeChecker:\n {2}jobEnabled: false\n/m, ''),
      );
    },
    { hostPackages: () => [] },
  );
  const pre = only(fs, 'host-prerequisite').find((f) => f.component === 'longhorn');
  assert.ok(pre);
  assert.is(pre!.object, 'DaemonSet longhorn-system/longhorn-manager');
  assert.match(pre!.reason, /needs open-iscsi on desktop, pi-1, pi-2 \(Longhorn attaches volumes over iSCSI/);
  const rv = only(fs, 'values').find((f) => f.field === 'preUpgradeChecker.jobEnabled');
  assert.ok(rv);
  assert.match(rv!.reason, /must be false \(is undefined\)/);
  const fixed = await findingsOf(
    withAllNodes(homelab({ longhorn: { enabled: true, values: { preUpgradeChecker: { jobEnabled: false } } } }), {
      base: { packages: ['open-iscsi'] },
    }),
    undefined,
    { hostPackages: () => ['open-iscsi'] },
  );
  assert.equal(only(fixed, 'host-prerequisite'), []);
  // the catalog as it is: platform-prereq installs it, the values follow the advice
  const shipped = await findingsOf(homelab({ longhorn: { enabled: true } }));
  assert.equal(only(shipped, 'host-prerequisite'), []);
  assert.not.ok(only(shipped, 'values').some((f) => f.field === 'preUpgradeChecker.jobEnabled'));
  assert.not.ok(only(fixed, 'values').some((f) => f.field === 'preUpgradeChecker.jobEnabled'));
});

test('4b. GPU: the NVIDIA toolkit on the GPU node; the nvidia RuntimeClass K3s ships is not created twice', async () => {
  const inv = homelab({ 'nvidia-device-plugin': { enabled: true } });
  inv.hosts.push({
    ...inv.hosts[1],
    name: 'gpu-box',
    arch: 'x86_64',
    address: '192.168.1.30',
    groups: ['agents', 'gpu'],
    labels: { 'nvidia.com/gpu.present': 'true' },
    taints: ['nvidia.com/gpu=true:NoSchedule'],
  });
  inv.clusters[0].agents.push('gpu-box');
  // the defect as it was: no role installs the toolkit (now roles/platform-prereq does), and a
  // component rendered its own RuntimeClass nvidia next to K3s' (here: added to a manifests file)
  const issuers = 'clusters/homelab/cert-manager/manifests/issuers.yaml';
  const withRc = (files: Map<string, string>) =>
    files.set(
      issuers,
      `${files.get(issuers)!}---\napiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: nvidia\nhandler: nvidia\n`,
    );
  const fs = await findingsOf(inv, withRc, { hostPackages: () => [] });
  const pre = only(fs, 'host-prerequisite').find((f) => f.component === 'nvidia-device-plugin');
  assert.ok(pre);
  assert.match(pre!.reason, /needs nvidia-container-toolkit on gpu-box \(/);
  const rc = only(fs, 'collision').find((f) => f.object === 'RuntimeClass nvidia');
  assert.ok(rc);
  assert.match(rc!.reason, /already exists, created by k3s \(runtimes\)/);
  // fixed: the toolkit is installed on the GPU node, the chart does not create the RuntimeClass
  inv.hosts.find((h) => h.name === 'gpu-box')!.vars = { base: { packages: ['nvidia-container-toolkit'] } };
  const fixed = await findingsOf(inv);
  assert.equal(only(fixed, 'host-prerequisite'), []);
  assert.equal(only(fixed, 'collision'), []);
});

test('4c. MetalLB with K3s ServiceLB still on collides; with servicelb disabled it does not', async () => {
  const inv = homelab({ metallb: { enabled: true, addresses: ['192.168.1.240-192.168.1.250'] } });
  // a K3s whose config keeps ServiceLB (lib/k3s/config.ts now disables it with MetalLB: k3sDisableOf says so)
  const fs = only(await findingsOf(inv, undefined, { k3sDisable: { homelab: [] } }), 'collision').filter((f) => f.component === 'metallb');
  assert.is(fs.length, 1);
  assert.is(fs[0].field, 'vars.k3s.disable');
  assert.match(fs[0].reason, /K3s' ServiceLB is not disabled: both would serve LoadBalancer Services/);
  const off = homelab({ metallb: { enabled: true, addresses: ['192.168.1.240-192.168.1.250'] } });
  off.clusters[0].vars = { k3s: { disable: ['servicelb'] } };
  assert.equal(
    only(await findingsOf(off), 'collision').filter((f) => f.component === 'metallb'),
    [],
  );
  // the config K3s really gets with MetalLB enabled disables servicelb by itself
  assert.equal(k3sDisableOf(inv), { homelab: ['servicelb'] });
  assert.equal(
    only(await findingsOf(inv), 'collision').filter((f) => f.component === 'metallb'),
    [],
  );
});

test('4d. two default StorageClasses with Longhorn (local-path stays default)', async () => {
  // the defect as it was: the chart's default (persistence.defaultClass true); the catalog sets false now
  const defaultClass = (files: Map<string, string>) =>
    files.set(
      'platform/longhorn/values.yaml',
      files.get('platform/longhorn/values.yaml')!.replace('defaultClass: false', 'defaultClass: true'),
    );
  const fs = only(await findingsOf(homelab({ longhorn: { enabled: true } }), defaultClass), 'collision');
  const sc = fs.find((f) => f.field.endsWith('is-default-class'));
  assert.ok(sc);
  assert.match(sc!.reason, /^2 default StorageClasses/);
  assert.match(sc!.object, /StorageClass\/local-path, StorageClass\/longhorn/);
  const fixed = await findingsOf(homelab({ longhorn: { enabled: true } }), defaultClass, { k3sDisable: { homelab: ['local-storage'] } });
  assert.not.ok(only(fixed, 'collision').some((f) => f.field.endsWith('is-default-class')));
  assert.not.ok(
    only(await findingsOf(homelab({ longhorn: { enabled: true } })), 'collision').some((f) => f.field.endsWith('is-default-class')),
  );
});

test('4e. Argo CD owned twice: the bootstrap HelmChart and bootstrap/argocd.yaml', async () => {
  const fs = only(await findingsOf(homelab()), 'ownership');
  assert.is(fs.length, 1);
  assert.is(fs[0].object, 'Application argocd/argocd (bootstrap/argocd.yaml)');
  assert.match(
    fs[0].reason,
    /Argo CD is owned twice: the bootstrap's K3s HelmChart "argocd" and this Application both install chart argo-cd as release argocd/,
  );
  const fixed = await findingsOf(homelab(), (files) => files.delete('bootstrap/argocd.yaml'));
  assert.equal(only(fixed, 'ownership'), []);
});

test('5. a dead values key: useDefaultArtifactRepo is not read by argo-workflows', async () => {
  // the defect as it was (the catalog dropped the key)
  const dead = (files: Map<string, string>) =>
    files.set('platform/argo-workflows/values.yaml', `${files.get('platform/argo-workflows/values.yaml')!}useDefaultArtifactRepo: true\n`);
  const fs = only(await findingsOf(homelab({ 'argo-workflows': { enabled: true } }), dead), 'values').filter(
    (f) => f.component === 'argo-workflows',
  );
  assert.is(fs.length, 1, JSON.stringify(fs, null, 1));
  assert.is(fs[0].field, 'useDefaultArtifactRepo');
  assert.is(fs[0].object, 'chart argo-workflows@0.45.1 (platform/argo-workflows/values.yaml)');
  assert.match(fs[0].reason, /has no such key and no template reads it: dead configuration/);
  const fixed = await findingsOf(homelab({ 'argo-workflows': { enabled: true } }));
  assert.equal(
    only(fixed, 'values').filter((f) => f.component === 'argo-workflows'),
    [],
  );
});

test.run();
