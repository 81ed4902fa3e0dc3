// The objects `argocd cluster add` creates on a cluster Argo CD deploys to, so clusterseed
// registers a cluster the way Argo CD's own CLI would (argoproj/argo-cd pkg/clusterauth): a
// ServiceAccount in kube-system, a ClusterRole allowing everything, its binding, and a long-lived
// token Secret the token controller fills with the token and the API server's CA.
// Provenance: checked against argoproj/argo-cd v3.5.1 (commit 109ca7ca71139e514114499d294a492e7910a965),
// util/clusterauth/clusterauth.go (the package moved there from pkg/clusterauth): the constants
// ArgoCDManagerServiceAccount, ArgoCDManagerClusterRole, ArgoCDManagerClusterRoleBinding,
// SATokenSecretSuffix ("-long-lived-token", getOrCreateServiceAccountTokenSecret), the rules
// ArgoCDManagerClusterPolicyRules, and the namespace common.DefaultSystemNamespace = kube-system
// (`argocd cluster add --system-namespace`). The names and rules below are the same.

export const MANAGER_NAMESPACE = 'kube-system';
export const MANAGER_SERVICE_ACCOUNT = 'argocd-manager';
export const MANAGER_CLUSTER_ROLE = 'argocd-manager-role';
export const MANAGER_CLUSTER_ROLE_BINDING = 'argocd-manager-role-binding';
export const MANAGER_TOKEN_SECRET = 'argocd-manager-long-lived-token';

/** ServiceAccount, ClusterRole, ClusterRoleBinding and token Secret, in the order they are applied. */
export function argocdManagerObjects(): Record<string, unknown>[] {
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: MANAGER_SERVICE_ACCOUNT, namespace: MANAGER_NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: MANAGER_CLUSTER_ROLE },
      rules: [
        { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
        { nonResourceURLs: ['*'], verbs: ['*'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: MANAGER_CLUSTER_ROLE_BINDING },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: MANAGER_CLUSTER_ROLE },
      subjects: [{ kind: 'ServiceAccount', name: MANAGER_SERVICE_ACCOUNT, namespace: MANAGER_NAMESPACE }],
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: {
        name: MANAGER_TOKEN_SECRET,
        namespace: MANAGER_NAMESPACE,
        annotations: { 'kubernetes.io/service-account.name': MANAGER_SERVICE_ACCOUNT },
      },
    },
  ];
}

/** The token and CA the token controller put into the token Secret (as `kubectl get secret -o json` or the API return it); undefined while it has not yet. */
export function tokenSecretData(secret: unknown): { token: string; caData: string } | undefined {
  const data = (secret as { data?: Record<string, string> } | undefined)?.data;
  if (!data?.token || !data['ca.crt']) return undefined;
  return { token: Buffer.from(data.token, 'base64').toString('utf8'), caData: data['ca.crt'] };
}
