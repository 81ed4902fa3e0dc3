// `npx zx scripts/gitops.mjs check`: the bring-up analysis runs after the render and a repository
// that would not come up exits 1 with one line per finding (component, object, field, reason).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { main } from '../../lib/gitops/cli.ts';
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
  const r = await capture(['check', '-i', path.resolve('test/fixtures/bringup/inventory-defects.yaml'), '--state-dir', state, '--facts', path.resolve('test/fixtures/bringup/facts')]);
  assert.is(r.code, 1, r.out + r.err);
  assert.match(r.err, /refusing: the repository would not come up on the inventory's cluster \(bring-up analysis, \d+ findings\)/);
  assert.match(r.err, /small: bootstrap \(K3s HelmChart installs Argo CD\):\n {2}\[priority-class\] argocd: Job argocd\/argocd-redis-secret-init: global\.priorityClassName: PriorityClass infrastructure-critical does not exist/);
  assert.match(r.err, /\[facts\] redis: StatefulSet redis\/redis-master: containers\.redis\.image: image docker\.io\/bitnami\/redis:7\.4\.1-debian-12-r0 cannot be pulled/);
  assert.not.match(r.out, /rendered \d+ files/);
});

test.run();
