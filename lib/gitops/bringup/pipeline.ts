// Render + bring-up analysis, as `gitops.mjs render|check` and site.mjs's gitops step run it:
//   1. render (model quotas from the weight formula), analyse: every pod group of every namespace
//   2. namespaces whose every chart has facts get their quota from what their pods need
//      (quota.ts quotaFromNeed), and the cluster must hold them (CapacityError otherwise)
//   3. render again with those quotas (only the governance manifests change) and analyse again:
//      the findings of this pass are the answer.
import type { Inventory } from '../../inventory/model.ts';
import { buildModelWithAccess, prepareSecrets, renderModel, type RenderWithSecretsOptions, type PreparedSecrets } from '../index.ts';
import { renderFiles } from '../render.ts';
import { CATALOG } from '../catalog.ts';
import type { ClusterModel, RepoModel } from '../model.ts';
import { assertCapacityHolds, quotaFromNeed, type NamespaceNeed } from '../quota.ts';
import { bringupInputOf, manifestObjects } from './index.ts';
import { factsFromDir } from './facts-source.ts';
import { analyze, type BringupInput, type PodNeeds } from './simulate.ts';
import type { FactsLookup, Finding } from './types.ts';

export interface AnalyzedRender {
  files: Map<string, string>;
  model: RepoModel;
  secrets: PreparedSecrets;
  /** what keeps the repository from coming up: the render is refused */
  findings: Finding[];
  /** risks the catalog accepts with a reason (severity warning): printed, not blocking */
  warnings: Finding[];
  /** milliseconds the analysis (both passes, re-render included) added to the render */
  analysisMs: number;
  /** clusters without recorded access: their cluster Secret is not rendered (run without --skip-hosts to register them) */
  unregistered: string[];
}

/** namespaces whose needs are fully known: every chart of every component in it has facts */
function knownNamespaces(cluster: ClusterModel, facts: FactsLookup): Set<string> {
  const known = new Set<string>();
  for (const ns of cluster.namespaces) {
    const charts = ns.components.flatMap((c) => CATALOG.find((d) => d.name === c)?.charts ?? []);
    if (charts.every((ch) => facts(ch.chart, ch.version))) known.add(ns.name);
  }
  return known;
}

function needOf(mine: PodNeeds[]): NamespaceNeed {
  return {
    requests: {
      milliCpu: mine.reduce((s, n) => s + n.requests.milliCpu * n.pods, 0),
      memoryMi: mine.reduce((s, n) => s + n.requests.memoryMi * n.pods, 0),
    },
    limits: {
      milliCpu: mine.reduce((s, n) => s + n.limits.milliCpu * n.pods, 0),
      memoryMi: mine.reduce((s, n) => s + n.limits.memoryMi * n.pods, 0),
    },
    pods: mine.reduce((s, n) => s + n.pods, 0),
  };
}

/** sets each fully-known namespace's quota from its pods' needs; true when a quota changed */
export function sizeQuotas(model: RepoModel, needs: Map<string, PodNeeds[]>, facts: FactsLookup): boolean {
  let changed = false;
  for (const cluster of model.clusters) {
    const known = knownNamespaces(cluster, facts);
    const byNs = new Map<string, PodNeeds[]>();
    for (const n of needs.get(cluster.name) ?? []) byNs.set(n.group.namespace, [...(byNs.get(n.group.namespace) ?? []), n]);
    const nsNeeds = [...byNs].map(([namespace, mine]) => ({ namespace, need: needOf(mine) }));
    for (const ns of cluster.namespaces) {
      if (!ns.quota || !known.has(ns.name)) continue;
      const q = quotaFromNeed(needOf(byNs.get(ns.name) ?? []));
      if (JSON.stringify(q) !== JSON.stringify(ns.quota)) changed = true;
      ns.quota = q;
    }
    assertCapacityHolds(cluster.name, cluster.capacity, nsNeeds);
  }
  return changed;
}

/** what the bootstrap role does, read from the role (roles/argocd-bootstrap `bootstrapForAnalysis`) */
export type BootstrapFacts = NonNullable<BringupInput['bootstrap']> & {
  /** what the role writes before Argo CD's HelmChart, as YAML (see BringupInput.bootstrapObjects) */
  manifests: string;
};

export interface AnalyzeOptions {
  facts?: FactsLookup;
  /** the bootstrap of the rendered files; without it the analysis assumes a HelmChart that stays and no objects before it */
  bootstrap?: (files: Map<string, string>, model: RepoModel) => BootstrapFacts;
}

export async function renderAndAnalyze(inventory: Inventory, opts: RenderWithSecretsOptions & AnalyzeOptions): Promise<AnalyzedRender> {
  const model = await buildModelWithAccess(inventory, opts);
  const secrets = await prepareSecrets(model, { stateDir: opts.stateDir, sealingKeyOptions: opts.sealingKeyOptions });
  const started = performance.now();
  const facts = opts.facts ?? factsFromDir();
  const inputOf = (files: Map<string, string>): BringupInput => {
    const input = bringupInputOf(inventory, model, files, facts);
    if (!opts.bootstrap) return input;
    const { manifests, ...bootstrap } = opts.bootstrap(files, model);
    return { ...input, bootstrap, bootstrapObjects: manifestObjects('bootstrap (K3s manifests directory)', manifests) };
  };
  // pass 1 on an unvalidated render: only the pods' needs are wanted from it
  const draft = renderFiles({ model, templateDir: opts.templateDir, sealedSecrets: secrets.sealed });
  const pass1 = analyze(inputOf(draft));
  const resized = sizeQuotas(model, pass1.needs, facts);
  const analysisMs = performance.now() - started;
  // the render every run does anyway (validated), now with the sized quotas
  const files = renderModel(model, { templateDir: opts.templateDir, sealedSecrets: secrets.sealed, validate: opts.validate });
  const again = performance.now();
  const all = resized ? analyze(inputOf(files)).findings : pass1.findings;
  const findings = all.filter((f) => f.severity !== 'warning');
  const warnings = all.filter((f) => f.severity === 'warning');
  return {
    files,
    model,
    secrets,
    findings,
    warnings,
    analysisMs: analysisMs + (performance.now() - again),
    unregistered: [...model.unregistered],
  };
}
