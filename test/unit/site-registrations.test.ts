// What the GitOps step of a site run knows of registrations (cli/site/registrations.ts): whether
// an access was recorded or rotated since the render (then it renders again before publishing),
// and which clusters are not registered. The whole pipeline with two clusters (render, host run,
// re-render, publish) is proven in test/hosts/multi-cluster.test.ts: a two-cluster render passes
// the bring-up analysis only with lib/gitops's ordering fix (branch gitops-mc).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { writeClusterAccess } from '../../lib/clusters/access.ts';
import { builtClusterServer } from '../../lib/clusters/built.ts';
import { formatPublish } from '../../cli/site/gitops-step.ts';
import { accessSnapshot, changedAccess, unregisteredClusters } from '../../cli/site/registrations.ts';
import { everything } from '../fixtures/gitops/inventories.ts';
import { tempDir } from '../fixtures/gitops/state.ts';

const work = tempDir('site-registrations');

function setup(name: string) {
  const dir = path.join(work, name);
  const inv = everything();
  Object.assign(inv, { dir, file: path.join(dir, 'inventory.yaml') });
  const stateDir = path.join(dir, '.clusterseed');
  return { inv, stateDir };
}

test('access snapshots: a new or rotated access is a change, an unchanged one is not; stale server counts as unregistered', async () => {
  const { inv, stateDir } = setup('snapshots');
  const before = await accessSnapshot(inv, stateDir);
  assert.equal(await unregisteredClusters(inv, stateDir), ['edge']);
  const a = { server: builtClusterServer(inv, inv.clusters[1]), caData: 'Q0E=', bearerToken: 'one-token' };
  await writeClusterAccess(stateDir, 'edge', a);
  const mid = await accessSnapshot(inv, stateDir);
  assert.equal(changedAccess(before, mid), ['edge']);
  assert.equal(changedAccess(mid, await accessSnapshot(inv, stateDir)), []);
  await writeClusterAccess(stateDir, 'edge', { ...a, bearerToken: 'two-token' });
  assert.equal(changedAccess(mid, await accessSnapshot(inv, stateDir)), ['edge']);
  assert.equal(await unregisteredClusters(inv, stateDir), []);
  await writeClusterAccess(stateDir, 'edge', { ...a, server: 'https://10.9.9.9:6443' });
  assert.equal(await unregisteredClusters(inv, stateDir), ['edge']);
});

test('the publish summary names the clusters registered in the run and those still without a cluster Secret', () => {
  const base = {
    target: 'remote.git',
    check: false,
    added: [],
    changed: ['clusters/mgmt/registrations/edge.yaml'],
    removed: [],
    unchanged: false,
    foreignChanges: [],
  };
  const text = formatPublish({ ...base, registered: ['edge'], unregistered: ['gpu'] });
  assert.match(text, /registered with Argo CD \(access sealed into the repository\): edge\n/);
  assert.match(text, /not registered yet \(no cluster Secret, Argo CD cannot deploy there\): gpu$/);
  assert.not.match(formatPublish(base), /registered/);
});

test.run();
