// Kernel and network hardening parameters. The keys K3s needs on (forwarding, bridge netfilter)
// belong to the K3s prerequisites file, 70-clusterseed-k3s.conf: this role refuses to set them at
// all, so a hardening override can never switch a node's forwarding off, and the two files never
// set the same key.
import type { VarsReader } from '../../lib/settings/index.ts';

/**
 * At boot systemd-sysctl applies every sysctl.d file in the order of its name, the last value of a
 * key winning. The file must sort after the distribution's own: Debian's procps ships
 * /usr/lib/sysctl.d/99-protect-links.conf (fs.protected_fifos = 1), which undid our 2 at every
 * reboot while the live value said 2 (found by the VM lab, whose Pi reboots mid-run).
 */
export const SYSCTL_FILE = '/etc/sysctl.d/zz-clusterseed-harden.conf';
/** Where clusterseed wrote the file before; removed from hosts it converged then. */
export const LEGACY_SYSCTL_FILE = '/etc/sysctl.d/60-clusterseed-harden.conf';

const KEY = /^[a-z0-9_]+(?:\.[a-zA-Z0-9_-]+)+$/;
const K3S_OWNED = /(?:^net\.ipv4\.ip_forward$|\.forwarding$|^net\.bridge\.)/;

export interface SysctlChoice {
  values: Record<string, string | number>;
  optional: string[];
  /** keys left to someone else, with the reason */
  unmanaged: string[];
}

export interface SysctlContext {
  /** the cluster's CNI is the user's own (flannel_backend: none) */
  userCni?: boolean;
  /** keys the inventory itself sets (not just the role's defaults) */
  explicit?: ReadonlySet<string>;
}

/**
 * With flannel_backend: none the user's CNI owns reverse-path filtering: Cilium needs rp_filter 0 on
 * its interfaces and writes it itself (cilium/cilium commit cabc6581, issue 10645), and the kernel
 * uses the max of conf/all and the interface's value (ip-sysctl.rst), so our all=2 would override
 * it and every run would set back what the CNI's agent had set. Unless the inventory sets them
 * itself, the rp_filter keys are then not managed.
 */
const CNI_OWNED = /\.rp_filter$/;

export function readSysctl(r: VarsReader, cluster: SysctlContext = {}): SysctlChoice {
  const map = r.map('sysctl.values');
  const values: Record<string, string | number> = {};
  for (const [key, v] of Object.entries(map)) {
    if (v === null) continue;
    if (!KEY.test(key)) r.fail(`sysctl.values.${key}`, 'a sysctl key such as kernel.kptr_restrict', key);
    if (K3S_OWNED.test(key)) {
      r.fail(
        `sysctl.values.${key}`,
        'no value: forwarding and bridge keys are owned by the K3s prerequisites (70-clusterseed-k3s.conf) and must stay on',
        v,
      );
    }
    if (typeof v === 'number' && Number.isInteger(v)) values[key] = v;
    else if (typeof v === 'string' && /^[\w .:-]+$/.test(v)) values[key] = v;
    else r.fail(`sysctl.values.${key}`, 'an integer or a short value', v);
  }
  const optional = r.stringList('sysctl.optional', { pattern: KEY, expected: 'a sysctl key' });
  const unmanaged: string[] = [];
  if (cluster.userCni) {
    for (const key of Object.keys(values)) {
      if (CNI_OWNED.test(key) && !cluster.explicit?.has(key)) {
        delete values[key];
        unmanaged.push(`${key} (flannel_backend: none: the CNI manages reverse-path filtering)`);
      }
    }
  }
  return { values, optional, unmanaged };
}
