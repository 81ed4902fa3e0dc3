// The bootstrap files K3s' deploy controller applies on the first server. Public ones hold only
// what the repo already holds; the two secret ones (repo credential, sealing key) are written 0600
// and never leave the control machine any other way.
import YAML from 'yaml';
import type { ChartRef } from '../../lib/gitops/catalog.ts';

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

function helmChart(name: string, chart: { repo: string; chart: string; version: string }, targetNamespace: string, values: string): string {
  const doc = {
    apiVersion: 'helm.cattle.io/v1',
    kind: 'HelmChart',
    metadata: { name, namespace: 'kube-system' },
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

export function argocdHelmChart(input: BootstrapInput): string {
  const c = input.argocdChart;
  return helmChart('argocd', { repo: c.repoURL, chart: c.chart, version: c.version }, input.argocdNamespace, input.argocdValues);
}

/** argocd-apps 2.x takes applications as a map name -> Application spec fields */
export function rootAppHelmChart(input: BootstrapInput): string {
  const root = YAML.parse(input.rootApplication) as { metadata: { name: string; namespace: string; finalizers?: string[] }; spec: Record<string, unknown> };
  const values = {
    applications: {
      [root.metadata.name]: {
        namespace: root.metadata.namespace,
        ...(root.metadata.finalizers ? { finalizers: root.metadata.finalizers } : {}),
        ...root.spec,
      },
    },
  };
  return helmChart('argocd-root', input.appsChart, input.argocdNamespace, YAML.stringify(values, { lineWidth: 0 }));
}

/** Argo CD's repository credential: a Secret labelled argocd.argoproj.io/secret-type=repository. */
export function repoCredentialManifest(namespace: string, url: string, sshPrivateKey: string): string {
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'clusterseed-gitops-repo', namespace, labels: { 'argocd.argoproj.io/secret-type': 'repository' } },
      type: 'Opaque',
      stringData: { type: 'git', url, sshPrivateKey },
    },
  ];
  return HEADER + docs.map((d) => YAML.stringify(d, { lineWidth: 0 })).join('---\n');
}
