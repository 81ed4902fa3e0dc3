// Kernel modules a cluster node does not need, refused by modprobe: filesystems nobody mounts and
// rarely used network protocols. A filesystem the host uses (mounted now or listed in /etc/fstab)
// is never blacklisted, and neither is vfat on a Raspberry Pi, whose firmware partition is vfat
// even when it is not mounted.
import type { Change, Task } from '../../lib/runner/types.ts';
import { fileFact, textOf } from '../../lib/blocks/file.ts';
import type { VarsReader } from '../../lib/settings/index.ts';
import { putFile } from '../../lib/blocks/remote.ts';

export const MODULES_CONF = '/etc/modprobe.d/60-clusterseed-unused.conf';

/**
 * Modules K3s and its CNIs load: K3s itself modprobes overlay, nf_conntrack, br_netfilter,
 * iptable_nat, iptable_filter (ip6table_* for IPv6) and the nft-* aliases (k3s-io/k3s
 * pkg/agent/syssetup/setup.go, Configure, commit 00014d2846a2); flannel needs vxlan (vxlan
 * backend) or wireguard (wireguard-native); pods need veth and bridge; kube-proxy's ipvs mode
 * ip_vs*. Blacklisting one breaks the node in ways that show up far from the cause.
 */
const K3S_MODULES = new Set([
  'overlay',
  'br_netfilter',
  'bridge',
  'veth',
  'vxlan',
  'wireguard',
  'ip_tables',
  'ip6_tables',
  'x_tables',
  'nf_tables',
  'nfnetlink',
  'udp_tunnel',
  'ip6_udp_tunnel',
  'llc',
  'stp',
]);
const K3S_MODULE_PREFIXES = /^(?:nf_|nft_|nfnetlink_|xt_|ipt_|ip6t_|iptable_|ip6table_|ebt|ip_vs|ip_set)/;

export function neededByK3s(module: string): boolean {
  const name = module.replace(/-/g, '_');
  return K3S_MODULES.has(name) || K3S_MODULE_PREFIXES.test(name);
}

function readModuleList(r: VarsReader, path: string, expected: string): string[] {
  const list = r.stringList(path, { pattern: /^[a-z0-9_-]+$/, expected });
  list.forEach((m, i) => {
    if (neededByK3s(m))
      r.fail(
        `${path}[${i}]`,
        `${expected} that K3s does not need (${m} is loaded by K3s, flannel or kube-proxy; blacklisting it breaks the node)`,
        m,
      );
  });
  return [...new Set(list)];
}

export function readFilesystems(r: VarsReader): string[] {
  return readModuleList(r, 'filesystems.blacklist', 'a filesystem module name');
}

export function readProtocols(r: VarsReader): string[] {
  return readModuleList(r, 'network_protocols.blacklist', 'a protocol module name');
}

export interface FilesystemChoice {
  blacklist: string[];
  /** wanted but kept loadable, with the reason */
  kept: string[];
}

export function chooseFilesystems(wanted: string[], inUse: Set<string>, raspberryPi: boolean): FilesystemChoice {
  const blacklist: string[] = [];
  const kept: string[] = [];
  for (const fs of wanted) {
    if (fs === 'vfat' && raspberryPi) kept.push('vfat (the Raspberry Pi boots from a vfat partition)');
    else if (inUse.has(fs)) kept.push(`${fs} (in use on this host)`);
    else blacklist.push(fs);
  }
  return { blacklist, kept };
}

export function renderModulesConf(filesystems: string[], protocols: string[]): string {
  const lines = [
    '# Managed by clusterseed (role harden); local edits are overwritten.',
    '# Modules a cluster node does not need: "install ... /bin/false" refuses even an explicit modprobe.',
  ];
  const section = (title: string, list: string[]) => {
    if (!list.length) return;
    lines.push(`# ${title}`);
    for (const m of list) lines.push(`install ${m} /bin/false`, `blacklist ${m}`);
  };
  section('filesystems', filesystems);
  section('network protocols', protocols);
  return lines.join('\n') + '\n';
}

/** Filesystem types in /proc/mounts and /etc/fstab (one per line in the probe output). */
export function parseInUse(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  );
}

export function unusedModulesTask(wanted: string[], protocols: string[]): Task {
  return {
    name: 'unused filesystems and protocols blacklisted',
    files: [{ path: MODULES_CONF, content: true }],
    // the types mounted now and those in fstab, in one awk (duplicates are dropped by parseInUse)
    probe: `awk 'FILENAME == "/proc/mounts" { print $3; next } $1 !~ /^#/ && NF >= 3 { print $3 }' /proc/mounts /etc/fstab 2>/dev/null; true`,
    plan(state, ctx): Change | null {
      const st = fileFact(state, MODULES_CONF);
      const current = textOf(st);
      const choice = chooseFilesystems(wanted, parseInUse(state.stdout), ctx.facts.raspberryPi);
      if (choice.kept.length) ctx.log.verbose(`filesystems kept loadable: ${choice.kept.join(', ')}`);
      const content = renderModulesConf(choice.blacklist, protocols);
      if (st.exists && current === content && st.mode === '0644') return null;
      return {
        summary: `${MODULES_CONF}: blacklist ${[...choice.blacklist, ...protocols].join(', ') || 'nothing'}${choice.kept.length ? `; kept ${choice.kept.join(', ')}` : ''}`,
        diff: [{ path: MODULES_CONF, before: current, after: content }],
        apply: (c) => putFile(c, MODULES_CONF, content, { mode: 0o644 }),
      };
    },
  };
}
