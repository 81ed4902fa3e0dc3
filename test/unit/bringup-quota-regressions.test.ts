// Issue 15, defect 3 with the real chart facts: the quotas the old weight formula gave the shipped
// inventory (monitoring and JupyterHub 3 CPU of limits; MLflow no room for its rollout surge) are
// put back into the rendered repository, and the analysis must reject each with the pod that no
// longer fits. The catalog as it is (quotas sized from the charts' needs) passes: bringup-wire.test.ts.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import YAML from 'yaml';
import { analyze, bringupInputOf, factsFromDir, manifestObjects, type Finding } from '../../lib/gitops/bringup/index.ts';
import { renderAndAnalyze, type AnalyzedRender } from '../../lib/gitops/bringup/pipeline.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { bootstrapOfRender } from '../../roles/argocd-bootstrap/index.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

const NAMESPACES = 'clusters/homelab/governance/manifests/namespaces.yaml';
let inv: Inventory;
let base: AnalyzedRender;

test.before(async () => {
  inv = await loadInventory(path.resolve('inventory.yaml'));
  base = await renderAndAnalyze(inv, {
    stateDir: tempDir('bringup-quota-regressions'),
    sealingKeyOptions: TEST_KEY_OPTIONS,
    bootstrap: bootstrapOfRender,
  });
});

/** The analysis of the shipped render with one namespace's quota replaced. */
function withQuota(namespace: string, hard: Record<string, string>): Finding[] {
  const files = new Map(base.files);
  const docs = YAML.parseAllDocuments(files.get(NAMESPACES)!).map((d) => d.toJS());
  const quota = docs.find((d) => d?.kind === 'ResourceQuota' && d.metadata.namespace === namespace);
  assert.ok(quota, `a ResourceQuota in ${namespace}`);
  Object.assign(quota.spec.hard, hard);
  files.set(NAMESPACES, docs.map((d) => YAML.stringify(d)).join('---\n'));
  const { manifests, ...bootstrap } = bootstrapOfRender(files, base.model);
  const input = {
    ...bringupInputOf(inv, base.model, files, factsFromDir()),
    bootstrap,
    bootstrapObjects: manifestObjects('bootstrap (K3s manifests directory)', manifests),
  };
  return analyze(input).findings.filter((f) => f.severity !== 'warning');
}

const quotaFinding = (fs: Finding[], namespace: string, field: string) =>
  fs.find((f) => f.check === 'quota' && f.object.startsWith(`ResourceQuota ${namespace}/`) && f.field === field);

test('the shipped render as it is passes (the baseline these cases edit)', () => {
  assert.equal(base.findings, []);
});

test('monitoring with 3 CPU of limits: the Prometheus pod is rejected', () => {
  const f = quotaFinding(withQuota('monitoring', { 'limits.cpu': '3' }), 'monitoring', 'spec.hard.limits.cpu');
  assert.ok(f, 'a limits.cpu finding for monitoring');
  assert.match(f!.reason, /> quota 3: the last pods are rejected/);
  assert.match(f!.reason, /prometheus/i);
});

test('JupyterHub with 3 CPU of limits: hub, proxy and the first user server do not fit', () => {
  const f = quotaFinding(withQuota('jupyterhub', { 'limits.cpu': '3' }), 'jupyterhub', 'spec.hard.limits.cpu');
  assert.ok(f, 'a limits.cpu finding for jupyterhub');
  assert.match(f!.reason, /jupyter-\{username\}/);
});

test('MLflow with a quota of one replica and no surge room: its rollout is blocked', () => {
  const fs = withQuota('mlflow', { pods: '1' });
  const f = quotaFinding(fs, 'mlflow', 'spec.hard.pods');
  assert.ok(
    f,
    JSON.stringify(
      fs.filter((x) => x.component === 'mlflow'),
      null,
      1,
    ),
  );
  assert.match(f!.reason, /Deployment mlflow\/mlflow 2x/);
});

test('no pod pulls an image whose tag could not be confirmed upstream (kube-webhook-certgen 1.8.7: cert-manager issues the webhook certificate instead)', () => {
  const { manifests, ...bootstrap } = bootstrapOfRender(base.files, base.model);
  const res = analyze({
    ...bringupInputOf(inv, base.model, base.files, factsFromDir()),
    bootstrap,
    bootstrapObjects: manifestObjects('bootstrap (K3s manifests directory)', manifests),
  });
  const monitoring = res.needs
    .get('homelab')!
    .map((n) => n.group.object)
    .filter((o) => o.includes('monitoring/'));
  assert.ok(
    monitoring.some((o) => /prometheus-operator|operator/.test(o)),
    monitoring.join(', '),
  );
  assert.not.ok(
    monitoring.some((o) => /admission-(create|patch)/.test(o)),
    monitoring.join(', '),
  );
});

test.run();
