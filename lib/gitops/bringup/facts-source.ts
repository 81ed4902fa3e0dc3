// Where the analysis reads chart facts by default: lib/gitops/chart-facts/<chart>@<version>.yaml
// (format: lib/gitops/chart-facts/README.md). Files are parsed once per process, so a second
// analysis in the same run costs no I/O. Schema validation is the facts loader's job
// (lib/gitops/chart-facts/load.ts); this reader only needs the fields the analysis uses.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { ChartFacts, FactsLookup } from './types.ts';

export const defaultFactsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'chart-facts');

const cache = new Map<string, ChartFacts | undefined>();

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
