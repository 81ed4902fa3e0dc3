// What K3s's documentation (Known Issues → iptables) asks of a host's iptables:
//  - iptables 1.6.1 or older in nftables mode: switch the alternatives to iptables-legacy;
//  - iptables 1.8.0 – 1.8.4 (e.g. Debian 10 / Raspbian Buster 1.8.2, Ubuntu 20.04 1.8.4) duplicate
//    rules: run K3s with its bundled, known-good iptables (`prefer-bundled-bin: true`);
//  - no iptables at all: K3s uses its bundled one; nothing to do.
// Current Debian 12 / Raspberry Pi OS bookworm (1.8.9, nf_tables) need neither.

import type { IptablesInfo } from '../facts/iptables.ts';

// the fact itself (probe and parser) is lib/facts/iptables.ts, shared by k3s-prereq and the K3s node roles
export { IPTABLES_PROBE, parseIptables, iptablesFact, type IptablesInfo } from '../facts/iptables.ts';

function cmp(a: [number, number, number], b: [number, number, number]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

export interface IptablesAdvice {
  switchToLegacy: boolean;
  preferBundledBin: boolean;
  reason?: string;
}

export function iptablesAdvice(info: IptablesInfo): IptablesAdvice {
  if (!info.installed || !info.version) return { switchToLegacy: false, preferBundledBin: false };
  const v = info.version.join('.');
  if (info.mode === 'nf_tables' && cmp(info.version, [1, 6, 1]) <= 0) {
    return { switchToLegacy: true, preferBundledBin: false, reason: `iptables ${v} in nftables mode is too old for K3s` };
  }
  if (cmp(info.version, [1, 8, 0]) >= 0 && cmp(info.version, [1, 8, 4]) <= 0) {
    return {
      switchToLegacy: false,
      preferBundledBin: true,
      reason: `iptables ${v} duplicates rules (K3s issue 3117); K3s uses its bundled iptables`,
    };
  }
  return { switchToLegacy: false, preferBundledBin: false };
}

/** iptables-save output without the rules and chains of Kubernetes, CNI and flannel (reset). */
export function withoutK3sRules(save: string): string {
  return save
    .split('\n')
    .filter((line) => !line.includes('KUBE-') && !line.includes('CNI-') && !/flannel/i.test(line))
    .join('\n');
}

export function hasK3sRules(save: string): boolean {
  return withoutK3sRules(save) !== save;
}
