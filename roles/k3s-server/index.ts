// Role `k3s-server`: K3s servers, ONE AT A TIME in inventory order (serial = 1). The first server
// initialises the cluster (cluster-init with embedded etcd when there are several servers); each
// further server joins through it and must be Ready and a voting etcd member before the next server
// is touched. The same order makes a version bump a rolling upgrade. See README.md in this folder.
import type { HostSpec, Inventory } from '../../lib/inventory/model.ts';
import type { Role } from '../../lib/runner/types.ts';
import { k3sNodeTasks } from './tasks.ts';
import { isServer } from '../../lib/k3s/settings.ts';
import { roleSettings } from '../../lib/settings/index.ts';

/** `vars.k3s-server`: defaults.yaml (the per-host config keys; README "Settings") */
export const k3sServerSettings = roleSettings('k3s-server', import.meta.url, { open: ['config'] });

/**
 * Group order, servers before agents: the first of `servers` is the one that initialises (the
 * inventory's `hosts:` order may differ from the group's); hosts in neither group go last. Stable.
 */
export function k3sHostOrder(hosts: HostSpec[], inventory: Inventory): HostSpec[] {
  const order = [...(inventory.groups.servers ?? []), ...(inventory.groups.agents ?? [])];
  const rank = (h: HostSpec) => (order.includes(h.name) ? order.indexOf(h.name) : order.length);
  return [...hosts].sort((a, b) => rank(a) - rank(b));
}

export const k3sServerRole: Role = {
  name: 'k3s-server',
  defaults: k3sServerSettings.defaults,
  serial: 1,
  hostOrder: k3sHostOrder,
  appliesTo: (host) => isServer(host),
  tasks: (ctx) => k3sNodeTasks(ctx, 'server'),
};

export default k3sServerRole;
