// Shared types of the bring-up analysis: the facts it reads (the chart-facts README format, the
// subset the analysis uses) and the findings it returns.

/** one problem that keeps the platform from coming up; `check` groups findings by kind */
export interface Finding {
  check:
    | 'facts'
    | 'maintained'
    | 'values'
    | 'dry-run'
    | 'namespace'
    | 'priority-class'
    | 'quota'
    | 'resources'
    | 'scheduling'
    | 'image-arch'
    | 'capacity'
    | 'reference'
    | 'host-prerequisite'
    | 'collision'
    | 'ownership'
    | 'sealing';
  /** catalog component (or "argocd" / "k3s" for the bootstrap phases) */
  component: string;
  /** Kind namespace/name of the object, or chart@version */
  object: string;
  /** dotted field (values path or object field) */
  field: string;
  reason: string;
  /** the phase of the simulation it was found in, e.g. "bootstrap" or "wave 2" */
  phase: string;
  /** a risk the catalog accepts with a reason: printed, does not stop the render (default: error) */
  severity?: 'warning';
}

/** a value read from the merged values at `path`, else the first non-empty `or` path, else `default` */
export interface FactsPath<T = unknown> {
  path?: string;
  or?: string[];
  default?: T;
}

export interface FactsContainer {
  name: string;
  init?: boolean;
  image?: { path?: string; ref: string };
  resources?: FactsPath<Record<string, unknown>>;
  /** resources the chart builds from scalar values (chart-facts README: resourcesFrom) */
  resourcesFrom?: { [field in 'requests.cpu' | 'requests.memory' | 'limits.cpu' | 'limits.memory']?: FactsPath<string | number> } & {
    byteSuffixes?: 'binary';
    comment?: string;
  };
}

export interface FactsWorkload {
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'Job' | 'CronJob' | 'Pod';
  name: string;
  when?: string | null;
  hook?: string;
  replicas?: FactsPath<number>;
  maxSurge?: string | number;
  priorityClassName?: FactsPath<string>;
  nodeSelector?: FactsPath<Record<string, string>>;
  tolerations?: FactsPath<unknown[]>;
  affinity?: FactsPath<Record<string, unknown>>;
  containers: FactsContainer[];
  /** host packages its pods need on their node (e.g. open-iscsi), with the upstream reason */
  hostPrerequisites?: string[];
  /** pods an operator of the chart creates at run time (not rendered by Helm) */
  createdBy?: string;
}

/** the chart facts format of lib/gitops/chart-facts/README.md (fields the analysis reads) */
export interface ChartFacts {
  chart: string;
  version: string;
  repoURL?: string;
  source?: { repo: string; tag: string; commit: string; path?: string; read?: string };
  maintained: true | string;
  values: {
    keys: string[];
    open?: string[];
    extra?: { key: string; template?: string }[];
    /** false, or where the chart renders unknown keys as-is (a string; true in test fixtures) */
    passthrough?: boolean | string;
    /** the chart's defaults of the paths `when:` conditions read (dotted keys or a values tree) */
    defaults?: Record<string, unknown>;
  };
  crds?: { name: string; when?: string | null }[];
  workloads?: FactsWorkload[];
  services?: { name: string; when?: string | null }[];
  images?: { ref: string; platforms: string[]; /** why the image cannot be pulled (gone from the registry) */ missing?: string }[];
  /** objects of other kinds the chart creates that other components refer to */
  objects?: { kind: string; name: string; when?: string | null; default?: boolean }[];
  /** host packages every node running the chart's pods needs (e.g. open-iscsi for Longhorn) */
  hostPrerequisites?: { package: string; why: string }[];
  /** the facts files' form: what the nodes running these workloads need (free text), and why */
  hostRequirements?: { what: string; workloads: string[]; when?: string | null; why: string }[];
  /** objects the chart references but does not create */
  uses?: { kind: string; name: FactsPath<string>; when?: string | null }[];
  /** values the chart's documentation requires under Argo CD (e.g. preUpgradeChecker.jobEnabled) */
  requiredValues?: { path: string; value: unknown; why: string }[];
}

/** an image outside any chart, with the platforms read upstream (chart-facts/plain-images.yaml) */
export interface PlainImageFacts {
  ref: string;
  platforms: string[];
}

/**
 * where the analysis gets facts from: (chart, version) -> facts, or undefined when none exist;
 * `plainImages`: the images the catalog's own manifests use outside charts
 */
export type FactsLookup = ((chart: string, version: string) => ChartFacts | undefined) & { plainImages?: () => PlainImageFacts[] };
