// What K3s's documentation (Known Issues → iptables) asks of a host's iptables:
//  - iptables 1.6.1 or older in nftables mode: switch the alternatives to iptables-legacy;
//  - iptables 1.8.0 – 1.8.4 (e.g. Debian 10 / Raspbian Buster 1.8.2, Ubuntu 20.04 1.8.4) duplicate
//    rules: run K3s with its bundled, known-good iptables (`prefer-bundled-bin: true`);
//  - no iptables at all: K3s uses its bundled one; nothing to do.
// Current Debian 12 / Raspberry Pi OS bookworm (1.8.9, nf_tables) need neither.

export interface IptablesInfo {
  installed: boolean;
  version?: [number, number, number];
  mode?: 'nf_tables' | 'legacy';
  /** /usr/sbin/iptables-legacy exists */
  legacyAvailable: boolean;
}

export const IPTABLES_PROBE =
  `if command -v iptables >/dev/null 2>&1; then iptables --version 2>/dev/null | head -1; else echo none; fi; ` +
  `if [ -x /usr/sbin/iptables-legacy ]; then echo legacy-available; fi`;

export function parseIptables(stdout: string): IptablesInfo {
  const lines = stdout.split('\n').map((l) => l.trim());
  const legacyAvailable = lines.includes('legacy-available');
  const m = /iptables v(\d+)\.(\d+)\.(\d+)(?:\s*\((nf_tables|legacy)\))?/.exec(lines[0] ?? '');
  if (!m) return { installed: false, legacyAvailable };
  return {
    installed: true,
    version: [Number(m[1]), Number(m[2]), Number(m[3])],
    // iptables before 1.8 knew no nftables backend and printed no mode
    mode: (m[4] as IptablesInfo['mode']) ?? 'legacy',
    legacyAvailable,
  };
}

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
