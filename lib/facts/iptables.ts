// The host's iptables: installed or not, its version and mode (nf_tables or legacy), and whether
// iptables-legacy is there to switch to. What K3s makes of it is lib/k3s/iptables.ts.
import type { Fact } from './fact.ts';

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

export const iptablesFact: Fact<IptablesInfo> = {
  name: 'iptables',
  command: () => IPTABLES_PROBE,
  parse: (stdout) => parseIptables(stdout),
};
