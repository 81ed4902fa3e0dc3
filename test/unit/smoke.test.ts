import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Outcome } from '../../lib/runner/types.ts';

test('types import under tsx', () => {
  const o: Outcome = 'ok';
  assert.is(o, 'ok');
});
test.run();
