import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { isEmpty, resolveRef, valueAt, whenHolds } from '../../lib/gitops/chart-facts/eval.ts';

const values = {
  global: { priorityClassName: 'infrastructure-critical', nodeSelector: { 'kubernetes.io/os': 'linux' } },
  configs: { params: { 'server.insecure': true } },
  redis: { enabled: true },
  'redis-ha': { enabled: false },
  externalRedis: { host: '' },
  controller: { priorityClassName: '' },
};

test('valueAt follows dotted paths, keys with dots included', () => {
  assert.is(valueAt(values, 'global.priorityClassName'), 'infrastructure-critical');
  assert.is(valueAt(values, 'configs.params.server.insecure'), true);
  assert.is(valueAt(values, 'global.nodeSelector.kubernetes.io/os'), 'linux');
  assert.is(valueAt(values, 'global.missing'), undefined);
  assert.is(valueAt(values, 'global.priorityClassName.x'), undefined);
});

test('whenHolds: always, truthy, !falsy, && before ||', () => {
  assert.ok(whenHolds(undefined, values));
  assert.ok(whenHolds(null, values));
  assert.ok(whenHolds('redis.enabled && !redis-ha.enabled', values));
  assert.ok(whenHolds('!externalRedis.host', values));
  assert.not.ok(whenHolds('redis-ha.enabled', values));
  assert.not.ok(whenHolds('redis.enabled && redis-ha.enabled', values));
  assert.ok(whenHolds('redis-ha.enabled || redis.enabled && !externalRedis.host', values));
  assert.not.ok(whenHolds('nope || redis-ha.enabled', values));
});

test('resolveRef: path, then the or paths while empty, then default', () => {
  assert.is(
    resolveRef({ path: 'controller.priorityClassName', or: ['global.priorityClassName'], default: '' }, values),
    'infrastructure-critical',
  );
  assert.is(resolveRef({ path: 'controller.missing', default: 1 }, values), 1);
  assert.equal(resolveRef({ default: {} }, values), {});
  assert.is(resolveRef(undefined, values), undefined);
});

test('isEmpty is Helm emptiness', () => {
  for (const v of [undefined, null, false, 0, '', [], {}]) assert.ok(isEmpty(v), JSON.stringify(v));
  for (const v of [true, 1, 'x', [0], { a: 1 }]) assert.not.ok(isEmpty(v), JSON.stringify(v));
});

test.run();
