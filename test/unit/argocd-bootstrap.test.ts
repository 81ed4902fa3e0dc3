// roles/argocd-bootstrap without a host: what it writes into K3s' manifests directory and when
// it hands the Argo CD releases over to Argo CD (issue 15: bootstrap deadlock, two owners).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { parse, parseAllDocuments } from 'yaml';
import { bootstrapPlan, buildModel, renderRepoWithSecrets } from '../../lib/gitops/index.ts';
import { ARGOCD_CHART, ARGOCD_NAMESPACE } from '../../lib/gitops/catalog.ts';
import {
  argocdBootstrapRole,
  bootstrapFiles,
  helmChartFile,
  repoCredentialsPath,
  runningApps,
  type BootstrapSource,
  type Published,
} from '../../roles/argocd-bootstrap/index.ts';
import { HELM_UNMANAGED_ANNOTATION } from '../../roles/argocd-bootstrap/manifests.ts';
import { sha256 } from '../../lib/blocks/file.ts';
import type { Change, FileFact, HostContext, ProbeResult } from '../../lib/runner/types.ts';
import { everything } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';
import { inState } from '../support/probe-state.ts';

const state = tempDir('argocd-bootstrap');
const DIR = '/var/lib/rancher/k3s/server/manifests';

async function files(published: Published = { repoUrl: 'git@example.lan:gitops.git' }) {
  const inv = everything();
  const { files: repo } = await renderRepoWithSecrets(inv, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS });
  const plan = bootstrapPlan(buildModel(inv), state);
  const src: BootstrapSource = {
    argocdChart: ARGOCD_CHART,
    argocdNamespace: ARGOCD_NAMESPACE,
    argocdValuesPath: plan.argocd.valuesFile,
    rootApplicationPath: plan.rootApplication,
    files: repo,
    sealingKeyManifest: 'apiVersion: v1\nkind: Secret\nmetadata: { name: k, namespace: kube-system }\n',
    publish: async () => published,
  };
  return { repo, plan, src, out: bootstrapFiles(src, published, DIR) };
}

test('every PriorityClass Argo CD values name is created by the bootstrap, before the Argo CD HelmChart', async () => {
  const { repo, plan, out } = await files();
  const values = parse(repo.get('platform/argocd/values.yaml')!);
  const pcFile = `${DIR}/clusterseed-00-priority-classes.yaml`;
  assert.ok(out.has(pcFile), [...out.keys()].join(', '));
  const created = parseAllDocuments(out.get(pcFile)!.content)
    .map((d) => d.toJS())
    .filter(Boolean);
  assert.ok(created.every((d) => d.kind === 'PriorityClass'));
  const names = created.map((d) => d.metadata.name);
  assert.ok(names.includes(values.global.priorityClassName), `${values.global.priorityClassName} not in ${names}`);
  assert.equal(names, plan.priorityClasses);
  // K3s applies its manifests directory in name order
  const order = [...out.keys()].sort();
  assert.ok(order.indexOf(pcFile) < order.indexOf(`${DIR}/clusterseed-argocd.yaml`));
});

test('the HelmChart installs the same release the argocd Application adopts, with the same values', async () => {
  const { repo, out } = await files();
  const chart = parse(out.get(`${DIR}/clusterseed-argocd.yaml`)!.content);
  const app = parse(repo.get('bootstrap/argocd.yaml')!);
  // helm-controller names the release after the HelmChart
  assert.is(chart.metadata.name, app.spec.sources[0].helm.releaseName);
  assert.is(chart.spec.targetNamespace, app.spec.destination.namespace);
  assert.equal([chart.spec.chart, chart.spec.version], [app.spec.sources[0].chart, app.spec.sources[0].targetRevision]);
  assert.is(chart.spec.valuesContent, repo.get('platform/argocd/values.yaml'));
  assert.is(chart.metadata.annotations, undefined, 'installs while Argo CD is not running');
});

const fact = (content?: string): FileFact =>
  content === undefined
    ? { exists: false, type: '', mode: '', owner: '', group: '' }
    : {
        exists: true,
        type: 'regular file',
        mode: '0600',
        owner: 'root',
        group: 'root',
        content: Buffer.from(content),
        sha256: sha256(content),
      };
const ctx = { options: { check: false, diff: false, verbosity: 0 } } as unknown as HostContext;

async function planFor(stdout: string, current?: string) {
  const { out } = await files();
  const p = `${DIR}/clusterseed-argocd.yaml`;
  const task = helmChartFile(p, out.get(p)!, ARGOCD_NAMESPACE);
  const st: ProbeResult = { stdout, code: 0, files: new Map([[p, fact(current)]]) };
  const change = (await task.plan(st, ctx)) as Change | null;
  return { change, f: out.get(p)! };
}

test('once the argocd Application is Synced and Healthy, the HelmChart is marked unmanaged, and stays so', async () => {
  assert.equal([...runningApps('argocd=Synced/Healthy\nroot=OutOfSync/Healthy\n')], ['argocd']);
  // first run: nothing there, Argo CD not running -> the installing HelmChart
  const first = await planFor('');
  assert.is(first.change!.diff![0].after, first.f.content);
  // Argo CD still syncing itself: unchanged
  assert.ok(inState((await planFor('argocd=OutOfSync/Progressing\n', first.f.content)).change));
  // Argo CD runs its own release: helm-controller must leave it alone from now on
  const handover = await planFor('argocd=Synced/Healthy\n', first.f.content);
  const after = parse(handover.change!.diff![0].after);
  assert.is(after.metadata.annotations[HELM_UNMANAGED_ANNOTATION], 'true');
  // a later degraded Argo CD does not give the release back to helm-controller
  assert.ok(inState((await planFor('argocd=Synced/Degraded\n', handover.f.handedOver)).change));
});

/** The role's tasks after its prepare step, for a publish that answers `published`. */
async function roleTasks(published: Published) {
  const { src } = await files(published);
  const role = argocdBootstrapRole(src);
  const log = { info() {}, warn() {}, verbose() {}, debug() {}, error() {} };
  await role.prepare!({ options: { check: false }, log, hosts: [] } as never);
  return role.tasks(ctx);
}

test("a target without a credential removes the previous target's credential file, once", async () => {
  const p = repoCredentialsPath(DIR);
  const withCredential = await roleTasks({ repoUrl: 'git@git.lan:ops/gitops.git', credential: { type: 'ssh', sshPrivateKey: 'KEY' } });
  const writes = withCredential.filter((t) => (t.files ?? []).some((f) => f.path === p));
  assert.is(writes.length, 1, 'one task for the credential file');
  const written = await writes[0].plan({ stdout: '', code: 0, files: new Map([[p, fact()]]) }, ctx);
  assert.ok(written, 'with a credential the file is written');

  // switched to a public https target: the old file must go (K3s would keep re-applying it)
  const tasks = await roleTasks({ repoUrl: 'https://git.example.org/ops/gitops.git' });
  const removers = tasks.filter((t) => (t.files ?? []).some((f) => f.path === p));
  assert.is(removers.length, 1, 'one task for the credential file');
  const there = (await removers[0].plan(
    { stdout: '', code: 0, files: new Map([[p, fact('apiVersion: v1\nkind: Secret\n')]]) },
    ctx,
  )) as Change | null;
  assert.ok(there, 'changed while the old file is there');
  assert.match(there!.summary, `remove ${p}`);
  // second run: the file is gone, nothing to do
  assert.ok(inState(await removers[0].plan({ stdout: '', code: 0, files: new Map([[p, fact()]]) }, ctx)));
});

test.run();
