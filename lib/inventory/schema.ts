// Structural validation against schemas/inventory.schema.json (ajv), with ajv's errors turned
// into messages a user can act on: the field, what was expected, what was found, and for an
// unknown key the key that was probably meant.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv2020Import from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { formatPath, type FieldPath, type InventoryIssue } from './errors.ts';
import type { SourceDoc, Location } from './source.ts';
import { didYouMean } from './suggest.ts';

// ajv and ajv-formats are CommonJS modules with a `default` export
const Ajv2020 = Ajv2020Import.default ?? Ajv2020Import;
const addFormats = addFormatsImport.default ?? addFormatsImport;

export const inventorySchemaFile = fileURLToPath(new URL('../../schemas/inventory.schema.json', import.meta.url));

/** A JSON Schema node, with the keywords read here. */
interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  $defs?: Record<string, SchemaNode>;
  $ref?: string;
  'x-expected'?: string;
  [keyword: string]: unknown;
}

let cached: { schema: SchemaNode; validate: ValidateFunction } | undefined;

export function inventorySchema(): SchemaNode {
  return compiled().schema;
}

function compiled(): { schema: SchemaNode; validate: ValidateFunction } {
  if (!cached) {
    const schema = JSON.parse(readFileSync(inventorySchemaFile, 'utf8')) as SchemaNode;
    const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictRequired: false, allowUnionTypes: true });
    addFormats(ajv);
    // our annotation: the phrase used in "must be <x-expected>" messages
    ajv.addKeyword({ keyword: 'x-expected', schemaType: 'string' });
    cached = { schema, validate: ajv.compile(schema) };
  }
  return cached;
}

/**
 * Keys that are refused on purpose, with the reason. A password or token in the inventory would
 * end up in git and in backups; Ansible names get pointed at their clusterseed equivalent.
 */
const REFUSED_KEYS: Record<string, string> = {
  become_password:
    'the sudo password must not be written in the inventory (it would end up in git); put it in an environment variable and set become_password_env: VAR_NAME',
  ansible_become_password:
    'the sudo password must not be written in the inventory (it would end up in git); put it in an environment variable and set become_password_env: VAR_NAME',
  password: 'password logins are not supported: use an SSH key (ssh_key) or ssh-agent',
  ssh_password: 'password logins are not supported: use an SSH key (ssh_key) or ssh-agent',
  ansible_password: 'password logins are not supported: use an SSH key (ssh_key) or ssh-agent',
  token:
    'secrets do not belong in the inventory: the cluster token lives in token_file (generated on the first run), a GitHub token in the environment',
};

/** Names other tools use, mapped to ours (only suggested where the target key is allowed). */
const FOREIGN_KEYS: Record<string, string> = {
  ansible_host: 'address',
  ansible_port: 'port',
  ansible_user: 'user',
  ansible_ssh_private_key_file: 'ssh_key',
  ansible_become: 'become',
  ip: 'address',
  host: 'address',
  hostname: 'address',
  key: 'ssh_key',
  private_key: 'ssh_key',
  identity_file: 'ssh_key',
  username: 'user',
  k3s_channel: 'k3s_version',
  version: 'k3s_version',
  children: 'hosts',
};

/** Validates `data` against the schema; returns an issue per problem (empty when valid). */
export function validateAgainstSchema(data: unknown, source: SourceDoc): InventoryIssue[] {
  const { validate } = compiled();
  if (validate(data)) return [];
  return translateErrors(validate.errors ?? [], data, source);
}

function translateErrors(errors: ErrorObject[], data: unknown, source: SourceDoc): InventoryIssue[] {
  // anyOf and propertyNames also report each failing sub-schema: one message per failure is enough
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf');
  const covered = (e: ErrorObject) =>
    (e.propertyName !== undefined && e.keyword !== 'propertyNames') ||
    anyOfs.some((u) => u !== e && u.instancePath === e.instancePath && e.schemaPath.startsWith(u.schemaPath + '/'));

  const issues: InventoryIssue[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (covered(error) || isExplainedByUnknownKey(error, errors)) continue;
    const issue = translate(error, data, source);
    const id = `${issue.path}\0${issue.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    issues.push(issue);
  }
  return issues;
}

/** `adress: x` makes `address` missing too; the unknown-key message already says so. */
function isExplainedByUnknownKey(error: ErrorObject, errors: ErrorObject[]): boolean {
  if (error.keyword !== 'required') return false;
  const missing = String(error.params.missingProperty);
  return errors.some((e) => {
    if (e.keyword !== 'additionalProperties' || e.instancePath !== error.instancePath) return false;
    const key = String(e.params.additionalProperty);
    return FOREIGN_KEYS[key] === missing || didYouMean(key, [missing]) !== '';
  });
}

function translate(error: ErrorObject, data: unknown, source: SourceDoc): InventoryIssue {
  const path = pointerToPath(error.instancePath, data);
  const value = valueAt(data, path);
  const parent = (error.parentSchema ?? {}) as SchemaNode;
  const expected = parent['x-expected'] as string | undefined;
  const got = ` (got ${describe(value)})`;

  const issue = (at: Location, fieldPath: FieldPath, message: string, want?: string): InventoryIssue => ({
    file: source.file,
    line: at.line,
    column: at.column,
    path: formatPath(fieldPath),
    message,
    expected: want,
    severity: 'error',
  });

  switch (error.keyword) {
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const key = String(error.params.additionalProperty ?? error.params.unevaluatedProperty);
      const keyPath = [...path, key];
      const allowed = Object.keys(parent.properties ?? {});
      return issue(source.locateKey(keyPath), keyPath, unknownKeyMessage(key, allowed), `one of ${allowed.join(', ')}`);
    }
    case 'required': {
      const key = String(error.params.missingProperty);
      const want = expectedOf(parent.properties?.[key]);
      const at = path.length ? source.locateKey(path) : source.locateValue(path);
      return issue(at, [...path, key], `is required${want ? ` (${want})` : ''}`, want);
    }
    case 'propertyNames': {
      const name = String(error.params.propertyName);
      const want = expectedOf(error.schema as SchemaNode) ?? 'a valid name';
      const keyPath = [...path, name];
      return issue(source.locateKey(keyPath), keyPath, `invalid key "${name}": must be ${want}`, want);
    }
    case 'type': {
      const want = expected ?? typePhrase(error.params.type);
      const quoteHint =
        String(error.params.type).includes('string') && (typeof value === 'number' || typeof value === 'boolean')
          ? ` (got ${value}: quote it, "${value}")`
          : got;
      return issue(source.locateValue(path), path, `must be ${want}${quoteHint}`, want);
    }
    case 'enum': {
      const allowed = (error.params.allowedValues as unknown[]).map(String);
      const hint = typeof value === 'string' ? didYouMean(value, allowed) : '';
      const want = `one of ${allowed.join(', ')}`;
      return issue(source.locateValue(path), path, `must be ${want}${got}${hint}`, want);
    }
    case 'uniqueItems': {
      // ajv names the two equal positions i and j, in an order that depends on the item type
      const repeat = Math.max(error.params.i as number, error.params.j as number);
      const dup = Array.isArray(value) ? value[repeat] : undefined;
      const dupPath = [...path, repeat];
      return issue(source.locateValue(dupPath), path, `lists ${describe(dup)} twice`, 'each entry once');
    }
    case 'minProperties':
      if (error.params.limit === 1 && !expected?.includes('exactly')) {
        return issue(source.locateValue(path), path, 'must not be empty', expected);
      }
    // falls through
    default: {
      const want = expected ?? error.message ?? 'valid';
      const phrase = expected ? `must be ${want}` : want;
      return issue(source.locateValue(path), path, `${phrase}${got}`, expected);
    }
  }
}

function unknownKeyMessage(key: string, allowed: string[]): string {
  const refused = REFUSED_KEYS[key];
  if (refused) return `"${key}" is not accepted: ${refused}`;
  const foreign = FOREIGN_KEYS[key];
  if (foreign && allowed.includes(foreign)) return `unknown key "${key}" (did you mean "${foreign}"?)`;
  const hint = didYouMean(key, allowed);
  if (hint) return `unknown key "${key}"${hint}`;
  return allowed.length ? `unknown key "${key}" (allowed here: ${allowed.join(', ')})` : `unknown key "${key}"`;
}

/** x-expected of a schema node, following a local $ref. */
function expectedOf(node: SchemaNode | undefined): string | undefined {
  if (!node) return undefined;
  if (node['x-expected']) return node['x-expected'];
  const ref = node.$ref as string | undefined;
  if (ref?.startsWith('#/$defs/')) return expectedOf(inventorySchema().$defs?.[ref.slice('#/$defs/'.length)]);
  return undefined;
}

function typePhrase(type: unknown): string {
  const phrases: Record<string, string> = {
    string: 'a string',
    integer: 'an integer',
    number: 'a number',
    boolean: 'true or false',
    object: 'a mapping',
    array: 'a list',
    null: 'empty',
  };
  return String(type)
    .split(',')
    .map((t) => phrases[t] ?? t)
    .join(' or ');
}

/** How a found value is shown in "(got ...)". */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return value.length ? 'a list' : 'an empty list';
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    return keys.length ? `a mapping with ${keys.join(', ')}` : 'an empty mapping';
  }
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

/** ajv's JSON pointer ("/hosts/pi-1/taints/0") as a path, with array indexes as numbers. */
function pointerToPath(pointer: string, data: unknown): FieldPath {
  const path: Array<string | number> = [];
  let node: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      path.push(Number(seg));
      node = node[Number(seg)];
    } else {
      path.push(seg);
      node = node && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return path;
}

function valueAt(data: unknown, path: FieldPath): unknown {
  let node = data;
  for (const seg of path) {
    if (!node || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node;
}
