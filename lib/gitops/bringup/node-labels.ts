// The labels a node carries once it has registered, which charts' nodeSelectors and affinities
// match (e.g. node-exporter's kubernetes.io/os=linux). The placement model (../placement.ts) keeps
// only the labels it derives selectors from; the scheduler sees these as well:
//   - the kubelet registers every node with kubernetes.io/hostname, kubernetes.io/os (GOOS, linux
//     for the hosts clusterseed manages) and kubernetes.io/arch (GOARCH): kubernetes/kubernetes
//     pkg/kubelet/kubelet_node_status.go `initialNode`, constants in
//     staging/src/k8s.io/api/core/v1/well_known_labels.go (LabelHostname, LabelOSStable, LabelArchStable);
//   - K3s labels each server node node-role.kubernetes.io/control-plane=true and
//     node-role.kubernetes.io/master=true (k3s-io/k3s pkg/server/server.go
//     `setNodeLabelsAndAnnotations`, constants ControlPlaneRoleLabelKey, MasterRoleLabelKey), and
//     node-role.kubernetes.io/etcd=true on servers running embedded etcd (ETCDRoleLabelKey, set by
//     its etcd member controller; the same function removes it when etcd is disabled).
// Read through the code search of the stored public sources (the k3s-io/k3s snapshot is larger
// than what can be fetched here, so no commit is recorded for it).
import type { ClusterModel } from '../model.ts';
import type { NodeModel } from '../placement.ts';

export function registeredNodes(cluster: ClusterModel, embeddedEtcd: boolean): NodeModel[] {
  return cluster.nodes.map((n) => {
    const labels: Record<string, string> = { 'kubernetes.io/os': 'linux', ...n.labels, 'kubernetes.io/hostname': n.name };
    if (n.arch) labels['kubernetes.io/arch'] = n.arch;
    if (n.role === 'server') {
      labels['node-role.kubernetes.io/control-plane'] = 'true';
      labels['node-role.kubernetes.io/master'] = 'true';
      if (embeddedEtcd) labels['node-role.kubernetes.io/etcd'] = 'true';
    }
    return { ...n, labels };
  });
}
