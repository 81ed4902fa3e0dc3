// Checks the inventory's vars against what the roles declare (lib/settings/declare.ts): every key of
// `vars.<name>` must be a key of that name's defaults.yaml, with a value of the default's type (or
// of the declared rule where the default cannot tell: a range, a choice, null allowed). The schema cannot do this
// (vars are open there, each role owns its keys), and a misspelled or made-up key would otherwise
// be ignored without a word: `vars.hardening.ssh_port` looked like it did something for months.
// Every problem is an InventoryIssue at the line of the offending key, raised before any host is
// touched.
import { InventoryError, type FieldPath } from '../inventory/errors.ts';
import { isPlainObject } from '../inventory/merge.ts';
import type { Inventory } from '../inventory/model.ts';
import { issueAt, provenanceOf } from '../inventory/provenance.ts';
import type { RawInventory } from '../inventory/raw.ts';
import { didYouMean } from '../inventory/suggest.ts';

/** what a key without a telling default holds */
export type VarType = 'string' | 'number' | 'integer' | 'boolean' | 'list' | 'mapping' | 'scalar' | 'listOrString' | 'any';

/** What a default cannot say about a setting: its type, a range of numbers, a choice of strings, null allowed. */
export interface VarRule {
  type: VarType;
  /** smallest and largest number (inclusive) */
  min?: number;
  max?: number;
  /** the strings it may be */
  oneOf?: readonly string[];
  /** null means "none" (or "decided by clusterseed") */
  nullable?: boolean;
  /** `false` turns the setting off (and `true` keeps a mapping's defaults) */
  off?: boolean;
}

export interface VarsSpec {
  /** the key under `vars:`: a role's name, or a settings group such as `capacity` */
  name: string;
  /** the documented defaults: their keys are the known keys, their values give the types */
  defaults: Record<string, unknown>;
  /** dotted paths of mappings whose keys are free (e.g. `sysctl.values`) */
  open?: string[];
  /** types or rules of keys the defaults cannot tell (absent, or a null default, or a range), by dotted path */
  types?: Record<string, VarType | VarRule>;
  /** what the key is, for "unknown key" messages (default: `role <name>`) */
  what?: string;
  /** where its settings are explained (default: the README of role <name>) */
  readme?: string;
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

function ruleOf(t: VarType | VarRule): VarRule {
  return typeof t === 'string' ? { type: t } : t;
}

/** What the value should have been, or undefined when it fits the rule. */
export function ruleProblem(rule: VarRule, v: unknown): string | undefined {
  if (v === null && rule.nullable) return undefined;
  if (rule.off && (v === false || (v === true && rule.type === 'mapping'))) return undefined;
  const expected = (): string => {
    const base =
      rule.oneOf && rule.type === 'string'
        ? `one of ${rule.oneOf.join(', ')}`
        : rule.min !== undefined && rule.max !== undefined
          ? `${rule.type === 'integer' ? 'an integer' : 'a number'} from ${rule.min} to ${rule.max}`
          : rule.min !== undefined
            ? `${rule.type === 'integer' ? 'a whole number' : 'a number'} >= ${rule.min}`
            : EXPECTED[rule.type];
    const off = rule.off ? (rule.type === 'mapping' ? `, true or false` : ' or false') : '';
    return `${base}${off}${rule.nullable ? ' or null' : ''}`;
  };
  if (!fits(rule.type, v) || (v === null && (rule.type === 'list' || rule.type === 'mapping') && rule.nullable === false))
    return expected();
  if (typeof v === 'number' && ((rule.min !== undefined && v < rule.min) || (rule.max !== undefined && v > rule.max))) return expected();
  if (typeof v === 'string' && rule.oneOf && !rule.oneOf.includes(v)) return expected();
  return undefined;
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
    if (!Object.keys(spec.defaults).length && !spec.types && isPlainObject(value)) {
      for (const key of Object.keys(value))
        problems.push({
          path: [...path, key],
          message: `unknown setting "${key}": ${spec.what ?? `role ${spec.name}`} has no settings (see ${spec.readme ?? 'its README'})`,
          at: 'key',
        });
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
        message: `unknown setting "${key}" of ${where}${didYouMean(key, candidates)}: known are ${candidates.join(', ')} (see ${spec.readme ?? `the README of ${spec.what ?? `role ${spec.name}`}`})`,
        at: 'key',
      });
      continue;
    }
    const rule = ruleOf(spec.types?.[dotted] ?? typeOfDefault(defaults[key]));
    const type = rule.type;
    const wrong = ruleProblem(rule, v);
    if (wrong) {
      problems.push({ path: keyPath, message: `expected ${wrong}, got ${describe(v)}`, at: 'value' });
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
  const issues = problems.map((p) => issueAt(inventory, p.path, p.message, p.at));
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
