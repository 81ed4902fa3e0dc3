import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { cpSync } from 'node:fs';
import path from 'node:path';
import {
  defaultTemplateDir,
  renderRepoWithSecrets,
  RepoValidationError,
  validateTree,
  type ValidationIssue,
} from '../../lib/gitops/index.ts';
import { validatorFor, structuralToJsonSchema } from '../../lib/gitops/schemas.ts';
import { homelab } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

const state = tempDir('gitops-validate');
const broken = path.resolve('test/fixtures/gitops/broken-templates');

/** the real template tree with one file replaced by its broken twin from the fixtures */
function templatesWith(relFile: string): string {
  const dir = tempDir('templates');
  cpSync(defaultTemplateDir, dir, { recursive: true });
  cpSync(path.join(broken, relFile), path.join(dir, relFile));
  return dir;
}

async function issuesWith(relFile: string): Promise<ValidationIssue[]> {
  try {
    await renderRepoWithSecrets(homelab(), { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS, templateDir: templatesWith(relFile) });
  } catch (err) {
    if (err instanceof RepoValidationError) return err.issues;
    throw err;
  }
  throw new Error('render with a broken template succeeded');
}

test('a broken template fails with the rendered file, the object and the field', async () => {
  const issues = await issuesWith('components/iris-classifier/apps/deployment.yaml.hbs');
  const replicas = issues.find((i) => i.field === 'spec.replicas');
  assert.ok(replicas, JSON.stringify(issues));
  assert.is(replicas!.file, 'apps/iris-classifier/deployment.yaml');
  assert.is(replicas!.object, 'Deployment/iris-classifier');
  assert.is(replicas!.docIndex, 0);
  assert.is(replicas!.line, 8);
  assert.match(replicas!.message, /integer/);
  const name = issues.find((i) => i.field === 'spec.template.spec.containers[0]');
  assert.ok(name && /name/.test(name.message), JSON.stringify(issues));
});

test('the index of the offending document in a multi-document file is reported', async () => {
  const issues = await issuesWith('components/governance/cluster/manifests/priority-classes.yaml.hbs');
  assert.is(issues.length, 1, JSON.stringify(issues));
  assert.equal(
    { file: issues[0].file, doc: issues[0].docIndex, object: issues[0].object, field: issues[0].field },
    { file: 'clusters/homelab/governance/manifests/priority-classes.yaml', doc: 2, object: 'PriorityClass/ml-platform', field: 'value' },
  );
});

test('CRD kinds reject unknown fields; unknown kinds fail', async () => {
  const issues = await issuesWith('components/traefik/cluster/manifests/helmchartconfig.yaml.hbs');
  const file = 'clusters/homelab/traefik/manifests/helmchartconfig.yaml';
  assert.ok(
    issues.some(
      (i) =>
        i.file === file && i.object === 'HelmChartConfig/traefik' && i.field === 'spec' && /unknown field "valueContent"/.test(i.message),
    ),
    JSON.stringify(issues),
  );
  assert.ok(
    issues.some((i) => i.file === file && i.docIndex === 1 && /unknown kind traefik\.io\/v1alpha1\/Middleware/.test(i.message)),
    JSON.stringify(issues),
  );
});

test('the error message lists file:line, document, object and field', async () => {
  try {
    await renderRepoWithSecrets(homelab(), {
      stateDir: state,
      sealingKeyOptions: TEST_KEY_OPTIONS,
      templateDir: templatesWith('components/iris-classifier/apps/deployment.yaml.hbs'),
    });
    assert.unreachable();
  } catch (err) {
    assert.match(
      (err as Error).message,
      'apps/iris-classifier/deployment.yaml:8 document 0 Deployment/iris-classifier field spec.replicas: must be integer',
    );
  }
});

test('YAML syntax errors, JSON errors and non-mapping values files are reported with their file', () => {
  const issues = validateTree(
    new Map([
      ['a/bad.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   data: [\n'],
      ['renovate.json', '{"extends": [}'],
      ['platform/x/values.yaml', '- a\n- b\n'],
      ['b/nokind.yaml', 'metadata:\n  name: x\n'],
    ]),
  );
  assert.ok(
    issues.some((i) => i.file === 'a/bad.yaml' && /^YAML:/.test(i.message) && i.line! >= 4),
    JSON.stringify(issues),
  );
  assert.ok(issues.some((i) => i.file === 'renovate.json' && /^JSON:/.test(i.message)));
  assert.ok(issues.some((i) => i.file === 'platform/x/values.yaml' && /mapping/.test(i.message)));
  assert.ok(issues.some((i) => i.file === 'b/nokind.yaml' && /apiVersion or kind/.test(i.message)));
});

test('schemas exist for every kind the issue lists, from packaged validators or upstream CRDs', () => {
  const kinds: [string, string][] = [
    ['v1', 'ConfigMap'],
    ['v1', 'Service'],
    ['v1', 'Namespace'],
    ['v1', 'ResourceQuota'],
    ['v1', 'LimitRange'],
    ['apps/v1', 'Deployment'],
    ['apps/v1', 'StatefulSet'],
    ['apps/v1', 'DaemonSet'],
    ['batch/v1', 'Job'],
    ['batch/v1', 'CronJob'],
    ['networking.k8s.io/v1', 'Ingress'],
    ['networking.k8s.io/v1', 'NetworkPolicy'],
    ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'],
    ['scheduling.k8s.io/v1', 'PriorityClass'],
    ['policy/v1', 'PodDisruptionBudget'],
    ['autoscaling/v2', 'HorizontalPodAutoscaler'],
    ['node.k8s.io/v1', 'RuntimeClass'],
    ['argoproj.io/v1alpha1', 'Application'],
    ['argoproj.io/v1alpha1', 'ApplicationSet'],
    ['argoproj.io/v1alpha1', 'AppProject'],
    ['helm.cattle.io/v1', 'HelmChart'],
    ['helm.cattle.io/v1', 'HelmChartConfig'],
    ['bitnami.com/v1alpha1', 'SealedSecret'],
    ['cert-manager.io/v1', 'ClusterIssuer'],
    ['metallb.io/v1beta1', 'IPAddressPool'],
  ];
  for (const [apiVersion, kind] of kinds) assert.type(validatorFor(apiVersion, kind), 'function', `${apiVersion}/${kind}`);
  assert.is(validatorFor('v1', 'NoSuchKind'), null);
  assert.is(validatorFor('kustomize.config.k8s.io/v1beta1', 'Kustomization'), 'allowed');
  const hc = validatorFor('helm.cattle.io/v1', 'HelmChart') as (o: Record<string, unknown>) => { instancePath: string }[];
  assert.equal(
    hc({
      apiVersion: 'helm.cattle.io/v1',
      kind: 'HelmChart',
      metadata: { name: 'x' },
      spec: { chart: 'x', set: { a: 1, b: 'c' }, failurePolicy: 'abort' },
    }),
    [],
  );
  assert.equal(
    hc({ apiVersion: 'helm.cattle.io/v1', kind: 'HelmChart', metadata: { name: 'x' }, spec: { failurePolicy: 'retry' } }).map(
      (e) => e.instancePath,
    ),
    ['/spec/failurePolicy'],
  );
});

test('structural schemas: strict objects unless they preserve unknown fields, int-or-string', () => {
  const out = structuralToJsonSchema({
    type: 'object',
    properties: {
      a: { 'x-kubernetes-preserve-unknown-fields': true, type: 'object', properties: { b: { type: 'string' } } },
      c: { 'x-kubernetes-int-or-string': true, type: 'string' },
    },
  }) as { additionalProperties?: unknown; properties: Record<string, Record<string, unknown>> };
  assert.is(out.additionalProperties, false);
  assert.is(out.properties.a.additionalProperties, undefined);
  assert.equal(out.properties.c, { anyOf: [{ type: 'integer' }, { type: 'string' }] });
});

test.run();
