// The bootstrap files K3s' deploy controller applies on the first server. Public ones hold only
// what the repo already holds; the two secret ones (repo credential, sealing key) are written 0600
// and never leave the control machine any other way.
import YAML from 'yaml';
import type { ChartRef, PriorityClassDef } from '../../lib/gitops/catalog.ts';
import { repoSecretData, type RepoCredential } from '../../lib/publish/repo-credential.ts';

export interface BootstrapInput {
  argocdChart: ChartRef;
  argocdNamespace: string;
  /** platform/argocd/values.yaml of the rendered repo */
  argocdValues: string;
  /** bootstrap/root.yaml of the rendered repo */
  rootApplication: string;
  appsChart: { repo: string; chart: string; version: string };
}

const HEADER = '# Written by clusterseed (roles/argocd-bootstrap); K3s applies this file. Edit the inventory instead.\n';

/**
 * helm-controller (k3s-io/helm-controller v0.16.5 = 5d91b5fef8482219a93ed6ccfc4ea026431966f8,
 * pkg/controllers/chart/chart.go `shouldManage`) ignores a HelmChart carrying this annotation: no
 * install/upgrade Job, and no uninstall Job (the on-remove handler is scoped by the same check).
 * The HelmChart is kept, inert, rather than deleted: its finalizer from the managed days would
 * only be removed by the handler that now ignores it.
 */
export const HELM_UNMANAGED_ANNOTATION = 'helmcharts.helm.cattle.io/unmanaged';

function helmChart(
  name: string,
  chart: { repo: string; chart: string; version: string },
  targetNamespace: string,
  values: string,
  handedOver = false,
): string {
  const doc = {
    apiVersion: 'helm.cattle.io/v1',
    kind: 'HelmChart',
    metadata: {
      name,
      namespace: 'kube-system',
      // once the Application of the same release is Synced and Healthy, Argo CD owns the release
      // and K3s' Helm controller must never upgrade (or downgrade) it again
      ...(handedOver ? { annotations: { [HELM_UNMANAGED_ANNOTATION]: 'true' } } : {}),
    },
    spec: {
      repo: chart.repo,
      chart: chart.chart,
      version: chart.version,
      targetNamespace,
      createNamespace: true,
      valuesContent: values,
    },
  };
  return HEADER + YAML.stringify(doc, { lineWidth: 0 });
}

/** The HelmChart's name is the Helm release name: bootstrap/argocd.yaml uses the same (argocd). */
export function argocdHelmChart(input: BootstrapInput, handedOver = false): string {
  const c = input.argocdChart;
  return helmChart(
    'argocd',
    { repo: c.repoURL, chart: c.chart, version: c.version },
    input.argocdNamespace,
    input.argocdValues,
    handedOver,
  );
}

/** argocd-apps 2.x takes applications as a map name -> Application spec fields */
export function rootAppHelmChart(input: BootstrapInput, handedOver = false): string {
  const root = YAML.parse(input.rootApplication) as {
    metadata: { name: string; namespace: string; finalizers?: string[] };
    spec: Record<string, unknown>;
  };
  const values = {
    applications: {
      [root.metadata.name]: {
        namespace: root.metadata.namespace,
        ...(root.metadata.finalizers ? { finalizers: root.metadata.finalizers } : {}),
        ...root.spec,
      },
    },
  };
  return helmChart('argocd-root', input.appsChart, input.argocdNamespace, YAML.stringify(values, { lineWidth: 0 }), handedOver);
}

/**
 * The PriorityClasses, applied by K3s before Argo CD's HelmChart (the file sorts first): Argo CD's
 * pods, its pre-install hook Job included, name infrastructure-critical, and a pod naming a
 * missing PriorityClass is rejected at admission. On the management cluster this file is their
 * only owner (the governance app renders them for the other clusters only).
 */
export function priorityClassesManifest(classes: PriorityClassDef[]): string {
  const docs = classes.map((c) => ({
    apiVersion: 'scheduling.k8s.io/v1',
    kind: 'PriorityClass',
    metadata: { name: c.name },
    value: c.value,
    globalDefault: false,
    preemptionPolicy: 'PreemptLowerPriority',
    description: c.description,
  }));
  return HEADER + docs.map((d) => YAML.stringify(d, { lineWidth: 0 })).join('---\n');
}

/** Argo CD's repository credential: a Secret labelled argocd.argoproj.io/secret-type=repository. */
export function repoCredentialManifest(namespace: string, url: string, credential: RepoCredential): string {
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'clusterseed-gitops-repo', namespace, labels: { 'argocd.argoproj.io/secret-type': 'repository' } },
      type: 'Opaque',
      stringData: repoSecretData(url, credential),
    },
  ];
  return HEADER + docs.map((d) => YAML.stringify(d, { lineWidth: 0 })).join('---\n');
}
