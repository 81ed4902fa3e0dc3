// The seed topologies of the README (examples/*.yaml) are not only loadable: each renders a
// repository that passes what a site run demands before touching a host — offline validation,
// the bring-up analysis and the secret scan — first before any remote cluster is registered
// (their cluster Secrets are then left out and listed, never rendered with a placeholder), then
// with every remote cluster registered (the management cluster's Secret for each, sealed).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../../lib/inventory/load.ts';
import { buildModel, validateTree } from '../../lib/gitops/index.ts';
import { renderAndAnalyze } from '../../lib/gitops/bringup/pipeline.ts';
import { formatFindings } from '../../lib/gitops/bringup/index.ts';
import { scanFiles } from '../../cli/gitops.ts';
import { bootstrapOfRender } from '../../roles/argocd-bootstrap/index.ts';
import { register } from '../fixtures/gitops/multicluster.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples');
const inventories = readdirSync(examples)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

for (const name of inventories) {
  test(`examples/${name} renders, validates, comes up in the analysis and holds no plaintext secret, before and after registration`, async () => {
    const inv = await loadInventory(path.join(examples, name));
    const stateDir = tempDir(`examples-${path.basename(name, '.yaml')}`);
    const render = () => renderAndAnalyze(inv, { stateDir, sealingKeyOptions: TEST_KEY_OPTIONS, bootstrap: bootstrapOfRender });
    const remotes = buildModel(inv).clusters.filter((c) => !c.isManagement);

    const before = await render();
    assert.equal(before.findings, [], formatFindings(before.findings));
    assert.equal(validateTree(before.files), []);
    assert.equal(scanFiles(before.files), []);
    assert.equal(before.unregistered.sort(), remotes.map((c) => c.name).sort());

    const access = await register(stateDir, Object.fromEntries(remotes.map((c) => [c.name, c.server])));
    const after = await render();
    assert.equal(after.findings, [], formatFindings(after.findings));
    assert.equal(validateTree(after.files), []);
    assert.equal(scanFiles(after.files), []);
    assert.equal(after.unregistered, []);
    const mgmt = inv.clusters[0].name;
    for (const c of remotes)
      assert.ok(
        after.files.has(`clusters/${mgmt}/cluster-registrations/cluster-${c.name}.yaml`),
        `${name}: the sealed registration of ${c.name}`,
      );
    for (const [file, text] of after.files) {
      assert.not.match(text, /pending-registration/, file);
      for (const a of Object.values(access)) assert.not.ok(text.includes(a.bearerToken), `${file} holds a token in clear`);
    }
  });
}

test.run();
