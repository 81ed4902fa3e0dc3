import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { loadChartFacts, parseFactsFile, valuesKeyKnown, valuesKeyPaths } from '../../lib/gitops/chart-facts/load.ts';

const GOOD = `chart: demo
version: 1.2.3
repoURL: https://charts.example.org
source:
  repo: example/demo
  tag: demo-1.2.3
  commit: 0123456789abcdef0123456789abcdef01234567
  path: charts/demo
  read: 2026-12-05
maintained: true
values:
  keys: [image.repository, image.tag, replicaCount, resources, config.a.b, args]
  open: [resources, podAnnotations]
  extra: [{ key: global.imagePullSecrets, template: templates/_helpers.tpl }, { key: extraEnv, template: templates/deploy.yaml, open: true }]
  passthrough: false
crds: [{ name: widgets.example.org, when: crds.enabled }]
workloads:
  - kind: Deployment
    name: "{fullname}"
    replicas: { path: replicaCount, default: 1 }
    containers:
      - name: demo
        image: { path: image, ref: docker.io/example/demo:1.2.3 }
        resources: { path: resources, default: {} }
services: [{ name: "{fullname}" }]
images:
  - ref: docker.io/example/demo:1.2.3
    platforms: [linux/amd64, linux/arm64]
    platformsFrom: ".github/workflows/release.yaml platforms:"
`;

test('a valid facts file parses into ChartFacts', () => {
  const f = parseFactsFile('demo@1.2.3.yaml', GOOD);
  assert.is(f.chart, 'demo');
  assert.is(f.workloads[0]!.containers[0]!.image.ref, 'docker.io/example/demo:1.2.3');
  assert.equal(f.workloads[0]!.containers[0]!.resources.default, {});
});

test('a missing field is named with file, line and field', () => {
  const text = GOOD.replace('  commit: 0123456789abcdef0123456789abcdef01234567\n', '');
  assert.throws(() => parseFactsFile('demo@1.2.3.yaml', text), /demo@1\.2\.3\.yaml:5:\d+: source: missing field "commit"/);
});

test('an unknown field, a bad commit and a bad platform are all reported, each with its line', () => {
  const text = GOOD.replace('maintained: true', 'maintained: true\nmaintainer: me')
    .replace('0123456789abcdef0123456789abcdef01234567', 'abc')
    .replace('linux/arm64]', 'linux/arm65]');
  let message = '';
  try {
    parseFactsFile('x.yaml', text);
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, /x\.yaml:1:1: \(top level\): unknown field "maintainer"/);
  assert.match(message, /x\.yaml:7:\d+: source\.commit: must match pattern/);
  assert.match(message, /x\.yaml:\d+:\d+: images\.0\.platforms\.1: must match pattern/);
});

test('a workload without containers, and maintained: false, are refused', () => {
  const noContainers = GOOD.replace(/ {4}containers:\n( {6}.*\n| {8}.*\n)+/, '');
  assert.throws(() => parseFactsFile('y.yaml', noContainers), /workloads\.0: missing field "containers"/);
  assert.throws(() => parseFactsFile('y.yaml', GOOD.replace('maintained: true', 'maintained: false')), /maintained/);
});

test('YAML syntax errors and duplicate keys name the line', () => {
  assert.throws(() => parseFactsFile('z.yaml', GOOD.replace('chart: demo', 'chart: demo\nchart: again')), /z\.yaml:2:\d+: not valid YAML/);
});

test('loadChartFacts names the missing file', () => {
  assert.throws(
    () => loadChartFacts('no-such-chart', '0.0.0'),
    /lib\/gitops\/chart-facts\/no-such-chart@0\.0\.0\.yaml: missing: no chart facts for no-such-chart 0\.0\.0/,
  );
});

test('valuesKeyKnown: keys, intermediate maps, open maps, extra keys; not below scalar leaves, not unknown keys', () => {
  const f = parseFactsFile('demo@1.2.3.yaml', GOOD);
  for (const k of [
    'image.repository',
    'image',
    'config.a',
    'config.a.b',
    'resources',
    'resources.limits.cpu',
    'podAnnotations.x',
    'global.imagePullSecrets',
    'extraEnv.FOO',
    'args',
  ]) {
    assert.ok(valuesKeyKnown(f, k), k);
  }
  for (const k of [
    'image.registry',
    'replicas',
    'replicaCount.x',
    'config.a.c',
    'resourcesX',
    'podAnnotation',
    'global.imagePullSecretsX',
    'global.other',
  ]) {
    assert.not.ok(valuesKeyKnown(f, k), k);
  }
  const pass = { ...f, values: { ...f.values, passthrough: 'templates/config.yaml renders .Values.config whole' } };
  assert.ok(valuesKeyKnown(pass, 'anything.at.all'));
});

test('keys and open may be block strings, one key a line, with # comment lines', () => {
  const text = GOOD.replace(
    '  keys: [image.repository, image.tag, replicaCount, resources, config.a.b, args]',
    '  keys: |\n    # from values.yaml\n    image.repository\n    image.tag\n\n    replicaCount\n',
  ).replace('  open: [resources, podAnnotations]', '  open: |\n    podAnnotations\n');
  const f = parseFactsFile('demo@1.2.3.yaml', text);
  assert.equal(f.values.keys, ['image.repository', 'image.tag', 'replicaCount']);
  assert.equal(f.values.open, ['podAnnotations']);
  assert.ok(valuesKeyKnown(f, 'podAnnotations.a'));
  assert.throws(
    () => parseFactsFile('d.yaml', text.replace('    replicaCount\n', '    replica Count\n')),
    /d\.yaml: values\.keys: "replica Count" is not a key path/,
  );
});

test('valuesKeyPaths: maps descended, lists and scalars and empty maps are leaves', () => {
  assert.equal(valuesKeyPaths({ a: { b: 1, c: [{ d: 1 }], e: {} }, f: null, g: 'x' }), ['a.b', 'a.c', 'a.e', 'f', 'g']);
  assert.equal(valuesKeyPaths(null), []);
});

test.run();
