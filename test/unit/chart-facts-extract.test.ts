import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { parse } from 'yaml';
import { draftFactsYaml, extractChart, fullnameFor, simpleCondition } from '../../lib/gitops/chart-facts/extract.ts';
import { parseFactsFile, valuesKeyKnown } from '../../lib/gitops/chart-facts/load.ts';

const dir = path.resolve('test/fixtures/charts/gadget');
const x = extractChart(dir);

test('values: leaf keys (lists are leaves), open maps for {} and null defaults and maps rendered whole', () => {
  assert.ok(x.keys.includes('image.repository'));
  assert.ok(x.keys.includes('nodeSelector.kubernetes.io/os'));
  assert.ok(x.keys.includes('tolerations'));
  assert.not.ok(x.keys.includes('image'));
  // nodeSelector has a default, but the template renders it with toYaml: any key goes; so do
  // resources (toYaml) and tolerations (with + toYaml .), not image (read field by field)
  assert.equal(x.open, ['podAnnotations', 'affinity', 'agent.resources', 'nodeSelector', 'resources', 'tolerations']);
  assert.is(x.chart, 'gadget');
  assert.is(x.version, '0.3.1');
});

test('keys the templates read that values.yaml does not have are extra candidates', () => {
  assert.equal(x.extra, [{ key: 'agent.podAnnotations', template: 'templates/agent-daemonset.yaml' }]);
});

test('an unpacked subchart: values under its key, its CRDs and workloads only when its condition holds', () => {
  assert.ok(x.keys.includes('sidekick.enabled'));
  assert.ok(x.keys.includes('sidekick.image.repository'));
  const side = x.workloads.find((w) => w.from === 'charts/sidekick/templates/deployment.yaml');
  assert.is(side?.name, '{release}-sidekick');
  assert.is(side?.when, 'sidekick.enabled');
  assert.ok(x.images.some((i) => i.path === 'sidekick.image' && i.ref === 'docker.io/example/sidekick:0.1.0'));
});

test('CRDs from crds/ and from templates, with the simple {{ if }} around them', () => {
  assert.equal(x.crds, [
    { name: 'widgets.gadget.example.org', from: 'crds/widgets.yaml' },
    { name: 'gizmos.gadget.example.org', when: 'crds.install', from: 'templates/crd-gizmos.yaml' },
    { name: 'sprockets.gadget.example.org', when: 'sidekick.enabled', from: 'charts/sidekick/crds/sprockets.yaml' },
  ]);
});

test('images in values.yaml: registry/repository:tag, empty tag -> appVersion, plain image strings', () => {
  assert.equal(x.images, [
    { path: 'image', ref: 'ghcr.io/example/gadget:2.0.0' },
    { path: 'agent.image', ref: 'docker.io/example/gadget-agent:2.0.1' },
    { path: 'migrate.image', ref: 'docker.io/example/gadget-migrate:2.0.0' },
    { path: 'sidekick.image', ref: 'docker.io/example/sidekick:0.1.0' },
  ]);
});

test('workloads: kind, name with placeholders, condition, hook annotations, plain .Values paths, containers', () => {
  const byKind = Object.fromEntries(x.workloads.filter((w) => !w.from.startsWith('charts/')).map((w) => [w.kind, w]));
  assert.equal(Object.keys(byKind).sort(), ['DaemonSet', 'Deployment', 'Job']);
  const dep = byKind.Deployment!;
  assert.is(dep.name, '{fullname}');
  assert.is(dep.when, undefined);
  assert.is(dep.replicas, 'replicaCount');
  assert.equal(dep.priorityClassName, ['global.priorityClassName']);
  assert.equal(dep.nodeSelector, ['nodeSelector']);
  assert.equal(dep.containers, [
    { name: 'wait-db', init: true },
    { name: 'gadget', init: false },
  ]);
  assert.equal(dep.resources, ['resources']);
  // two containers, one resources reference: a human must say which is which
  assert.ok(dep.todos.some((t) => t.includes('2 container(s), 1 .Values...resources')));
  const ds = byKind.DaemonSet!;
  assert.is(ds.name, '{release}-agent');
  assert.is(ds.when, 'agent.enabled');
  assert.equal(ds.resources, ['agent.resources']);
  const job = byKind.Job!;
  assert.is(job.name, '{fullname}-migrate');
  assert.is(job.hook, 'pre-install,pre-upgrade');
  assert.is(job.hookWeight, '-5');
  assert.is(job.hookDeletePolicy, 'before-hook-creation,hook-succeeded');
  assert.equal(job.resources, []);
  assert.equal(job.containers, [{ name: 'migrate', init: false }]);
});

test('simple conditions: values paths, not, and, or; anything else is not simple', () => {
  assert.is(simpleCondition('.Values.a.b'), 'a.b');
  assert.is(simpleCondition('not .Values.a'), '!a');
  assert.is(simpleCondition('and .Values.a .Values.b'), 'a && b');
  assert.is(simpleCondition('or .Values.a .Values.b'), 'a || b');
  assert.is(simpleCondition('and .Values.a (or .Values.b .Values.c)'), undefined);
  assert.is(simpleCondition('eq .Values.mode "x"'), undefined);
});

test('the draft is YAML that, once its TODO platforms are filled, is a valid facts file', () => {
  const draft = draftFactsYaml(x, {
    repo: 'example/gadget',
    tag: 'gadget-0.3.1',
    commit: '0123456789abcdef0123456789abcdef01234567',
    path: 'charts/gadget',
    repoURL: 'https://charts.example.org',
    release: 'gadget',
  });
  assert.ok(draft.includes('# TODO 2 container(s), 1 .Values...resources'));
  assert.ok(draft.includes('{fullname} = gadget'));
  const data = parse(draft);
  assert.equal(data.workloads[0].replicas, undefined); // DaemonSet first (file order)
  const dep = data.workloads.find((w: { kind: string }) => w.kind === 'Deployment');
  assert.equal(dep.replicas, { path: 'replicaCount', default: 2 });
  const filled = draft.replace(/platforms: \[TODO\]/g, 'platforms: [linux/amd64]');
  const facts = parseFactsFile('gadget@0.3.1.yaml', filled);
  assert.equal(facts.values.keys, x.keys);
  assert.equal(facts.values.open, x.open);
  assert.ok(valuesKeyKnown(facts, 'agent.resources.limits.cpu'));
  assert.not.ok(valuesKeyKnown(facts, 'agent.replicas'));
});

test('fullnameFor follows the usual helper', () => {
  assert.is(fullnameFor('gadget', 'gadget'), 'gadget');
  assert.is(fullnameFor('gadget', 'x'), 'x-gadget');
});

test.run();
