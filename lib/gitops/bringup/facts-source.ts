// Where the analysis reads chart facts by default: lib/gitops/chart-facts/<chart>@<version>.yaml
// (format: lib/gitops/chart-facts/README.md), through the facts loader (lib/gitops/chart-facts/load.ts).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { ChartFacts, FactsLookup } from './types.ts';
import { chartFactsFile, loadChartFacts } from '../chart-facts/load.ts';

export const defaultFactsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'chart-facts');

const cache = new Map<string, ChartFacts | undefined>();

/**
 * The catalog's facts through the facts loader (schema-validated, cached): a pin without a file
 * is undefined (the analysis reports it as an unknown pin), an invalid file throws.
 */
export function catalogFacts(): FactsLookup {
  return (chart, version) => (existsSync(chartFactsFile(chart, version)) ? (loadChartFacts(chart, version) as unknown as ChartFacts) : undefined);
}

/** facts files of another directory (test fixtures), read without the schema */
export function factsFromDir(dir: string = defaultFactsDir): FactsLookup {
  return (chart, version) => {
    const file = path.join(dir, `${chart}@${version}.yaml`);
    if (!cache.has(file)) {
      if (!existsSync(file)) cache.set(file, undefined);
      else {
        const f = YAML.parse(readFileSync(file, 'utf8')) as ChartFacts;
        if (!f || f.chart !== chart || String(f.version) !== version) throw new Error(`${file}: chart/version fields do not match the file name ${chart}@${version}`);
        cache.set(file, f);
      }
    }
    return cache.get(file);
  };
}
