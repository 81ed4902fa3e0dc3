// Proof that both tools did the same work: the files clusterseed's roles manage, read from a
// server and an agent after each tool's runs, compared between the tools. Each lab has its own
// subnet and key, so addresses and the admin key are normalised before comparing.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { TestLab } from '../test/harness/hosts.ts';
import { SUDOERS_FILE } from '../roles/base/admin.ts';
import { TIMESYNCD_DROPIN } from '../roles/base/system.ts';
import { AUDIT_RULES_FILE, AUDITD_CONF } from '../roles/harden/auditd.ts';
import { COREDUMP_DROPIN, CORE_SYSCTL_FILE, LIMITS_FILE, SYSTEMD_MANAGER_DROPIN } from '../roles/harden/coredump.ts';
import { CRON_ALLOW, CRON_PATHS } from '../roles/harden/cron.ts';
import { JAIL_FILE } from '../roles/harden/fail2ban.ts';
import { MODULES_CONF } from '../roles/harden/filesystems.ts';
import { RULESET_FILE, TABLE } from '../roles/harden/firewall.ts';
import { FIREWALL_UNIT, NFTABLES_DROPIN } from '../roles/harden/firewall-tasks.ts';
import { INTERFACE_SYSCTL_FILE } from '../roles/harden/interface-sysctl.ts';
import { ED25519_KEY, SSHD_DROPIN } from '../roles/harden/sshd.ts';
import { MODULI, SSHD_MAIN, SSHD_ROLLBACK } from '../roles/harden/sshd-tasks.ts';
import { LEGACY_SYSCTL_FILE, SYSCTL_FILE } from '../roles/harden/sysctl.ts';
import { TMP_MOUNT_UNIT } from '../roles/harden/tmp-mount.ts';
import { K3S_SYSCTL_FILE } from '../roles/k3s-prereq/index.ts';
import { KERNEL_DEFAULTS_FILE } from '../lib/k3s/kernel-defaults.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const dir = (p: string) => path.posix.dirname(p);

/** The bench lab's admin user (the harness image has it; base manages its keys, groups and sudo). */
const ADMIN_HOME = '/home/admin';

/**
 * Files and directories written (or removed) by base, harden and k3s-prereq, and by the playbook,
 * with their metadata: a file's mode, owner and content, a directory's mode, owner and entries (so
 * a leftover temp file or candidate shows), a link's target, or "absent". Paths the roles export
 * come from the roles, so a renamed file shows up here as a difference; test/unit/bench.test.ts
 * checks that every path the roles export is here or in NOT_COMPARED.
 */
export const MANAGED_FILES = [
  // base
  '/etc/hostname',
  '/etc/hosts',
  '/etc/localtime',
  '/etc/timezone',
  TIMESYNCD_DROPIN, // only with vars.base.time_sync.servers: absent on both
  dir(TIMESYNCD_DROPIN),
  dir(SUDOERS_FILE),
  SUDOERS_FILE,
  `${ADMIN_HOME}/.ssh`,
  `${ADMIN_HOME}/.ssh/authorized_keys`,
  '/etc/apt/apt.conf.d/20auto-upgrades',
  '/etc/apt/apt.conf.d/50unattended-upgrades',
  // harden: sysctl, modules, firewall, fail2ban
  dir(SYSCTL_FILE),
  SYSCTL_FILE,
  LEGACY_SYSCTL_FILE, // removed
  INTERFACE_SYSCTL_FILE,
  MODULES_CONF,
  dir(RULESET_FILE),
  RULESET_FILE,
  `/etc/systemd/system/${FIREWALL_UNIT}`,
  dir(NFTABLES_DROPIN),
  NFTABLES_DROPIN,
  JAIL_FILE, // fail2ban off by default: absent
  // harden: AppArmor, auditd, core dumps, cron, /tmp
  AUDIT_RULES_FILE,
  AUDITD_CONF,
  CORE_SYSCTL_FILE,
  dir(SYSTEMD_MANAGER_DROPIN),
  SYSTEMD_MANAGER_DROPIN,
  dir(LIMITS_FILE),
  LIMITS_FILE,
  dir(COREDUMP_DROPIN),
  COREDUMP_DROPIN,
  CRON_ALLOW,
  ...CRON_PATHS.map(([p]) => p),
  TMP_MOUNT_UNIT, // only with tmp_mount.tmpfs: absent on both
  '/etc/fstab', // /tmp options (harden) and swap entries (k3s-prereq)
  // harden: sshd
  MODULI,
  SSHD_MAIN,
  dir(SSHD_DROPIN),
  SSHD_DROPIN,
  // k3s-prereq
  K3S_SYSCTL_FILE,
  KERNEL_DEFAULTS_FILE,
  '/etc/modules-load.d/br_netfilter.conf',
  '/etc/modules-load.d/overlay.conf',
  '/boot/firmware/cmdline.txt', // Raspberry Pi only (cgroup and AppArmor words): absent on both
];

/**
 * Paths the roles export that are deliberately not in MANAGED_FILES, and why (the bench test
 * requires every exported path to be in one of the two).
 */
export const NOT_COMPARED: Record<string, string> = {
  [SSHD_ROLLBACK]: "clusterseed's own rollback copy, kept only between an sshd install and its proven reload",
  [ED25519_KEY]:
    'a host key differs from host to host by nature; the "sshd host keys" probe compares which keys exist, their modes and owners',
};

/** The sysctl keys the roles persist (every clusterseed sysctl.d file), each with its live value. */
const LIVE_SYSCTLS =
  `for f in /etc/sysctl.d/*clusterseed*.conf; do [ -f "$f" ] && sed -n 's/^-\\{0,1\\}\\([a-z][a-zA-Z0-9_.*-]*\\)[[:space:]]*=.*/\\1/p' "$f"; done | sort -u | ` +
  `while read -r k; do for p in /proc/sys/$(printf '%s' "$k" | tr . /); do [ -e "$p" ] && echo "$p $(cat "$p" 2>&1)"; done; done`;

const UNITS = [
  'systemd-timesyncd.service',
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  FIREWALL_UNIT,
  'nftables.service',
  'apparmor.service',
  'auditd.service',
  'fail2ban.service',
  'dphys-swapfile.service',
  'tmp.mount',
];

/** Live state the roles manage besides files. */
const STATE_PROBES: Record<string, string> = {
  packages: `dpkg-query -W -f='\${Package} \${Status}\\n' sudo tzdata systemd-timesyncd unattended-upgrades nftables apparmor auditd fail2ban python3-systemd 2>&1 | sort`,
  'admin user': `getent passwd admin; id -nG admin; printf 'password field: %s\\n' "$(getent shadow admin | cut -d: -f2)"`,
  'running host name': 'hostname',
  units: `for u in ${UNITS.join(' ')}; do e=$(systemctl is-enabled "$u" 2>/dev/null); a=$(systemctl is-active "$u" 2>/dev/null); echo "$u \${e:-none} \${a:-none}"; done`,
  // the handlers' daemon-reload: systemd runs the new manager settings and knows the drop-ins
  'systemd manager': `systemctl show -p DefaultLimitCORE; systemctl show -p DropInPaths -p NeedDaemonReload nftables.service ${FIREWALL_UNIT}`,
  'firewall table loaded': `nft list table inet ${TABLE} 2>&1 || echo missing`,
  'sshd effective settings': 'sshd -T -C user=admin,host=bench,addr=127.0.0.1 2>&1 | sort',
  'sshd host keys': "stat -c '%n %a %U:%G' /etc/ssh/ssh_host_* 2>&1",
  'live sysctls': LIVE_SYSCTLS,
  '/tmp mount options': 'findmnt -n -o OPTIONS --mountpoint /tmp || echo "not a mount"',
  'iptables alternatives': 'readlink /etc/alternatives/iptables /etc/alternatives/ip6tables || true',
};

export type HostState = Map<string, string>;

function probeScript(): string {
  const parts: string[] = [];
  for (const p of MANAGED_FILES) {
    parts.push(
      `echo '@@ ${p}'; if [ -L ${p} ]; then echo "link $(readlink ${p})"; ` +
        `elif [ -d ${p} ]; then stat -c '%a %U:%G' ${p}; echo "entries $(ls -A ${p} | tr '\\n' ' ')"; ` +
        `elif [ -e ${p} ]; then stat -c '%a %U:%G' ${p}; echo "b64 $(base64 -w0 < ${p})"; else echo absent; fi`,
    );
  }
  for (const [name, cmd] of Object.entries(STATE_PROBES)) parts.push(`echo '@@ ${name}'; ${cmd}`);
  parts.push('true');
  return parts.join('\n');
}

/** Lab-specific text that legitimately differs between two labs. */
function normaliser(lab: TestLab, adminKey: string): (text: string) => string {
  const net = lab.hosts[0].address.split('.').slice(0, 3).join('.');
  return (text) => text.split(adminKey).join('<admin key>').split(`${net}.`).join('<lab net>.');
}

/**
 * The managed files and states of a host. File contents are kept as the hash of their normalised
 * text, or as that text with `texts` (to see what differs while working on the playbook).
 */
export async function captureState(lab: TestLab, host: string, adminKey: string, opts: { texts?: boolean } = {}): Promise<HostState> {
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
      let text = norm(line);
      if (line.startsWith('b64 ')) {
        const content = norm(Buffer.from(line.slice(4), 'base64').toString('utf8'));
        text = opts.texts ? content : `sha256 ${sha256(content)}`;
      }
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
