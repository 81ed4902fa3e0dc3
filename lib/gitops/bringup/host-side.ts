// What the host roles put on each node, as far as the bring-up analysis needs it: the Debian
// packages a node gets (role base: its fixed list plus vars.base.packages of the host; role
// platform-prereq: what the enabled components need there, asked of the role itself) and the
// K3s packaged components a cluster disables (vars.k3s.disable, lib/k3s/settings.ts).
import type { Inventory } from '../../inventory/model.ts';
import { k3sSettings } from '../../k3s/settings.ts';
import { serverConfig } from '../../k3s/config.ts';
import { installedPackages as platformPrereqPackages } from '../host-prereqs.ts';
import type { Capacity } from '../quota.ts';
import { hostCapacity } from '../quota.ts';

/**
 * Debian packages that satisfy a chart's host requirement (facts `hostRequirements[].what`, free
 * text read from the chart's docs). A requirement no entry matches is reported as unknown.
 */
const REQUIREMENT_PACKAGES: [RegExp, string[]][] = [
  [/open-iscsi|iscsiadm/i, ['open-iscsi']],
  [/nfs-common|NFSv4 client/i, ['nfs-common']],
  [/NVIDIA Container Toolkit|nvidia-container/i, ['nvidia-container-toolkit']],
];

export function packagesFor(what: string): string[] {
  return REQUIREMENT_PACKAGES.find(([re]) => re.test(what))?.[1] ?? [];
}

/** packages roles/base/tasks.ts always installs */
const BASE_PACKAGES = ['sudo', 'tzdata'];

export function hostPackagesOf(inv: Inventory): (node: string) => string[] {
  return (node) => {
    const h = inv.hosts.find((x) => x.name === node);
    if (!h) return [];
    const base = (h.vars.base ?? {}) as Record<string, unknown>;
    const extra = Array.isArray(base.packages) ? base.packages.map(String) : [];
    // role platform-prereq: what the enabled components need where their pods land (open-iscsi, NVIDIA toolkit)
    return [...BASE_PACKAGES, ...extra, ...platformPrereqPackages(h, inv)];
  };
}

/**
 * What each cluster's K3s servers disable, as the config.yaml role k3s-server writes says it
 * (lib/k3s/config.ts: the inventory's `disable` plus servicelb when MetalLB is enabled).
 */
export function k3sDisableOf(inv: Inventory): Record<string, string[]> {
  return Object.fromEntries(
    inv.clusters.map((c) => {
      const settings = k3sSettings(inv, c);
      const host = inv.hosts.find((h) => h.name === c.servers[0]);
      if (!host) return [c.name, settings.disable];
      const disable = serverConfig({ inventory: inv, settings, host, preferBundledBin: false }).disable;
      return [c.name, Array.isArray(disable) ? disable.map(String) : []];
    }),
  );
}

/** capacity of the hosts whose inventory says it (vars.capacity); others are not checked */
export function declaredCapacity(inv: Inventory): Record<string, Capacity> {
  return Object.fromEntries(inv.hosts.filter((h) => h.vars.capacity !== undefined).map((h) => [h.name, hostCapacity(h)]));
}

/** clusters whose servers run embedded etcd (lib/k3s/settings.ts: default with more than one server) */
export function embeddedEtcdOf(inv: Inventory): Record<string, boolean> {
  return Object.fromEntries(inv.clusters.map((c) => [c.name, k3sSettings(inv, c).embeddedEtcd]));
}
