// Kernel and network hardening parameters. The keys K3s needs on (forwarding, bridge netfilter)
// belong to the K3s prerequisites file, 70-clusterseed-k3s.conf: this role refuses to set them at
// all, so a hardening override can never switch a node's forwarding off, and the two files never
// set the same key.
import type { VarsReader } from '../base/vars-check.ts';

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
}

export function readSysctl(r: VarsReader): SysctlChoice {
  const map = r.map('sysctl.values');
  const values: Record<string, string | number> = {};
  for (const [key, v] of Object.entries(map)) {
    if (v === null) continue;
    if (!KEY.test(key)) r.fail(`sysctl.values.${key}`, 'a sysctl key such as kernel.kptr_restrict', key);
    if (K3S_OWNED.test(key)) {
      r.fail(`sysctl.values.${key}`, 'no value: forwarding and bridge keys are owned by the K3s prerequisites (70-clusterseed-k3s.conf) and must stay on', v);
    }
    if (typeof v === 'number' && Number.isInteger(v)) values[key] = v;
    else if (typeof v === 'string' && /^[\w .:-]+$/.test(v)) values[key] = v;
    else r.fail(`sysctl.values.${key}`, 'an integer or a short value', v);
  }
  const optional = r.stringList('sysctl.optional', { pattern: KEY, expected: 'a sysctl key' });
  return { values, optional };
}
