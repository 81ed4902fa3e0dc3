// Checks the inventory's vars against what the roles document: every key of `vars.<name>` must be
// a key of that name's defaults, with a value of the default's type. The schema cannot do this
// (vars are open there, each role owns its keys), and a misspelled or made-up key would otherwise
// be ignored without a word: `vars.hardening.ssh_port` looked like it did something for months.
// Every problem is an InventoryIssue at the line of the offending key, raised before any host is
// touched.
import { InventoryError, formatPath, type FieldPath, type InventoryIssue } from './errors.ts';
import { isPlainObject } from './merge.ts';
import type { Inventory } from './model.ts';
import { provenanceOf } from './provenance.ts';
import type { RawInventory } from './raw.ts';
import { didYouMean } from './suggest.ts';

/** what a key without a telling default holds */
export type VarType = 'string' | 'number' | 'integer' | 'boolean' | 'list' | 'mapping' | 'scalar' | 'listOrString' | 'any';

export interface VarsSpec {
  /** the key under `vars:`: a role's name, or a settings group such as `capacity` */
  name: string;
  /** the documented defaults: their keys are the known keys, their values give the types */
  defaults: Record<string, unknown>;
  /** dotted paths of mappings whose keys are free (e.g. `sysctl.values`) */
  open?: string[];
  /** types of keys the defaults cannot tell (absent, or a null default), by dotted path */
  types?: Record<string, VarType>;
  /** what the key is, for "unknown key" messages (default: `role <name>`) */
  what?: string;
  /** the var is a single value of this type, not a mapping of settings */
  type?: VarType;
}

/** One place the inventory sets vars: where in the document, and what. */
export interface VarsLayer {
  path: FieldPath;
  vars: unknown;
}

/** The places host vars come from: top-level vars, group vars, host vars. */
export function hostVarsLayers(raw: RawInventory): VarsLayer[] {
  const layers: VarsLayer[] = [];
  if (raw.vars !== undefined) layers.push({ path: ['vars'], vars: raw.vars });
  for (const [name, group] of Object.entries(raw.groups ?? {})) {
    if (!Array.isArray(group) && group?.vars !== undefined) layers.push({ path: ['groups', name, 'vars'], vars: group.vars });
  }
  for (const [name, host] of Object.entries(raw.hosts ?? {})) {
    if (host?.vars !== undefined) layers.push({ path: ['hosts', name, 'vars'], vars: host.vars });
  }
  return layers;
}

/** The places cluster vars come from: `cluster.vars` or `clusters.<name>.vars`. */
export function clusterVarsLayers(raw: RawInventory): VarsLayer[] {
  const layers: VarsLayer[] = [];
  if (raw.cluster?.vars !== undefined) layers.push({ path: ['cluster', 'vars'], vars: raw.cluster.vars });
  for (const [name, c] of Object.entries(raw.clusters ?? {})) {
    if (c?.vars !== undefined) layers.push({ path: ['clusters', name, 'vars'], vars: c.vars });
  }
  return layers;
}

function typeOfDefault(v: unknown): VarType {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (Array.isArray(v)) return 'list';
  if (isPlainObject(v)) return 'mapping';
  return 'any';
}

const EXPECTED: Record<VarType, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  list: 'a list',
  mapping: 'a mapping',
  scalar: 'a string or a number',
  listOrString: 'a list or a single string',
  any: 'a value',
};

function fits(type: VarType, v: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    // null is "none" for lists and mappings, which the roles read as empty
    case 'list':
      return Array.isArray(v) || v === null;
    case 'mapping':
      return isPlainObject(v) || v === null;
    case 'scalar':
      return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
    case 'listOrString':
      return Array.isArray(v) || typeof v === 'string' || v === null;
    case 'any':
      return true;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (isPlainObject(v)) return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

export interface Problem {
  /** document path of the key */
  path: FieldPath;
  message: string;
  /** point at the key (unknown keys) or at the value (wrong types) */
  at: 'key' | 'value';
}

/** Problems of one layer of vars (a `vars:` mapping) against the specs of the names it may hold. */
export function layerProblems(layer: VarsLayer, specs: VarsSpec[], scope: string): Problem[] {
  const problems: Problem[] = [];
  if (layer.vars === null) return problems;
  if (!isPlainObject(layer.vars))
    return [{ path: layer.path, message: `expected a mapping of vars by role name, got ${describe(layer.vars)}`, at: 'value' }];
  const byName = new Map(specs.map((s) => [s.name, s]));
  for (const [name, value] of Object.entries(layer.vars)) {
    const spec = byName.get(name);
    const path = [...layer.path, name];
    if (!spec) {
      problems.push({
        path,
        message: `unknown ${scope} vars "${name}"${didYouMean(name, byName.keys())}: known are ${[...byName.keys()].join(', ')}`,
        at: 'key',
      });
      continue;
    }
    if (value === null) continue;
    if (spec.type) {
      if (!fits(spec.type, value)) problems.push({ path, message: `expected ${EXPECTED[spec.type]}, got ${describe(value)}`, at: 'value' });
      continue;
    }
    walk(spec, spec.defaults, value, [], path, problems);
  }
  return problems;
}

function walk(spec: VarsSpec, defaults: Record<string, unknown>, value: unknown, at: string[], path: FieldPath, problems: Problem[]): void {
  if (!isPlainObject(value)) {
    problems.push({
      path,
      message: `expected a mapping of ${spec.what ?? `role ${spec.name}`} settings, got ${describe(value)}`,
      at: 'value',
    });
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    const dotted = [...at, key].join('.');
    const keyPath = [...path, key];
    const known = Object.hasOwn(defaults, key) || spec.types?.[dotted] !== undefined;
    if (!known) {
      const where = at.length ? `${spec.name}.${at.join('.')}` : spec.name;
      const prefix = at.length ? `${at.join('.')}.` : '';
      const typed = Object.keys(spec.types ?? {})
        .filter((t) => t.startsWith(prefix) && !t.slice(prefix.length).includes('.'))
        .map((t) => t.slice(prefix.length));
      const candidates = [...new Set([...Object.keys(defaults), ...typed])];
      problems.push({
        path: keyPath,
        message: `unknown setting "${key}" of ${where}${didYouMean(key, candidates)}: known are ${candidates.join(', ')} (see the README of ${spec.what ?? `role ${spec.name}`})`,
        at: 'key',
      });
      continue;
    }
    const type = spec.types?.[dotted] ?? typeOfDefault(defaults[key]);
    if (!fits(type, v)) {
      problems.push({ path: keyPath, message: `expected ${EXPECTED[type]}, got ${describe(v)}`, at: 'value' });
      continue;
    }
    if (type === 'mapping' && isPlainObject(v) && !spec.open?.includes(dotted)) {
      const inner = isPlainObject(defaults[key]) ? (defaults[key] as Record<string, unknown>) : {};
      walk(spec, inner, v, [...at, key], keyPath, problems);
    }
  }
}

/** Turns problems into one InventoryError at their lines (when the inventory came from the loader). */
export function throwIfProblems(inventory: Inventory, problems: Problem[]): void {
  if (!problems.length) return;
  const source = provenanceOf(inventory)?.source;
  const issues: InventoryIssue[] = problems.map((p) => {
    const pos = source ? (p.at === 'key' ? source.locateKey(p.path) : source.locateValue(p.path)) : { line: 0, column: 0 };
    return {
      file: source?.file ?? inventory.file,
      line: pos.line,
      column: pos.column,
      path: formatPath(p.path),
      message: p.message,
      severity: 'error',
    };
  });
  throw new InventoryError(issues);
}

/**
 * Checks every vars layer of the inventory: host vars (top level, groups, hosts) against
 * `hostSpecs`, cluster vars against `clusterSpecs`. Inventories built without the loader (tests)
 * have no document: their merged host and cluster vars are checked instead, without lines.
 */
export function roleVarsProblems(inventory: Inventory, hostSpecs: VarsSpec[], clusterSpecs: VarsSpec[]): Problem[] {
  const raw = provenanceOf(inventory)?.raw;
  const hostLayers = raw ? hostVarsLayers(raw) : inventory.hosts.map((h) => ({ path: ['hosts', h.name, 'vars'], vars: h.vars }));
  const clusterLayers = raw
    ? clusterVarsLayers(raw)
    : inventory.clusters.map((c) => ({ path: ['clusters', c.name, 'vars'], vars: c.vars }));
  return [
    ...hostLayers.flatMap((l) => layerProblems(l, hostSpecs, 'host')),
    ...clusterLayers.flatMap((l) => layerProblems(l, clusterSpecs, 'cluster')),
  ];
}
