// Every pod the platform creates, as groups of identical pods: from a chart's facts (its
// workloads with the rendered values at their paths) and from plain manifests (Deployments,
// StatefulSets, DaemonSets, Jobs, with the HorizontalPodAutoscaler that scales them).
import type { K8sObject } from './objects.ts';
import type { ChartFacts, FactsContainer, FactsWorkload } from './types.ts';
import { getPath, isMap, truthy, type Values } from './values.ts';

export interface ContainerView {
  name: string;
  image?: string;
  /** where the resources come from (values path or object field), for findings */
  field: string;
  resources: { requests?: Values; limits?: Values };
}

export interface PodGroup {
  component: string;
  /** e.g. "Deployment mlflow/mlflow" */
  object: string;
  kind: string;
  namespace: string;
  hook?: string;
  /** pods at the peak of a rollout: replicas (HPA maximum if scaled) + maxSurge; DaemonSet: per node */
  replicas: number;
  surge: number;
  perNode: boolean;
  containers: ContainerView[];
  priorityClassName?: string;
  priorityField: string;
  nodeSelector: Record<string, string>;
  tolerations: Values[];
  affinity?: Values;
  schedulingField: string;
  hostPrerequisites: string[];
  /** Secrets / ConfigMaps / PVC storage classes the pod spec names */
  refs: { kind: string; name: string; field: string; optional?: boolean }[];
}

/** Helm's usual `<chart>.fullname` helper: fullnameOverride, else release when it contains the name, else release-name */
export function fullname(release: string, chart: string, values: Values = {}, defaults: Values = {}): string {
  const pick = (k: string) => {
    const v = values[k] ?? defaults[k];
    return typeof v === 'string' && v ? v : undefined;
  };
  const override = pick('fullnameOverride');
  if (override) return override.slice(0, 63).replace(/-+$/, '');
  const name = pick('nameOverride') ?? chart;
  return (release.includes(name) ? release : `${release}-${name}`).slice(0, 63).replace(/-+$/, '');
}

export function expandName(name: string, release: string, chart: string, values: Values = {}, defaults: Values = {}): string {
  return name.replaceAll('{release}', release).replaceAll('{fullname}', fullname(release, chart, values, defaults));
}

/** rolling-update surge for `replicas` pods: "25%" rounds up (apps/v1 semantics), a number is taken as is */
export function surgeOf(maxSurge: unknown, replicas: number): number {
  if (typeof maxSurge === 'number') return maxSurge;
  if (typeof maxSurge === 'string' && /^\d+%$/.test(maxSurge)) return Math.ceil((replicas * Number(maxSurge.slice(0, -1))) / 100);
  if (typeof maxSurge === 'string' && /^\d+$/.test(maxSurge)) return Number(maxSurge);
  return Math.ceil(replicas * 0.25);
}

const empty = (v: unknown) =>
  v === undefined || v === null || v === '' || (isMap(v) && Object.keys(v).length === 0) || (Array.isArray(v) && v.length === 0);

/** the value at `path`, else the first non-empty `or` path (a template's `default .Values.x`), else `default` */
export function fromPath<T>(values: Values, p: { path?: string; or?: string[]; default?: T } | undefined): T | undefined {
  if (!p) return undefined;
  const v = p.path ? getPath(values, p.path) : undefined;
  if (v !== undefined && v !== null && !(p.or?.length && empty(v))) return v as T;
  for (const o of p.or ?? []) {
    const x = getPath(values, o);
    if (!empty(x)) return x as T;
  }
  return (v === undefined || v === null ? p.default : v) as T | undefined;
}

/** JupyterHub's ByteSpecification: K/M/G/T are powers of 1024 (jupyterhub/traitlets.py UNIT_SUFFIXES) */
function binaryBytes(v: string | number): string | number {
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)([KMGT])$/.exec(v.trim()) : null;
  return m ? `${m[1]}${m[2]}i` : v;
}

/** facts `resourcesFrom`: fields a chart builds from scalar values replace those of `resources` */
function withResourcesFrom(
  base: ContainerView['resources'],
  values: Values,
  from: FactsContainer['resourcesFrom'],
): ContainerView['resources'] {
  if (!from) return base;
  const out = { requests: { ...(base.requests ?? {}) }, limits: { ...(base.limits ?? {}) } };
  for (const field of ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory'] as const) {
    const v = fromPath<string | number>(values, from[field]);
    if (v === undefined || v === null || v === '') continue;
    const [side, res] = field.split('.') as ['requests' | 'limits', 'cpu' | 'memory'];
    out[side][res] = res === 'memory' && from.byteSuffixes === 'binary' ? binaryBytes(v) : v;
  }
  return out;
}

/** pod groups of one chart release from its facts and merged values */
export function chartPods(component: string, namespace: string, facts: ChartFacts, release: string, values: Values): PodGroup[] {
  const out: PodGroup[] = [];
  for (const w of facts.workloads ?? []) {
    if (!truthy(values, w.when, facts.values.defaults)) continue;
    out.push(chartWorkload(component, namespace, facts, release, values, w));
  }
  return out;
}

function chartWorkload(
  component: string,
  namespace: string,
  facts: ChartFacts,
  release: string,
  values: Values,
  w: FactsWorkload,
): PodGroup {
  const name = expandName(w.name, release, facts.chart, values, facts.values.defaults);
  const replicas =
    w.kind === 'DaemonSet'
      ? 1
      : w.kind === 'Job' || w.kind === 'CronJob' || w.kind === 'Pod'
        ? 1
        : Number(fromPath(values, w.replicas) ?? 1);
  const surge = w.kind === 'Deployment' ? surgeOf(w.maxSurge ?? '25%', replicas) : 0;
  const pcPath = w.priorityClassName?.path;
  const priorityClassName = fromPath<string>(values, w.priorityClassName);
  const affinity = fromPath<Values>(values, w.affinity);
  return {
    component,
    object: `${w.kind} ${namespace}/${name}`,
    kind: w.kind,
    namespace,
    hook: w.hook,
    replicas,
    surge,
    perNode: w.kind === 'DaemonSet',
    containers: w.containers
      .filter((c) => truthy(values, (c as { when?: string | null }).when, facts.values.defaults))
      .map((c) => {
        const image = c.image ? fromPath<unknown>(values, { path: c.image.path, default: c.image.ref }) : undefined;
        return {
          name: c.name,
          // an image map (repository/tag) at the path cannot be re-assembled generically: facts give the ref
          image: typeof image === 'string' ? image : c.image?.ref,
          field: c.resources?.path ?? `${w.name}.containers.${c.name}.resources`,
          resources: withResourcesFrom(
            (fromPath<Values>(values, c.resources) ?? {}) as ContainerView['resources'],
            values,
            c.resourcesFrom,
          ),
        };
      }),
    priorityClassName: priorityClassName || undefined,
    priorityField: pcPath ?? 'priorityClassName',
    nodeSelector: (fromPath<Record<string, string>>(values, w.nodeSelector) ?? {}) as Record<string, string>,
    tolerations: ((fromPath<unknown[]>(values, w.tolerations) ?? []) as unknown[]).filter(isMap),
    affinity: isMap(affinity) && Object.keys(affinity).length ? affinity : undefined,
    schedulingField: w.nodeSelector?.path ?? 'nodeSelector',
    hostPrerequisites: [...(w.hostPrerequisites ?? [])],
    refs: [],
  };
}

const POD_OWNERS: Record<string, string[]> = {
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
  Pod: ['spec'],
};

function dig(o: unknown, parts: string[]): Values | undefined {
  let cur = o;
  for (const p of parts) cur = isMap(cur) ? cur[p] : undefined;
  return isMap(cur) ? cur : undefined;
}

/** pod groups of plain manifests; an HPA raises its target's replicas to maxReplicas */
export function manifestPods(component: string, defaultNs: string, objects: K8sObject[]): PodGroup[] {
  const hpaMax = new Map<string, number>();
  for (const o of objects.filter((x) => x.kind === 'HorizontalPodAutoscaler')) {
    const ref = dig(o, ['spec', 'scaleTargetRef']);
    if (ref) hpaMax.set(`${ref.kind}/${ref.name}`, Number(o.spec?.maxReplicas ?? 1));
  }
  const out: PodGroup[] = [];
  for (const o of objects) {
    const parts = POD_OWNERS[o.kind];
    if (!parts) continue;
    const pod = dig(o, parts) ?? {};
    const ns = o.metadata.namespace ?? defaultNs;
    const hook = o.metadata.annotations?.['helm.sh/hook'] ?? o.metadata.annotations?.['argocd.argoproj.io/hook'];
    const scaled = hpaMax.get(`${o.kind}/${o.metadata.name}`);
    const replicas = o.kind === 'Deployment' || o.kind === 'StatefulSet' ? (scaled ?? Number(o.spec?.replicas ?? 1)) : 1;
    const strategy = dig(o, ['spec', 'strategy', 'rollingUpdate']);
    const surge =
      o.kind === 'Deployment' && dig(o, ['spec', 'strategy'])?.type !== 'Recreate' ? surgeOf(strategy?.maxSurge ?? '25%', replicas) : 0;
    const prefix = `${o.kind} ${ns}/${o.metadata.name}`;
    const refs: PodGroup['refs'] = [];
    const containers: ContainerView[] = [];
    for (const [key, init] of [
      ['initContainers', true],
      ['containers', false],
    ] as const) {
      for (const [i, c] of ((pod[key] as Values[]) ?? []).filter(isMap).entries()) {
        containers.push({
          name: String(c.name),
          image: typeof c.image === 'string' ? c.image : undefined,
          field: `${parts.join('.')}.${key}[${i}].resources`,
          resources: (c.resources ?? {}) as ContainerView['resources'],
        });
        for (const e of ((c.env as Values[]) ?? []).filter(isMap)) {
          const vf = dig(e, ['valueFrom']);
          const s = vf && dig(vf, ['secretKeyRef']);
          const m = vf && dig(vf, ['configMapKeyRef']);
          if (s) refs.push({ kind: 'Secret', name: String(s.name), field: `${key}[${i}].env.${e.name}`, optional: s.optional === true });
          if (m) refs.push({ kind: 'ConfigMap', name: String(m.name), field: `${key}[${i}].env.${e.name}`, optional: m.optional === true });
        }
        for (const e of ((c.envFrom as Values[]) ?? []).filter(isMap)) {
          const s = dig(e, ['secretRef']);
          const m = dig(e, ['configMapRef']);
          if (s) refs.push({ kind: 'Secret', name: String(s.name), field: `${key}[${i}].envFrom`, optional: s.optional === true });
          if (m) refs.push({ kind: 'ConfigMap', name: String(m.name), field: `${key}[${i}].envFrom`, optional: m.optional === true });
        }
        void init;
      }
    }
    for (const v of ((pod.volumes as Values[]) ?? []).filter(isMap)) {
      const s = dig(v, ['secret']);
      const m = dig(v, ['configMap']);
      if (s) refs.push({ kind: 'Secret', name: String(s.secretName), field: `volumes.${v.name}`, optional: s.optional === true });
      if (m) refs.push({ kind: 'ConfigMap', name: String(m.name), field: `volumes.${v.name}`, optional: m.optional === true });
    }
    for (const t of ((o.spec?.volumeClaimTemplates as Values[]) ?? []).filter(isMap)) {
      const sc = dig(t, ['spec'])?.storageClassName;
      if (typeof sc === 'string') refs.push({ kind: 'StorageClass', name: sc, field: 'spec.volumeClaimTemplates' });
    }
    out.push({
      component,
      object: prefix,
      kind: o.kind,
      namespace: ns,
      hook,
      replicas,
      surge,
      perNode: o.kind === 'DaemonSet',
      containers,
      priorityClassName: typeof pod.priorityClassName === 'string' ? pod.priorityClassName : undefined,
      priorityField: `${parts.join('.')}.priorityClassName`,
      nodeSelector: (pod.nodeSelector ?? {}) as Record<string, string>,
      tolerations: ((pod.tolerations as Values[]) ?? []).filter(isMap),
      affinity: dig(pod, ['affinity']),
      schedulingField: `${parts.join('.')}.nodeSelector`,
      hostPrerequisites: [],
      refs,
    });
  }
  return out;
}
