// Loads the per-chart facts files (lib/gitops/chart-facts/<chart>@<version>.yaml), validates them
// against schemas/chart-facts.schema.json and answers whether a values key exists in a chart.
// Parsed files are cached: the bring-up analysis asks for them on every render.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020Import from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';

// ajv is a CommonJS module with a `default` export
const Ajv2020 = Ajv2020Import.default ?? Ajv2020Import;

export const chartFactsDir = fileURLToPath(new URL('.', import.meta.url));
export const chartFactsSchemaFile = fileURLToPath(new URL('../../../schemas/chart-facts.schema.json', import.meta.url));

/** A value read from the merged values at `path` (then each of `or` while empty), else `default`. */
export interface ValueRef {
  path?: string;
  or?: string[];
  default?: unknown;
  comment?: string;
}

/** values path that must be truthy ("!" prefix: falsy; "a && b"; "a || b"); null/undefined = always */
export type When = string | null | undefined;

export interface FactsContainer {
  name: string;
  init?: boolean;
  when?: When;
  image: { path?: string; ref: string };
  /** {} as default = no resources: the namespace's LimitRange defaults apply */
  resources: ValueRef;
  /** resources a chart builds from scalar values (README: resourcesFrom); each set one replaces that field */
  resourcesFrom?: ResourcesFrom;
}

/** e.g. KubeSpawner: requests.memory from singleuser.memory.guarantee */
export interface ResourcesFrom {
  'requests.cpu'?: ValueRef;
  'requests.memory'?: ValueRef;
  'limits.cpu'?: ValueRef;
  'limits.memory'?: ValueRef;
  /** binary: byte suffixes K/M/G/T are powers of 1024 (JupyterHub's ByteSpecification), not Kubernetes' powers of 1000 */
  byteSuffixes?: 'binary';
  comment?: string;
}

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'Job' | 'CronJob' | 'Pod' | 'ReplicaSet';

export interface FactsWorkload {
  kind: WorkloadKind;
  /** {release} = Helm release name, {fullname} = chart fullname, {namespace} = release namespace */
  name: string;
  when?: When;
  /** helm.sh/hook value, only for Helm hooks */
  hook?: string;
  hookWeight?: number | string;
  hookDeletePolicy?: string;
  replicas?: ValueRef;
  maxSurge?: number | string;
  priorityClassName?: ValueRef;
  nodeSelector?: ValueRef;
  tolerations?: ValueRef;
  affinity?: ValueRef;
  serviceAccount?: ValueRef;
  containers: FactsContainer[];
  /** not rendered by Helm: created at run time by this workload of the chart (an operator's pods) */
  createdBy?: string;
  from?: string;
  comment?: string;
}

export interface ChartFacts {
  chart: string;
  version: string;
  repoURL: string;
  source: { repo: string; tag: string; commit: string; path: string; read: string };
  /** true, or why not (deprecated, archived, ...) */
  maintained: true | string;
  values: {
    /** in the file: a list or a block string (one key a line); always a list once loaded */
    keys: string[];
    open: string[];
    extra?: { key: string; template: string; open?: boolean }[];
    /** false, or where the chart renders unknown keys as-is */
    passthrough: false | string;
    /** the chart's defaults of the paths `when:` conditions read, by dotted path */
    defaults?: Record<string, unknown>;
  };
  crds: { name: string; when?: When; from?: string }[];
  workloads: FactsWorkload[];
  services: { name: string; when?: When; type?: ValueRef; ports?: (number | string)[]; comment?: string }[];
  objects?: { kind: string; name: string; when?: When; hook?: string; comment?: string }[];
  uses?: { kind: string; name: ValueRef; when?: When; comment?: string }[];
  hostRequirements?: { what: string; workloads: string[]; when?: When; why: string }[];
  images: { ref: string; when?: When; platforms: string[]; platformsFrom: string }[];
  notes?: string[];
}

const validators = new Map<string, ValidateFunction>();
function validate(schemaFile = chartFactsSchemaFile): ValidateFunction {
  let v = validators.get(schemaFile);
  if (!v) {
    const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
    v = ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')) as object);
    validators.set(schemaFile, v);
  }
  return v;
}

export const plainImagesFile = path.join(chartFactsDir, 'plain-images.yaml');
export const plainImagesSchemaFile = fileURLToPath(new URL('../../../schemas/plain-images.schema.json', import.meta.url));

/** An image the catalog's own manifests use outside any chart (plain-images.yaml). */
export interface PlainImage {
  ref: string;
  platforms: string[];
  platformsFrom: string;
  usedBy: string;
}

/** The YAML document of a facts file, with line positions; a syntax error names file, line, column. */
function parseYaml(file: string, text: string) {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const at = e.linePos?.[0];
    throw new Error(`${rel(file)}${at ? `:${at.line}:${at.col}` : ''}: not valid YAML: ${e.message.split('\n')[0]}`);
  }
  return { doc, lines };
}

/** Parses and validates plain-images.yaml's text; errors name the file, line and field. */
export function parsePlainImagesFile(file: string, text: string): PlainImage[] {
  const { doc, lines } = parseYaml(file, text);
  const data = doc.toJS() as unknown;
  const check = validate(plainImagesSchemaFile);
  if (!check(data)) {
    const messages = (check.errors ?? []).filter(keepError).map((e) => describe(file, doc, lines, e));
    throw new Error(`${rel(file)}: invalid image facts:\n  ${[...new Set(messages)].join('\n  ')}`);
  }
  return (data as { images: PlainImage[] }).images;
}

/** The images outside charts (lib/gitops/chart-facts/plain-images.yaml), validated. */
export function loadPlainImages(file = plainImagesFile): PlainImage[] {
  return existsSync(file) ? parsePlainImagesFile(file, readFileSync(file, 'utf8')) : [];
}

export function chartFactsFile(chart: string, version: string): string {
  return path.join(chartFactsDir, `${chart}@${version}.yaml`);
}

const byFile = new Map<string, ChartFacts>();

/** The facts of one pinned chart version; throws an Error naming the missing/invalid file and field. */
export function loadChartFacts(chart: string, version: string): ChartFacts {
  const file = chartFactsFile(chart, version);
  const hit = byFile.get(file);
  if (hit) return hit;
  if (!existsSync(file)) {
    throw new Error(
      `${rel(file)}: missing: no chart facts for ${chart} ${version} (read the chart at that tag upstream and write this file; see lib/gitops/chart-facts/README.md)`,
    );
  }
  const facts = parseFactsFile(file, readFileSync(file, 'utf8'));
  if (facts.chart !== chart || facts.version !== version) {
    throw new Error(`${rel(file)}: chart/version: the file says ${facts.chart} ${facts.version}, its name says ${chart} ${version}`);
  }
  byFile.set(file, facts);
  return facts;
}

/** Every facts file in lib/gitops/chart-facts/, validated. */
export function allChartFacts(): ChartFacts[] {
  return readdirSync(chartFactsDir)
    .filter((f) => /^[^@]+@[^@]+\.yaml$/.test(f))
    .sort()
    .map((f) => {
      const [chart, version] = f.slice(0, -'.yaml'.length).split('@') as [string, string];
      return loadChartFacts(chart, version);
    });
}

/** Parses and validates one facts file's text; errors name the file, line and field. */
export function parseFactsFile(file: string, text: string): ChartFacts {
  const { doc, lines } = parseYaml(file, text);
  const data = doc.toJS() as unknown;
  const check = validate();
  if (!check(data)) {
    const messages = (check.errors ?? []).filter(keepError).map((e) => describe(file, doc, lines, e));
    throw new Error(`${rel(file)}: invalid chart facts:\n  ${[...new Set(messages)].join('\n  ')}`);
  }
  const facts = data as ChartFacts & { values: { keys: string[] | string; open: string[] | string } };
  facts.values.keys = keyList(file, 'values.keys', facts.values.keys);
  facts.values.open = keyList(file, 'values.open', facts.values.open);
  return facts;
}

/** keys/open as written: a list, or a block string with one key a line and # comment lines */
function keyList(file: string, field: string, v: string[] | string): string[] {
  if (Array.isArray(v)) return v;
  const keys = v
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const bad = keys.find((k) => /\s/.test(k));
  if (bad !== undefined) throw new Error(`${rel(file)}: ${field}: "${bad}" is not a key path (one key a line, # for comments)`);
  return keys;
}

// oneOf reports every branch; the branch errors below it say more than "must match one schema"
function keepError(e: ErrorObject): boolean {
  return e.keyword !== 'oneOf' && e.keyword !== 'if';
}

function describe(file: string, doc: Document, lines: LineCounter, e: ErrorObject): string {
  const segments = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const field = segments.length ? segments.join('.') : '(top level)';
  const node = doc.getIn(
    segments.map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
    true,
  ) as { range?: [number, number, number] } | undefined;
  let at = '';
  const offset = node && (isMap(node) || isSeq(node) || 'range' in node) ? node.range?.[0] : undefined;
  if (offset !== undefined) {
    const pos = lines.linePos(offset);
    at = `:${pos.line}:${pos.col}`;
  }
  let what = e.message ?? e.keyword;
  if (e.keyword === 'additionalProperties')
    what = `unknown field "${String((e.params as { additionalProperty: string }).additionalProperty)}"`;
  if (e.keyword === 'required') what = `missing field "${String((e.params as { missingProperty: string }).missingProperty)}"`;
  if (e.keyword === 'const' || e.keyword === 'enum')
    what = `${what}: ${JSON.stringify((e.params as { allowedValue?: unknown; allowedValues?: unknown }).allowedValue ?? (e.params as { allowedValues?: unknown }).allowedValues)}`;
  return `${rel(file)}${at}: ${field}: ${what}`;
}

function rel(file: string): string {
  const r = path.relative(process.cwd(), file);
  return r.startsWith('..') ? file : r;
}

interface KeyIndex {
  keys: Set<string>;
  /** every proper prefix of a key: a rendered empty map there is a known (intermediate) key */
  parents: Set<string>;
  /** open maps and extra keys marked open: any key below is accepted */
  open: string[];
}
const indexes = new WeakMap<ChartFacts, KeyIndex>();

function index(facts: ChartFacts): KeyIndex {
  let ix = indexes.get(facts);
  if (ix) return ix;
  const keys = new Set(facts.values.keys);
  for (const e of facts.values.extra ?? []) keys.add(e.key);
  const parents = new Set<string>();
  for (const k of keys) {
    for (let i = k.indexOf('.'); i > 0; i = k.indexOf('.', i + 1)) parents.add(k.slice(0, i));
  }
  const open = [...facts.values.open, ...(facts.values.extra ?? []).filter((e) => e.open).map((e) => e.key)];
  ix = { keys, parents, open };
  indexes.set(facts, ix);
  return ix;
}

/**
 * Does the chart know the dotted values key path? True when values.yaml has it (or it is an
 * intermediate map of one), it sits below an open map, it is one of the keys the templates read
 * that values.yaml only documents, or the chart passes unknown keys through.
 */
export function valuesKeyKnown(facts: ChartFacts, dottedPath: string): boolean {
  if (facts.values.passthrough !== false) return true;
  const ix = index(facts);
  if (ix.keys.has(dottedPath) || ix.parents.has(dottedPath)) return true;
  return ix.open.some((o) => dottedPath === o || dottedPath.startsWith(`${o}.`));
}

/**
 * Dotted key paths of a values document, as valuesKeyKnown expects them: maps are descended,
 * lists and scalars are leaves, an empty map is a leaf.
 */
export function valuesKeyPaths(values: unknown, prefix = ''): string[] {
  if (values === null || typeof values !== 'object' || Array.isArray(values)) return prefix ? [prefix] : [];
  const entries = Object.entries(values as Record<string, unknown>);
  if (entries.length === 0) return prefix ? [prefix] : [];
  return entries.flatMap(([k, v]) => valuesKeyPaths(v, prefix ? `${prefix}.${k}` : k));
}
