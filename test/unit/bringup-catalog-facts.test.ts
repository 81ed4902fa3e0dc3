// The analysis reads the committed chart facts (lib/gitops/chart-facts/, the facts loader's format)
// on the all-components inventory: every pin with a facts file is known, its workloads become pod
// groups with resources, and every finding is complete (component, object, reason, phase).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { renderRepoWithSecrets } from '../../lib/gitops/index.ts';
import { analyze, factsFromDir } from '../../lib/gitops/bringup/index.ts';
import { chartFactsFile } from '../../lib/gitops/chart-facts/load.ts';
import { CATALOG } from '../../lib/gitops/catalog.ts';
import { everything } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

test('committed facts: pins with a file are known and yield pods; findings are complete', async () => {
  const inv = everything();
  const { files, model } = await renderRepoWithSecrets(inv, { stateDir: tempDir('bringup-catalog'), sealingKeyOptions: TEST_KEY_OPTIONS });
  const facts = factsFromDir();
  const res = analyze({ model, files, facts });
  const pins = CATALOG.flatMap((c) => c.charts.map((ch) => ({ component: c.name, ...ch })));
  const withFacts = pins.filter((p) => existsSync(chartFactsFile(p.chart, p.version)));
  for (const p of pins) {
    const unknown = res.findings.some((f) => f.check === 'facts' && f.object === `chart ${p.chart}@${p.version}`);
    assert.is(unknown, !withFacts.includes(p), `${p.chart}@${p.version}`);
  }
  const lab = res.needs.get('lab')!;
  for (const p of withFacts) {
    const f = facts(p.chart, p.version)!;
    if (!(f.workloads ?? []).length || !model.clusters[0].enabled[p.component]) continue;
    assert.ok(
      lab.some((n) => n.group.component === p.component),
      `${p.component}: no pod group from ${p.chart}@${p.version}`,
    );
  }
  for (const f of res.findings) {
    for (const k of ['check', 'component', 'object', 'reason', 'phase'] as const) assert.ok(f[k], `${k} of ${JSON.stringify(f)}`);
  }
});

test.run();
