import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { allChartFacts, valuesKeyKnown, type ChartFacts } from '../../lib/gitops/chart-facts/load.ts';

// A facts file is read by hand from the chart's templates; a mistyped values path in a `when` or a
// value reference would make the bring-up analysis silently read nothing there (a workload
// dropped, a default taken). Every path a facts file points at must be a key the chart knows.

const whenPaths = (when: string | null | undefined): string[] => (when ? when.split(/&&|\|\|/).map((p) => p.trim().replace(/^!/, '')) : []);

type Ref = { path?: string; or?: string[] } | undefined;
const refPaths = (ref: unknown): string[] => {
  if (!ref || typeof ref !== 'object') return [];
  const r = ref as NonNullable<Ref>;
  return [...(r.path ? [r.path] : []), ...(r.or ?? [])];
};

/** "<chart>@<version> <where>: <path>" for every referenced values path the chart does not know. */
function unknownReferences(facts: ChartFacts): string[] {
  const refs: [string, string][] = [];
  const add = (where: string, paths: string[]) => paths.forEach((p) => refs.push([where, p]));
  for (const w of facts.workloads) {
    add(`workload ${w.name} when`, whenPaths(w.when));
    for (const k of ['replicas', 'priorityClassName', 'nodeSelector', 'tolerations', 'affinity', 'serviceAccount'] as const) {
      add(`workload ${w.name} ${k}`, refPaths(w[k]));
    }
    for (const c of w.containers) {
      add(`workload ${w.name} container ${c.name} when`, whenPaths(c.when));
      add(`workload ${w.name} container ${c.name} image`, c.image.path ? [c.image.path] : []);
      add(`workload ${w.name} container ${c.name} resources`, refPaths(c.resources));
    }
  }
  for (const c of facts.crds) add(`crd ${c.name} when`, whenPaths(c.when));
  for (const s of facts.services) add(`service ${s.name} when`, whenPaths(s.when));
  for (const o of facts.objects ?? []) add(`object ${o.kind} ${o.name} when`, whenPaths(o.when));
  for (const u of facts.uses ?? []) {
    add(`uses ${u.kind} when`, whenPaths(u.when));
    add(`uses ${u.kind} name`, refPaths(u.name));
  }
  for (const i of facts.images) add(`image ${i.ref} when`, whenPaths(i.when));
  return refs.filter(([, p]) => !valuesKeyKnown(facts, p)).map(([where, p]) => `${facts.chart}@${facts.version} ${where}: ${p}`);
}

test('every values path a facts file refers to (when, value references, image paths) is a key of that chart', () => {
  const all = allChartFacts();
  assert.ok(all.length > 0);
  const problems = all.flatMap(unknownReferences);
  assert.equal(problems, [], problems.join('\n'));
});

test('a mistyped path in a facts file is reported with chart, place and path', () => {
  const real = allChartFacts().find((f) => f.workloads.some((w) => w.when));
  assert.ok(real, 'some facts file has a conditional workload');
  const copy = structuredClone(real!) as ChartFacts;
  const w = copy.workloads.find((x) => x.when)!;
  w.when = `${w.when} && notAKey.ofThisChart`;
  w.containers[0].resources = { path: 'alsoNot.aKey', default: {} };
  assert.equal(unknownReferences(copy), [
    `${copy.chart}@${copy.version} workload ${w.name} when: notAKey.ofThisChart`,
    `${copy.chart}@${copy.version} workload ${w.name} container ${w.containers[0].name} resources: alsoNot.aKey`,
  ]);
});

test.run();
