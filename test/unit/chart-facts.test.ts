// Every chart the catalog pins has a facts file for exactly that version (a Renovate bump of a pin
// fails here until the facts are refreshed), every facts file is valid, and every key of every
// rendered values file exists in the pinned chart (unless the chart passes unknown keys through).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ARGOCD_CHART, CATALOG, type ChartRef } from '../../lib/gitops/catalog.ts';
import { renderRepoWithSecrets } from '../../lib/gitops/index.ts';
import {
  allChartFacts,
  chartFactsFile,
  loadChartFacts,
  parseFactsFile,
  valuesKeyKnown,
  valuesKeyPaths,
  type ChartFacts,
} from '../../lib/gitops/chart-facts/load.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import { defaults as bootstrapDefaults } from '../../roles/argocd-bootstrap/index.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { everything } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';
import { existsSync, readFileSync, readdirSync } from 'node:fs';

const pinned: { component: string; chart: ChartRef }[] = [
  { component: 'argocd (bootstrap)', chart: ARGOCD_CHART },
  // the root Application, rendered by the bootstrap's second HelmChart
  {
    component: 'argocd-apps (bootstrap)',
    chart: {
      repoURL: bootstrapDefaults.argocd_apps_chart.repo,
      chart: bootstrapDefaults.argocd_apps_chart.chart,
      version: bootstrapDefaults.argocd_apps_chart.version,
      valuesFile: 'values.yaml',
    },
  },
  ...CATALOG.flatMap((c) => c.charts.map((chart) => ({ component: c.name, chart }))),
];

const sameRepo = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

test('every pinned chart has a valid facts file for exactly its version, from the same repository', () => {
  const problems: string[] = [];
  for (const { component, chart } of pinned) {
    try {
      const facts = loadChartFacts(chart.chart, chart.version);
      if (!sameRepo(facts.repoURL, chart.repoURL)) {
        problems.push(
          `${component}: ${path.relative(process.cwd(), chartFactsFile(chart.chart, chart.version))}: repoURL ${facts.repoURL}, the catalog pins ${chart.repoURL}`,
        );
      }
    } catch (e) {
      problems.push(`${component}: chart ${chart.chart} ${chart.version}: ${(e as Error).message}`);
    }
  }
  if (problems.length) assert.unreachable(`${problems.length} pinned chart(s) without valid facts:\n${problems.join('\n')}`);
});

test('every facts file validates, names itself correctly, and validating them all warm is well under 100 ms', () => {
  const dir = path.resolve('lib/gitops/chart-facts');
  // plain-images.yaml has its own format and schema (validated in bringup-wire.test.ts)
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'plain-images.yaml');
  const problems: string[] = [];
  for (const f of files) {
    if (!/^[^@]+@[^@]+\.yaml$/.test(f)) problems.push(`${f}: not named <chart>@<version>.yaml`);
    try {
      const facts = parseFactsFile(path.join(dir, f), readFileSync(path.join(dir, f), 'utf8'));
      if (`${facts.chart}@${facts.version}.yaml` !== f) problems.push(`${f}: says chart ${facts.chart} version ${facts.version}`);
      // every workload's container images are listed with their platforms
      const listed = new Set(facts.images.map((i) => i.ref));
      for (const w of facts.workloads) {
        for (const c of w.containers)
          if (!listed.has(c.image.ref))
            problems.push(`${f}: workload ${w.name} container ${c.name}: image ${c.image.ref} not in images (platforms unknown)`);
      }
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (problems.length) assert.unreachable(problems.join('\n'));
  allChartFacts();
  const t0 = performance.now();
  const all = allChartFacts();
  const ms = performance.now() - t0;
  assert.is(all.length, files.length);
  assert.ok(ms < 100, `allChartFacts() took ${ms.toFixed(1)} ms warm`);
});

interface HelmSource {
  chart?: string;
  targetRevision?: string;
  helm?: { valueFiles?: string[]; values?: string; valuesObject?: unknown };
}

/** Every key of every values file the rendered Applications hand to a pinned chart, checked. */
function unknownValuesKeys(files: Map<string, string>): string[] {
  const problems: string[] = [];
  const missing = new Set<string>();
  for (const [file, text] of files) {
    if (!file.endsWith('.yaml') || !text.includes('kind: Application')) continue;
    for (const doc of parseAllDocuments(text)) {
      const app = doc.toJS() as {
        kind?: string;
        metadata?: { name?: string; labels?: Record<string, string> };
        spec?: { source?: HelmSource; sources?: HelmSource[] };
      } | null;
      if (app?.kind !== 'Application') continue;
      const component = app.metadata?.labels?.['clusterseed.io/component'] ?? app.metadata?.name ?? file;
      for (const src of [...(app.spec?.sources ?? []), ...(app.spec?.source ? [app.spec.source] : [])]) {
        if (!src.chart || !src.targetRevision) continue;
        let facts: ChartFacts;
        try {
          facts = loadChartFacts(src.chart, src.targetRevision);
        } catch (e) {
          missing.add(`${component}: chart ${src.chart} ${src.targetRevision}: ${(e as Error).message}`);
          continue;
        }
        const docs: [string, unknown][] = (src.helm?.valueFiles ?? []).map((v) => {
          const rel = v.replace(/^\$values\//, '');
          const content = files.get(rel);
          if (content === undefined) problems.push(`${component}: ${file}: values file ${rel} is not in the rendered repo`);
          return [rel, parseAllDocuments(content ?? '')[0]?.toJS() ?? {}];
        });
        if (src.helm?.valuesObject) docs.push([`${file} (helm.valuesObject)`, src.helm.valuesObject]);
        if (src.helm?.values) docs.push([`${file} (helm.values)`, parseAllDocuments(src.helm.values)[0]?.toJS() ?? {}]);
        for (const [where, values] of docs) {
          for (const key of valuesKeyPaths(values)) {
            if (!valuesKeyKnown(facts, key))
              problems.push(
                `${component}: ${where}: key ${key} is not in ${src.chart} ${src.targetRevision}'s values.yaml (facts: ${path.relative(process.cwd(), chartFactsFile(src.chart, src.targetRevision))})`,
              );
          }
        }
      }
    }
  }
  return [...missing, ...new Set(problems)];
}

const state = tempDir('chart-facts');
const renderFiles = async (inv: Inventory) =>
  (await renderRepoWithSecrets(inv, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS })).files;

const ALL_COMPONENTS = path.resolve('test/fixtures/inventory/good/all-components.yaml');

for (const [name, inventory] of [
  ['the shipped inventory.yaml', () => loadInventory(path.resolve('inventory.yaml'))],
  [
    existsSync(ALL_COMPONENTS)
      ? 'the all-components inventory (test/fixtures/inventory/good/all-components.yaml)'
      : 'the all-components inventory (test/fixtures/gitops/inventories.ts everything())',
    async () => (existsSync(ALL_COMPONENTS) ? loadInventory(ALL_COMPONENTS) : everything()),
  ],
] as const) {
  test(`${name}: every rendered values key exists in its pinned chart`, async () => {
    const problems = unknownValuesKeys(await renderFiles(await inventory()));
    if (problems.length) assert.unreachable(`${problems.length} problem(s):\n${problems.join('\n')}`);
  });
}

test('the values check reports a chart without facts, naming component and file', () => {
  const files = new Map([
    ['clusters/c/apps/demo.yaml', APP],
    ['platform/demo/values.yaml', 'replicaCount: 2\nreplicas: 3\n'],
  ]);
  const problems = unknownValuesKeys(files);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^demo: chart demo 1\.0\.0: lib\/gitops\/chart-facts\/demo@1\.0\.0\.yaml: missing/);
});

test('the values check names component, values file and key of an unknown key, for a pinned chart', () => {
  const { chart } = pinned[0]!;
  if (!existsSync(chartFactsFile(chart.chart, chart.version))) {
    assert.unreachable(`facts for ${chart.chart} ${chart.version} are missing (see the first test)`);
  }
  const files = new Map([
    [
      'clusters/c/apps/argocd.yaml',
      APP.replace('chart: demo', `chart: ${chart.chart}`).replace('targetRevision: 1.0.0', `targetRevision: ${chart.version}`),
    ],
    ['platform/demo/values.yaml', 'global:\n  priorityClassName: x\n  noSuchKey: 1\n'],
  ]);
  assert.equal(unknownValuesKeys(files), [
    `demo: platform/demo/values.yaml: key global.noSuchKey is not in ${chart.chart} ${chart.version}'s values.yaml (facts: lib/gitops/chart-facts/${chart.chart}@${chart.version}.yaml)`,
  ]);
});

const APP = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: c-demo
  labels: { clusterseed.io/component: demo }
spec:
  sources:
    - repoURL: https://charts.example.org
      chart: demo
      targetRevision: 1.0.0
      helm: { releaseName: demo, valueFiles: ["$values/platform/demo/values.yaml"] }
`;

test.run();
