// `npx zx scripts/gitops.mjs check`: the bring-up analysis runs after the render and a repository
// that would not come up exits 1 with one line per finding (component, object, field, reason).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { main } from '../../cli/gitops.ts';
import { loadOrCreateSealingKeys } from '../../lib/gitops/sealed-secrets.ts';
import { sealingKeyDir } from '../../lib/gitops/secrets.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

async function capture(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await main(args);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('check refuses a repository that would not come up, naming phase, component, object, field and reason', async () => {
  const state = tempDir('bringup-cli');
  await loadOrCreateSealingKeys(sealingKeyDir(state, 'small'), TEST_KEY_OPTIONS);
  const r = await capture([
    'check',
    '-i',
    path.resolve('test/fixtures/bringup/inventory-defects.yaml'),
    '--state-dir',
    state,
    '--facts',
    path.resolve('test/fixtures/bringup/facts'),
  ]);
  assert.is(r.code, 1, r.out + r.err);
  assert.match(r.err, /refusing: the repository would not come up on the inventory's cluster \(bring-up analysis, \d+ findings?\)/);
  // these facts have no plain-images.yaml: redis' own image is unknown
  assert.match(
    r.err,
    /small: wave 2:\n {2}\[facts\] redis: StatefulSet redis\/redis: containers\.redis\.image: image docker\.io\/library\/redis:8\.10\.1-alpine is in no facts file/,
  );
  // the bootstrap is read from roles/argocd-bootstrap: its PriorityClasses exist before Argo CD, its HelmChart is handed over
  assert.not.match(r.err, /\[priority-class\] argocd|\[ownership\]/);
  assert.not.match(r.out, /rendered \d+ files/);
});

test.run();
