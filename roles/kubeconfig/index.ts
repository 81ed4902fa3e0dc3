// Role `kubeconfig`: on the first server of each cluster, reads K3s's admin kubeconfig
// (/etc/rancher/k3s/k3s.yaml), points it at vars.k3s.kubeconfig_server, else the cluster's API
// address (api_endpoint, else the first server's node_ip or address), and merges it into the local
// kubeconfig under a cluster, user and context named after the cluster (vars.k3s.kubeconfig;
// default .clusterseed/<cluster>/kubeconfig next to the inventory), mode 0600. Nothing is written when the merged result equals the file.
import type { Change, HostContext, Role, Task } from '../../lib/runner/types.ts';
import { KUBECONFIG_PATH } from '../../lib/k3s/config.ts';
import { entriesFromK3s, mergeKubeconfig, readKubeconfig, sameKubeconfig, writeKubeconfig } from '../../lib/k3s/kubeconfig.ts';
import { clusterOf, firstServer, kubeconfigServer, settingsFor } from '../../lib/k3s/settings.ts';
import { roleSettings } from '../../lib/settings/index.ts';

/** `vars.kubeconfig`: defaults.yaml (none: any key is an inventory error; README "Settings") */
export const kubeconfigSettings = roleSettings('kubeconfig', import.meta.url);

function kubeconfigTask(): Task {
  return {
    name: 'local kubeconfig has the cluster',
    probe: `if [ -f ${KUBECONFIG_PATH} ]; then base64 -w0 < ${KUBECONFIG_PATH}; else echo absent; fi`,
    plan(state, ctx: HostContext): Change | null {
      const settings = settingsFor(ctx);
      const cluster = settings.cluster;
      const local = settings.kubeconfig;
      const out = state.stdout.trim();
      if (out === 'absent') {
        if (ctx.options.check)
          return {
            summary: `merge context "${cluster.name}" into ${local} (once K3s has written ${KUBECONFIG_PATH})`,
            apply: async () => undefined,
          };
        throw new Error(`${KUBECONFIG_PATH} does not exist on ${ctx.host.name}: is K3s running there?`);
      }
      const entries = entriesFromK3s(Buffer.from(out, 'base64').toString('utf8'), kubeconfigServer(ctx.inventory, settings));
      const existing = readKubeconfig(local);
      const merged = mergeKubeconfig(existing, cluster.name, entries);
      if (sameKubeconfig(existing, merged)) return null;
      return {
        summary: `${existing ? 'update' : 'create'} context "${cluster.name}" in ${local} (server ${entries.cluster.server})`,
        diff: [{ path: local, before: '', after: '', secret: true }],
        async apply() {
          writeKubeconfig(local, merged);
        },
      };
    },
  };
}

export const kubeconfigRole: Role = {
  name: 'kubeconfig',
  appliesTo: (host, inventory) => {
    const cluster = inventory.clusters.find((c) => c.name === host.cluster);
    return !!cluster && cluster.servers[0] === host.name;
  },
  tasks: (ctx) => (firstServer(clusterOf(ctx.inventory, ctx.host)) === ctx.host.name ? [kubeconfigTask()] : []),
};

export default kubeconfigRole;
