// The JSON Schema is the documentation of the format: it must describe every field, close every
// mapping, agree with the loader's defaults, work with plain JSON Schema tooling, and every key
// must be explained in docs/inventory.md.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020Import from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import { parseDocument } from 'yaml';
import * as D from '../../lib/inventory/defaults.ts';
import { inventorySchema } from '../../lib/inventory/schema.ts';

const Ajv2020 = Ajv2020Import.default ?? Ajv2020Import;
const addFormats = addFormatsImport.default ?? addFormatsImport;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON Schema node: walked by keyword, any keyword may hold any JSON
type Node = Record<string, any>;
const schema = inventorySchema() as Node;

/** Every subschema with the JSON path that leads to it (anyOf branches are bare format checks). */
function walk(node: Node, at: string, visit: (node: Node, at: string) => void): void {
  visit(node, at);
  for (const [key, value] of Object.entries(node.properties ?? {})) walk(value as Node, `${at}.properties.${key}`, visit);
  for (const [key, value] of Object.entries(node.patternProperties ?? {})) walk(value as Node, `${at}.patternProperties.${key}`, visit);
  for (const [key, value] of Object.entries(node.$defs ?? {})) walk(value as Node, `${at}.$defs.${key}`, visit);
  for (const key of ['items', 'additionalProperties', 'propertyNames']) {
    if (node[key] && typeof node[key] === 'object') walk(node[key], `${at}.${key}`, visit);
  }
}

function resolve(node: Node): Node {
  const ref = node.$ref as string | undefined;
  return ref ? resolve(schema.$defs[ref.replace('#/$defs/', '')]) : node;
}

test("every field has a description (its own or its definition's)", () => {
  const missing: string[] = [];
  walk(schema, '#', (node, at) => {
    if (!node.description && !resolve(node).description) missing.push(at);
  });
  assert.equal(missing, []);
});

test('every mapping with known keys refuses unknown ones (only component values are free-form)', () => {
  const open: string[] = [];
  walk(schema, '#', (node, at) => {
    if (node.properties && node.additionalProperties !== false) open.push(at);
  });
  assert.equal(open, ['#.$defs.components.additionalProperties']);
});

test("the schema's default annotations are the loader's defaults", () => {
  const d = schema.$defs;
  assert.is(d.port.default, D.DEFAULT_PORT);
  assert.is(d.become.default, D.DEFAULT_BECOME);
  assert.is(d.cluster.properties.cluster_cidr.default, D.DEFAULT_CLUSTER_CIDR);
  assert.is(d.cluster.properties.service_cidr.default, D.DEFAULT_SERVICE_CIDR);
  assert.is(d.cluster.properties.flannel_backend.default, D.DEFAULT_FLANNEL_BACKEND);
  assert.is(d.components.additionalProperties.properties.enabled.default, D.DEFAULT_COMPONENT_ENABLED);
  const gitops = schema.properties.gitops.properties;
  assert.is(gitops.branch.default, D.DEFAULT_BRANCH);
  assert.equal(gitops.repo.default, { local: D.DEFAULT_GITOPS_LOCAL_REPO });
  assert.is(gitops.repo.properties.github.properties.private.default, D.DEFAULT_GITHUB_PRIVATE);
  assert.is(gitops.repo.properties.github.properties.org.default, D.DEFAULT_GITHUB_ORG);
  assert.is(gitops.repo.properties.username.default, D.DEFAULT_REPO_USERNAME);
  assert.match(d.cluster.properties.token_file.description, D.defaultTokenFile('<name>'));
  assert.match(d.cluster.properties.domain.description, D.defaultDomain('<name>'));
});

test('docs/inventory.md explains every key of the schema', () => {
  const docs = readFileSync(path.join(root, 'docs/inventory.md'), 'utf8');
  const keys = new Set<string>();
  walk(schema, '#', (node) => Object.keys(node.properties ?? {}).forEach((k) => keys.add(k)));
  const undocumented = [...keys].filter((k) => !docs.includes(`\`${k}\``) && !docs.includes(`\`${k}:`));
  assert.equal(undocumented, []);
});

test('plain JSON Schema tooling accepts the shipped and good inventories', () => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  const files = [
    'inventory.yaml',
    ...['single', 'ha', 'multi-cluster', 'jump'].map((n) => `test/fixtures/inventory/good/${n}.yaml`),
    ...['home', 'cloud-edge', 'managed-gpu'].map((n) => `examples/${n}.yaml`),
  ];
  for (const file of files) {
    const data = parseDocument(readFileSync(path.join(root, file), 'utf8'), { merge: true }).toJS();
    assert.ok(validate(data), `${file}: ${JSON.stringify(validate.errors)}`);
  }
  assert.not.ok(validate({ hosts: {}, groups: { servers: [] }, extra: 1 }), 'and rejects an unknown key');
});

test.run();
