// Where the JSON Schema for each Kubernetes kind comes from, and how it is turned into a
// validator. Every kind clusterseed renders must resolve here; anything else is an error.
//  - core/apps/batch/...: the ajv validators that `kubernetes-models` compiles from the upstream
//    Kubernetes OpenAPI document;
//  - Argo CD, Sealed Secrets, cert-manager: the same generator run over their CRDs
//    (`@kubernetes-models/argo-cd`, `.../sealed-secrets`, `.../cert-manager`);
//  - helm.cattle.io and metallb.io: upstream CRDs kept in schemas/k8s/, compiled with ajv here.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const crdSchemaDir = path.join(root, 'schemas', 'k8s');

export interface SchemaIssue {
  /** JSON pointer into the object, e.g. /spec/replicas */
  instancePath: string;
  message: string;
}

export type KindValidator = (obj: Record<string, unknown>) => SchemaIssue[];

/** apiVersion group -> the package holding kubernetes-models style classes for it */
const MODEL_PACKAGES: Record<string, string> = {
  '': 'kubernetes-models',
  apps: 'kubernetes-models',
  batch: 'kubernetes-models',
  autoscaling: 'kubernetes-models',
  policy: 'kubernetes-models',
  'networking.k8s.io': 'kubernetes-models',
  'rbac.authorization.k8s.io': 'kubernetes-models',
  'scheduling.k8s.io': 'kubernetes-models',
  'node.k8s.io': 'kubernetes-models',
  'storage.k8s.io': 'kubernetes-models',
  'argoproj.io': '@kubernetes-models/argo-cd',
  'bitnami.com': '@kubernetes-models/sealed-secrets',
  'cert-manager.io': '@kubernetes-models/cert-manager',
};

/**
 * Kinds that only exist as build inputs or are created by charts, never validated field by field:
 * each entry says why it is allowed. Kustomization files are read by Argo CD's kustomize, never
 * applied.
 */
export const ALLOWED_UNVALIDATED_KINDS: Record<string, string> = {
  'kustomize.config.k8s.io/v1beta1/Kustomization': 'build input read by kustomize, never applied',
};

interface ModelClass {
  new (data: unknown): { validate(): void };
}

const cache = new Map<string, KindValidator | null>();

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function fromModelPackage(pkg: string, group: string, version: string, kind: string): KindValidator | null {
  const specifier = group === '' ? `${pkg}/${version}/${kind}` : `${pkg}/${group}/${version}/${kind}`;
  let mod: Record<string, unknown>;
  try {
    // the packages ship CommonJS builds next to the ESM ones; require keeps lookup synchronous
    mod = require(specifier) as Record<string, unknown>;
  } catch {
    return null;
  }
  const Cls = mod[kind] as ModelClass | undefined;
  if (typeof Cls !== 'function') return null;
  return (obj) => {
    try {
      new Cls(obj).validate();
      return [];
    } catch (err) {
      const errors = (err as { errors?: ErrorObject[] }).errors;
      if (!Array.isArray(errors)) throw err;
      return errors.map(toIssue);
    }
  };
}

function toIssue(e: ErrorObject): SchemaIssue {
  let message = e.message ?? e.keyword;
  if (e.keyword === 'additionalProperties') message = `unknown field "${String(e.params.additionalProperty)}"`;
  if (e.keyword === 'enum') message += `: ${JSON.stringify(e.params.allowedValues)}`;
  return { instancePath: e.instancePath, message };
}

// --- CRDs kept in schemas/k8s -------------------------------------------------------------

let crdIndex: Map<string, Record<string, unknown>> | undefined;

function loadCrdIndex(): Map<string, Record<string, unknown>> {
  if (crdIndex) return crdIndex;
  crdIndex = new Map();
  for (const file of readdirSync(crdSchemaDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    const crd = parseYaml(readFileSync(path.join(crdSchemaDir, file), 'utf8')) as {
      spec: { group: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Record<string, unknown> } }[] };
    };
    for (const v of crd.spec.versions) {
      crdIndex.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, v.schema.openAPIV3Schema);
    }
  }
  return crdIndex;
}

/**
 * Turns a CRD structural schema into plain JSON Schema with the API server's strict field
 * validation: objects that list properties reject others unless they preserve unknown fields.
 */
export function structuralToJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(structuralToJsonSchema);
  if (!node || typeof node !== 'object') return node;
  const src = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    if (k.startsWith('x-kubernetes-') || k === 'description' || k === 'default') continue;
    if (k === 'properties') {
      out.properties = Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, structuralToJsonSchema(s)]));
    } else if (k === 'format') {
      continue; // OpenAPI formats (int32, int64, byte ...) are not JSON Schema formats
    } else {
      out[k] = structuralToJsonSchema(v);
    }
  }
  if (src['x-kubernetes-int-or-string']) {
    delete out.type;
    if (!out.anyOf) out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (out.properties && !src['x-kubernetes-preserve-unknown-fields'] && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

let ajv: Ajv | undefined;

function fromCrd(group: string, version: string, kind: string): KindValidator | null {
  const schema = loadCrdIndex().get(`${group}/${version}/${kind}`);
  if (!schema) return null;
  ajv ??= new Ajv({ allErrors: true, strict: false });
  const fn: ValidateFunction = ajv.compile(structuralToJsonSchema(schema) as object);
  return (obj) => (fn(obj) ? [] : (fn.errors ?? []).map(toIssue));
}

/**
 * The validator for apiVersion/kind; null when the kind is unknown (not in any schema source).
 * 'allowed' when the kind is on the explicit list of kinds accepted without field validation.
 */
export function validatorFor(apiVersion: string, kind: string): KindValidator | 'allowed' | null {
  const key = `${apiVersion}/${kind}`;
  if (ALLOWED_UNVALIDATED_KINDS[key]) return 'allowed';
  if (cache.has(key)) return cache.get(key)!;
  const { group, version } = splitApiVersion(apiVersion);
  const pkg = MODEL_PACKAGES[group];
  const v = pkg ? fromModelPackage(pkg, group, version, kind) : fromCrd(group, version, kind);
  cache.set(key, v);
  return v;
}
