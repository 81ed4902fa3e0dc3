// The Kubernetes objects of the rendered repository, grouped the way Argo CD syncs them: per
// Application, from its directory sources (plain YAML or a kustomize overlay) and its Helm sources
// (the chart itself is known from its facts; here only its merged values are read).
import path from 'node:path';
import YAML from 'yaml';
import { isMap, mergeValues, type Values } from './values.ts';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: Values;
  [k: string]: unknown;
  /** repo file it came from */
  file: string;
}

export interface HelmSourceView {
  chart: string;
  version: string;
  repoURL: string;
  releaseName: string;
  valueFiles: string[];
  values: Values;
}

export interface AppView {
  file: string;
  name: string;
  namespace: string;
  wave: number;
  syncOptions: string[];
  helm: HelmSourceView[];
  objects: K8sObject[];
}

// YAML parsing is most of the analysis' cost and render + analysis parse the same texts twice
// (pipeline.ts re-renders with sized quotas): parsed documents are kept by content, bounded
const parsed = new Map<string, unknown[]>();

function parseAll(content: string): unknown[] {
  let docs = parsed.get(content);
  if (!docs) {
    if (parsed.size > 4000) parsed.clear();
    docs = YAML.parseAllDocuments(content).map((d) => d.toJS() as unknown);
    parsed.set(content, docs);
  }
  // callers may edit objects (kustomize patches): hand out copies
  return structuredClone(docs);
}

export function parseDocs(file: string, content: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const v of parseAll(content)) {
    if (isMap(v) && typeof v.kind === 'string' && isMap(v.metadata)) out.push({ ...v, file } as K8sObject);
  }
  return out;
}

export function waveOf(o: { metadata: { annotations?: Record<string, string> } }): number {
  const w = Number(o.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? 0);
  return Number.isFinite(w) ? w : 0;
}

export function hasSyncOption(o: K8sObject, opt: string): boolean {
  return (o.metadata.annotations?.['argocd.argoproj.io/sync-options'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .includes(opt);
}

function valuesOf(files: Map<string, string>, f: string): Values {
  const key = f.replace(/^\$values\//, '');
  const text = files.get(key);
  if (text === undefined) throw new Error(`${f}: value file not in the rendered repository`);
  const v = parseAll(text)[0];
  return isMap(v) ? v : {};
}

/** minimal kustomize: resources (files and directories), namespace, strategic-merge and JSON 6902 replace patches */
function kustomize(files: Map<string, string>, dir: string): K8sObject[] {
  const k = (parseAll(files.get(`${dir}/kustomization.yaml`) ?? '')[0] ?? {}) as Values;
  const objs: K8sObject[] = [];
  for (const r of (k.resources as string[]) ?? []) {
    const p = path.posix.normalize(`${dir}/${r}`);
    if (files.has(`${p}/kustomization.yaml`)) objs.push(...kustomize(files, p));
    else if (files.has(p)) objs.push(...parseDocs(p, files.get(p)!));
    else throw new Error(`${dir}/kustomization.yaml: resource ${r} is not in the rendered repository`);
  }
  for (const patch of (k.patches as Values[]) ?? []) {
    const target = (patch.target ?? {}) as Values;
    const doc = YAML.parse(String(patch.patch ?? '')) as unknown;
    for (const o of objs.filter((x) => x.kind === target.kind && (!target.name || x.metadata.name === target.name))) {
      if (Array.isArray(doc)) {
        for (const op of doc as Values[]) {
          if (op.op !== 'replace' && op.op !== 'add') continue;
          const parts = String(op.path).split('/').slice(1);
          let cur: Values = o as unknown as Values;
          for (const part of parts.slice(0, -1)) cur = (cur[part] ??= {}) as Values;
          cur[parts[parts.length - 1]] = op.value;
        }
      } else if (isMap(doc)) {
        Object.assign(o, mergeValues(o as unknown as Values, { ...doc, metadata: o.metadata }));
      }
    }
  }
  if (typeof k.namespace === 'string') for (const o of objs) o.metadata = { ...o.metadata, namespace: k.namespace as string };
  return objs;
}

function dirObjects(files: Map<string, string>, dir: string, recurse: boolean): K8sObject[] {
  if (files.has(`${dir}/kustomization.yaml`)) return kustomize(files, dir);
  const out: K8sObject[] = [];
  for (const [f, content] of files) {
    if (!f.startsWith(`${dir}/`) || !/\.ya?ml$/.test(f)) continue;
    if (!recurse && f.slice(dir.length + 1).includes('/')) continue;
    out.push(...parseDocs(f, content));
  }
  return out;
}

/** an Argo CD Application object -> what it syncs */
export function appView(files: Map<string, string>, app: K8sObject): AppView {
  const spec = app.spec ?? {};
  const sources = ((spec.sources as Values[]) ?? (spec.source ? [spec.source as Values] : [])).filter(isMap);
  const helm: HelmSourceView[] = [];
  const objects: K8sObject[] = [];
  for (const s of sources) {
    if (typeof s.chart === 'string') {
      const h = (s.helm ?? {}) as Values;
      const valueFiles = ((h.valueFiles as string[]) ?? []).map(String);
      const inline = isMap(h.valuesObject) ? h.valuesObject : typeof h.values === 'string' ? (YAML.parse(h.values) as Values) : undefined;
      helm.push({
        chart: s.chart,
        version: String(s.targetRevision ?? ''),
        repoURL: String(s.repoURL ?? ''),
        releaseName: String(h.releaseName ?? app.metadata.name),
        valueFiles,
        values: mergeValues(...valueFiles.map((f) => valuesOf(files, f)), inline),
      });
    } else if (typeof s.path === 'string') {
      const recurse = isMap(s.directory) && s.directory.recurse === true;
      objects.push(...dirObjects(files, s.path, recurse));
    }
  }
  const dest = (spec.destination ?? {}) as Values;
  const sp = (spec.syncPolicy ?? {}) as Values;
  return {
    file: app.file,
    name: app.metadata.name,
    namespace: String(dest.namespace ?? ''),
    wave: waveOf(app),
    syncOptions: ((sp.syncOptions as string[]) ?? []).map(String),
    helm,
    objects,
  };
}

/** value files of one Helm source, parsed separately (for the dead-key check, which names the file) */
export function valueFileLayers(files: Map<string, string>, h: HelmSourceView): { file: string; values: Values }[] {
  return h.valueFiles.map((f) => ({ file: f.replace(/^\$values\//, ''), values: valuesOf(files, f) }));
}
