// Offline validation of a rendered repository, before anything is written: every YAML/JSON file
// parses, every Kubernetes object matches the schema of its kind, unknown kinds are refused.
// Helm values files are plain YAML mappings (not objects) and are recognised by their path.
import { LineCounter, parseAllDocuments, isMap, type Document } from 'yaml';
import { validatorFor } from './schemas.ts';
import { clusterConfigProblems, CLUSTER_SECRET_LABEL } from './cluster-secret.ts';

export interface ValidationIssue {
  file: string;
  /** 0-based index of the document in a multi-document file */
  docIndex?: number;
  /** 1-based line of the offending node, when it can be located */
  line?: number;
  /** "Kind/name" of the object */
  object?: string;
  /** dotted field path inside the object, e.g. spec.template.spec.containers[0].image */
  field?: string;
  message: string;
}

export class RepoValidationError extends Error {
  constructor(readonly issues: ValidationIssue[]) {
    super(
      `rendered repository is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` + issues.map(formatIssue).join('\n'),
    );
    this.name = 'RepoValidationError';
  }
}

export function formatIssue(i: ValidationIssue): string {
  const where = `${i.file}${i.line ? `:${i.line}` : ''}`;
  const doc = i.docIndex !== undefined ? ` document ${i.docIndex}` : '';
  const obj = i.object ? ` ${i.object}` : '';
  const field = i.field ? ` field ${i.field}` : '';
  return `  ${where}${doc}${obj}${field}: ${i.message}`;
}

/** Helm values files: platform/<c>/values[-<chart>].yaml and clusters/<n>/<c>/values[-<chart>].yaml */
export function isHelmValuesFile(file: string): boolean {
  return /(^|\/)values(-[a-z0-9-]+)?\.yaml$/.test(file);
}

function pointerToSegments(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function segmentsToField(segs: (string | number)[]): string {
  let out = '';
  for (const s of segs) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return out;
}

/** line of the deepest existing node on the path (a missing field points at its parent) */
function lineOf(doc: Document, segs: (string | number)[], lc: LineCounter): number | undefined {
  for (let n = segs.length; n >= 0; n--) {
    const node = doc.getIn(segs.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

function validateObject(file: string, docIndex: number, doc: Document, lc: LineCounter, issues: ValidationIssue[]): void {
  const obj = doc.toJS() as unknown;
  const base = { file, docIndex };
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    issues.push({
      ...base,
      line: lineOf(doc, [], lc),
      message: 'document is not a Kubernetes object (expected a mapping with apiVersion and kind)',
    });
    return;
  }
  const o = obj as Record<string, unknown>;
  const meta = (o.metadata ?? {}) as Record<string, unknown>;
  const label = `${String(o.kind ?? '?')}/${String(meta.name ?? '?')}`;
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') {
    issues.push({ ...base, object: label, line: lineOf(doc, [], lc), message: 'missing apiVersion or kind' });
    return;
  }
  for (const message of clusterSecretProblems(o))
    issues.push({ ...base, object: label, field: message.field, line: lineOf(doc, message.field.split('.'), lc), message: message.text });
  const v = validatorFor(o.apiVersion, o.kind);
  if (v === 'allowed') return;
  if (typeof meta.name !== 'string' || meta.name === '') {
    issues.push({
      ...base,
      object: label,
      field: 'metadata.name',
      line: lineOf(doc, ['metadata'], lc),
      message: 'metadata.name is required',
    });
  }
  if (v === null) {
    issues.push({
      ...base,
      object: label,
      field: 'kind',
      line: lineOf(doc, ['kind'], lc),
      message: `unknown kind ${o.apiVersion}/${o.kind}: no schema for it and not on the allowed list`,
    });
    return;
  }
  for (const e of v(o)) {
    const segs = pointerToSegments(e.instancePath);
    issues.push({ ...base, object: label, field: segmentsToField(segs) || '(root)', line: lineOf(doc, segs, lc), message: e.message });
  }
}

/**
 * Argo CD cluster Secrets (label argocd.argoproj.io/secret-type: cluster) must carry what Argo CD
 * authenticates with: a plain one a real bearer token and CA (clusterConfigProblems), a sealed one
 * all of name, server and config. A placeholder token never reaches the repository.
 */
function clusterSecretProblems(o: Record<string, unknown>): { field: string; text: string }[] {
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  if (o.kind === 'SealedSecret') {
    const template = (spec.template ?? {}) as { metadata?: { labels?: Record<string, string> } };
    if (template.metadata?.labels?.[CLUSTER_SECRET_LABEL] !== 'cluster') return [];
    const enc = (spec.encryptedData ?? {}) as Record<string, unknown>;
    return ['name', 'server', 'config']
      .filter((k) => typeof enc[k] !== 'string' || enc[k] === '')
      .map((k) => ({ field: `spec.encryptedData.${k}`, text: `a sealed Argo CD cluster Secret without ${k}: Argo CD could not use it` }));
  }
  if (o.kind !== 'Secret') return [];
  const labels = ((o.metadata ?? {}) as { labels?: Record<string, string> }).labels;
  if (labels?.[CLUSTER_SECRET_LABEL] !== 'cluster') return [];
  const stringData = (o.stringData ?? {}) as Record<string, unknown>;
  const data = (o.data ?? {}) as Record<string, unknown>;
  const config =
    typeof stringData.config === 'string'
      ? stringData.config
      : typeof data.config === 'string'
        ? Buffer.from(data.config, 'base64').toString('utf8')
        : undefined;
  if (config === undefined) return [{ field: 'stringData.config', text: 'an Argo CD cluster Secret without config: no bearer token' }];
  return clusterConfigProblems(config).map((text) => ({
    field: typeof stringData.config === 'string' ? 'stringData.config' : 'data.config',
    text,
  }));
}

function validateYaml(file: string, content: string, issues: ValidationIssue[]): void {
  const lc = new LineCounter();
  const docs = parseAllDocuments(content, { lineCounter: lc, prettyErrors: false });
  if (!Array.isArray(docs)) {
    issues.push({ file, message: 'could not parse as YAML' });
    return;
  }
  const values = isHelmValuesFile(file);
  docs.forEach((doc, i) => {
    for (const err of doc.errors) {
      issues.push({ file, docIndex: i, line: lc.linePos(err.pos[0]).line, message: `YAML: ${err.message.split('\n')[0]}` });
    }
    if (doc.errors.length) return;
    if (doc.contents === null) return; // empty document, e.g. after a trailing ---
    if (values) {
      if (!isMap(doc.contents)) issues.push({ file, docIndex: i, line: 1, message: 'Helm values file must be a YAML mapping' });
      return;
    }
    validateObject(file, i, doc, lc, issues);
  });
}

/** Validates the whole in-memory tree; returns the problems (empty when valid). */
export function validateTree(files: Map<string, string>): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const [file, content] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (/\.ya?ml$/.test(file)) validateYaml(file, content, issues);
    else if (file.endsWith('.json')) {
      try {
        JSON.parse(content);
      } catch (err) {
        issues.push({ file, message: `JSON: ${(err as Error).message}` });
      }
    }
  }
  return issues;
}

export function assertValidTree(files: Map<string, string>): void {
  const issues = validateTree(files);
  if (issues.length) throw new RepoValidationError(issues);
}
