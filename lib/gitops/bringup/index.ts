// The bring-up analysis: "will this rendered repository converge on this inventory's cluster?"
// See README.md here for what it proves and what only a real cluster proves.
import type { Inventory } from '../../inventory/model.ts';
import type { RepoModel } from '../model.ts';
import { catalogFacts, factsFromDir } from './facts-source.ts';
import { declaredCapacity, embeddedEtcdOf, hostPackagesOf, k3sDisableOf } from './host-side.ts';
import { analyze, type BringupInput, type BringupResult } from './simulate.ts';
import type { FactsLookup, Finding } from './types.ts';
import { parseDocs, type K8sObject } from './objects.ts';
import { UserError } from '../../report/user-error.ts';

export class BringupError extends UserError {
  constructor(readonly findings: Finding[]) {
    super(
      `bring-up analysis: the repository would not come up (${findings.length} finding${findings.length === 1 ? '' : 's'})\n${formatFindings(findings)}`,
    );
  }
}

/** the analysis inputs the inventory gives (host packages, K3s disables, node capacity) */
export function bringupInputOf(
  inv: Inventory,
  model: RepoModel,
  files: Map<string, string>,
  facts: FactsLookup = factsFromDir(),
  bootstrapObjects?: K8sObject[],
): BringupInput {
  return {
    model,
    files,
    facts,
    k3sDisable: k3sDisableOf(inv),
    embeddedEtcd: embeddedEtcdOf(inv),
    hostPackages: hostPackagesOf(inv),
    nodeCapacity: declaredCapacity(inv),
    bootstrapObjects,
  };
}

export function analyzeBringup(input: BringupInput): BringupResult {
  return analyze(input);
}

export function formatFindings(findings: Finding[]): string {
  const byPhase = new Map<string, Finding[]>();
  for (const f of findings) byPhase.set(f.phase, [...(byPhase.get(f.phase) ?? []), f]);
  const lines: string[] = [];
  for (const [phase, list] of byPhase) {
    lines.push(`${phase}:`);
    for (const f of list)
      lines.push(
        `  [${f.check}${f.severity ? `, ${f.severity}` : ''}] ${f.component}: ${f.object}: ${f.field ? `${f.field}: ` : ''}${f.reason}`,
      );
  }
  return lines.join('\n');
}

/** the objects of manifests (YAML text, e.g. what the bootstrap role writes before Argo CD) */
export function manifestObjects(name: string, yaml: string): K8sObject[] {
  return parseDocs(name, yaml);
}

export { analyze, catalogFacts, factsFromDir };
export type { BringupInput, BringupResult, Finding, FactsLookup };
export type { ChartFacts } from './types.ts';
