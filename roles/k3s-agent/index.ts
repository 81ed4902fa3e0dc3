// Role `k3s-agent`: K3s agents, after every server of the run is done (roles run one after another).
// Agents join through the cluster's api_endpoint, else the first server, and are waited for until
// the API reports them Ready with the inventory's K3s version. Node labels and taints from the
// inventory are registered with the node (see lib/k3s/config.ts for the kubelet's label rules).
import type { Role } from '../../lib/runner/types.ts';
import { k3sNodeTasks } from '../k3s-server/tasks.ts';
import { isAgent } from '../../lib/k3s/settings.ts';
import { roleSettings } from '../../lib/settings/index.ts';

/** `vars.k3s-agent`: defaults.yaml (the per-host config keys; README "Settings") */
export const k3sAgentSettings = roleSettings('k3s-agent', import.meta.url, { open: ['config'] });

export const k3sAgentRole: Role = {
  name: 'k3s-agent',
  defaults: k3sAgentSettings.defaults,
  appliesTo: (host) => isAgent(host),
  tasks: (ctx) => k3sNodeTasks(ctx, 'agent'),
};

export default k3sAgentRole;
