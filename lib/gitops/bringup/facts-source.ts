// Where the analysis reads chart facts by default: lib/gitops/chart-facts/<chart>@<version>.yaml
// (format: lib/gitops/chart-facts/README.md), through the facts loader (lib/gitops/chart-facts/load.ts).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { ChartFacts, FactsLookup, PlainImageFacts } from './types.ts';
import { chartFactsFile, loadChartFacts, loadPlainImages } from '../chart-facts/load.ts';

export const defaultFactsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'chart-facts');

const cache = new Map<string, ChartFacts | undefined>();

/**
 * The catalog's facts through the facts loader (schema-validated): a pin without a file is
 * undefined (the analysis reports it as an unknown pin), an invalid file throws. The render hook
 * uses factsFromDir() instead: the schema check of every facts file is a test
 * (test/unit/chart-facts*.test.ts), and compiling the schema costs more than the analysis.
 */
export function catalogFacts(): FactsLookup {
  const lookup: FactsLookup = (chart, version) =>
    existsSync(chartFactsFile(chart, version)) ? (loadChartFacts(chart, version) as unknown as ChartFacts) : undefined;
  lookup.plainImages = () => loadPlainImages();
  return lookup;
}

// Parsing the large facts files with `yaml` costs ~0.3 s per render: the parsed form is kept as
// JSON under the user's cache directory, keyed by the file's content hash (a changed file misses)
const cacheDir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'clusterseed', 'chart-facts');

function parseCached(text: string): ChartFacts {
  const key = createHash('sha256').update(text).digest('hex');
  const file = path.join(cacheDir, `${key}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ChartFacts;
  } catch {
    const facts = YAML.parse(text) as ChartFacts;
    try {
      mkdirSync(cacheDir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(facts));
      renameSync(tmp, file);
    } catch {
      // a read-only home only costs speed
    }
    return facts;
  }
}

/** values.keys / values.open may be block strings, one key a line, # comments (as load.ts reads them) */
function normalise(f: ChartFacts): ChartFacts {
  const list = (v: unknown): string[] | undefined =>
    typeof v === 'string'
      ? v
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '' && !l.startsWith('#'))
      : (v as string[] | undefined);
  if (f?.values) f.values = { ...f.values, keys: list(f.values.keys) ?? [], open: list(f.values.open) };
  return f;
}

/** facts files of another directory (test fixtures), read without the schema */
export function factsFromDir(dir: string = defaultFactsDir): FactsLookup {
  const lookup: FactsLookup = (chart, version) => {
    const file = path.join(dir, `${chart}@${version}.yaml`);
    if (!cache.has(file)) {
      if (!existsSync(file)) cache.set(file, undefined);
      else {
        const f = normalise(parseCached(readFileSync(file, 'utf8')));
        if (!f || f.chart !== chart || String(f.version) !== version)
          throw new Error(`${file}: chart/version fields do not match the file name ${chart}@${version}`);
        cache.set(file, f);
      }
    }
    return cache.get(file);
  };
  // images outside charts: plain-images.yaml of the same directory (none when it has no such file)
  lookup.plainImages = () => {
    const file = path.join(dir, 'plain-images.yaml');
    if (!plainCache.has(file))
      plainCache.set(
        file,
        existsSync(file) ? ((parseCached(readFileSync(file, 'utf8')) as unknown as { images?: PlainImageFacts[] }).images ?? []) : [],
      );
    return plainCache.get(file)!;
  };
  return lookup;
}

const plainCache = new Map<string, PlainImageFacts[]>();
