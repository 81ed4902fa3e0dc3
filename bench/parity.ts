// Proof that both tools did the same work: the files clusterseed's roles manage, read from a
// server and an agent after each tool's runs, compared between the tools. Each lab has its own
// subnet and key, so addresses and the admin key are normalised before comparing.
import { createHash } from 'node:crypto';
import type { TestLab } from '../test/harness/hosts.ts';
import { SUDOERS_FILE } from '../roles/base/admin.ts';
import { MODULES_CONF } from '../roles/harden/filesystems.ts';
import { RULESET_FILE } from '../roles/harden/firewall.ts';
import { SSHD_DROPIN } from '../roles/harden/sshd.ts';
import { SYSCTL_FILE } from '../roles/harden/sysctl.ts';
import { K3S_SYSCTL_FILE } from '../roles/k3s-prereq/index.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Files written by base, harden and k3s-prereq (and by the playbook), with their metadata. Paths
 * the roles export come from the roles, so a renamed file shows up here as a difference.
 */
export const MANAGED_FILES = [
  '/etc/hostname',
  '/etc/hosts',
  '/etc/localtime',
  '/etc/timezone',
  SUDOERS_FILE,
  '/home/admin/.ssh/authorized_keys',
  '/etc/apt/apt.conf.d/20auto-upgrades',
  '/etc/apt/apt.conf.d/50unattended-upgrades',
  SYSCTL_FILE,
  MODULES_CONF,
  RULESET_FILE,
  '/etc/systemd/system/clusterseed-firewall.service',
  '/etc/ssh/moduli',
  '/etc/ssh/sshd_config',
  SSHD_DROPIN,
  K3S_SYSCTL_FILE,
  '/etc/modules-load.d/br_netfilter.conf',
  '/etc/modules-load.d/overlay.conf',
  '/etc/fstab',
];

/** Live state the roles manage besides files. */
const STATE_PROBES: Record<string, string> = {
  packages: `dpkg-query -W -f='\${Package} \${Status}\\n' sudo tzdata systemd-timesyncd unattended-upgrades nftables 2>&1 | sort`,
  'admin groups': 'id -nG admin',
  'running host name': 'hostname',
  'units enabled': 'systemctl is-enabled systemd-timesyncd clusterseed-firewall.service 2>&1',
  'firewall table loaded': 'nft list table inet clusterseed >/dev/null 2>&1 && echo loaded || echo missing',
  'sshd effective settings':
    "sshd -T -C user=admin,host=bench,addr=127.0.0.1 2>&1 | grep -Ei '^(permitrootlogin|passwordauthentication|authenticationmethods|maxsessions|ciphers|kexalgorithms|macs) ' | sort",
  'net sysctls': 'cat /proc/sys/net/ipv4/conf/all/rp_filter /proc/sys/net/ipv4/conf/all/accept_redirects /proc/sys/net/ipv4/ip_forward',
};

export type HostState = Map<string, string>;

function probeScript(): string {
  const parts: string[] = [];
  for (const file of MANAGED_FILES) {
    parts.push(
      `echo '@@ ${file}'; if [ -L ${file} ]; then echo "link $(readlink ${file})"; elif [ -e ${file} ]; then stat -c '%a %U:%G' ${file}; echo "b64 $(base64 -w0 < ${file})"; else echo absent; fi`,
    );
  }
  for (const [name, cmd] of Object.entries(STATE_PROBES)) parts.push(`echo '@@ ${name}'; ${cmd}`);
  return parts.join('\n');
}

/** Lab-specific text that legitimately differs between two labs. */
function normaliser(lab: TestLab, adminKey: string): (text: string) => string {
  const net = lab.hosts[0].address.split('.').slice(0, 3).join('.');
  return (text) => text.split(adminKey).join('<admin key>').split(`${net}.`).join('<lab net>.');
}

export async function captureState(lab: TestLab, host: string, adminKey: string): Promise<HostState> {
  const r = await lab.sh(host, probeScript(), { timeoutMs: 30_000 });
  const norm = normaliser(lab, adminKey);
  if (r.code !== 0) throw new Error(`reading the managed files of ${host} failed (exit ${r.code}): ${r.stderr.trim()}`);
  const state: HostState = new Map();
  let current = '';
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('@@ ')) {
      current = line.slice(3);
      state.set(current, '');
    } else if (current) {
      // file contents are compared by the hash of their normalised text
      const text = line.startsWith('b64 ') ? `sha256 ${sha256(norm(Buffer.from(line.slice(4), 'base64').toString('utf8')))}` : norm(line);
      state.set(current, state.get(current)! + text + '\n');
    }
  }
  return state;
}

/** Names of the files/states that differ between two captures of the same host role. */
export function compareStates(a: HostState, b: HostState): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k));
}
