// Role `k3s-prereq`: what a host needs before K3s runs on it.
//  - the run's K3s release files verified (before this role changes anything, on any host);
//  - swap off now (swapoff -a) and at boot (fstab entries commented out, dphys-swapfile disabled);
//  - br_netfilter and overlay loaded and persisted;
//  - forwarding and bridge-netfilter sysctls in 70-clusterseed-k3s.conf (keys the hardening file never sets);
//  - the six kernel parameters protect-kernel-defaults checks, in 71-clusterseed-k3s-kernel-defaults.conf;
//  - iptables as K3s's documentation asks (see lib/k3s/iptables.ts);
//  - Raspberry Pi: cgroup flags on the kernel command line, and ONE reboot only when it changed.
import type { Change, Handler, HostContext, Role, PlanResult, Task } from '../../lib/runner/types.ts';
import { editFile, kernelModule, parseUnitStates, sysctl, unitStateProbe } from '../../lib/blocks/index.ts';
import { rebootAndWait } from '../../lib/blocks/reboot.ts';
import { run } from '../../lib/blocks/shell.ts';
import { activeSwapEntries, commentOutSwap, ensureCmdlineWords, PI_CGROUP_WORDS } from '../../lib/k3s/host-files.ts';
import { iptablesAdvice, iptablesFact } from '../../lib/k3s/iptables.ts';
import { factOf, need } from '../../lib/facts/fact.ts';
import { isK3sNode } from '../../lib/k3s/prepare.ts';
import { kernelDefaultsTask } from '../../lib/k3s/kernel-defaults.ts';
import { settingsFor } from '../../lib/k3s/settings.ts';
import type { ClusterSpec } from '../../lib/inventory/model.ts';
import { artifactsTask } from './artifacts.ts';
import { roleSettings, VarsReader } from '../../lib/settings/index.ts';
import { deepMerge } from '../../lib/runner/merge.ts';

export const K3S_SYSCTL_FILE = '/etc/sysctl.d/70-clusterseed-k3s.conf';

export const K3S_SYSCTLS: Record<string, number> = {
  'net.ipv4.ip_forward': 1,
  'net.bridge.bridge-nf-call-iptables': 1,
  'net.bridge.bridge-nf-call-ip6tables': 1,
};

/**
 * IPv6 forwarding only for clusters with an IPv6 (or dual-stack) CIDR, as K3s does itself
 * (k3s-io/k3s pkg/agent/syssetup/setup.go, kernelSysctls, commit 00014d2846a2: the ipv6 forwarding
 * keys are set `if enableIPv6`). With forwarding on, the kernel ignores router advertisements, so an
 * IPv4-only node on a SLAAC LAN would lose its IPv6 addresses and default route.
 */
export function k3sSysctls(cluster: Pick<ClusterSpec, 'clusterCidr' | 'serviceCidr'>): Record<string, number> {
  const ipv6 = [cluster.clusterCidr, cluster.serviceCidr].some((cidr) => cidr.includes(':'));
  return ipv6 ? { ...K3S_SYSCTLS, 'net.ipv6.conf.all.forwarding': 1, 'net.ipv6.conf.default.forwarding': 1 } : { ...K3S_SYSCTLS };
}

/** The range of vars.k3s-prereq.reboot_timeout (seconds): shorter than a Pi's boot, or longer than two hours, is a mistake. */
const REBOOT_TIMEOUT_MIN_S = 30;
const REBOOT_TIMEOUT_MAX_S = 7200;

/** `vars.k3s-prereq`: defaults.yaml (README "Settings"), checked against every vars layer before any host is touched */
export const k3sPrereqSettings = roleSettings('k3s-prereq', import.meta.url, {
  types: { reboot_timeout: { type: 'integer', min: REBOOT_TIMEOUT_MIN_S, max: REBOOT_TIMEOUT_MAX_S } },
});
export const k3sPrereqDefaults = k3sPrereqSettings.defaults;

function swapOffTask(): Task {
  return {
    name: 'swap off now',
    // the first column after the header, read by the shell (no awk)
    probe: `{ read -r _ && while read -r f _; do echo "$f"; done; } </proc/swaps 2>/dev/null; true`,
    plan(state, ctx: HostContext): PlanResult {
      const active = state.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      if (active.length === 0) return null;
      if (ctx.facts.container) {
        // /proc/swaps shows the container host's swap; turning it off is not this host's business
        return { skip: `swap (${active.join(', ')}) belongs to the ${ctx.facts.container} container's host` };
      }
      return {
        summary: `swapoff -a (active: ${active.join(', ')})`,
        apply: (c) => run(c, 'swapoff -a', 'swapoff -a').then(() => undefined),
      };
    },
  };
}

/** Swap entries in /etc/fstab commented out, so swap stays off after a reboot. */
function fstabSwapTask(): Task {
  return editFile({
    path: '/etc/fstab',
    name: 'no swap in /etc/fstab',
    ifMissing: 'in-state',
    edit: commentOutSwap,
    describe: (current) => {
      const n = activeSwapEntries(current).length;
      return `comment out ${n} swap entr${n === 1 ? 'y' : 'ies'}`;
    },
  });
}

const DPHYS_SWAPFILE = 'dphys-swapfile.service';

/** Where systemd finds units (and the SysV generator's output for /etc/init.d scripts). */
const UNIT_DIRS = [
  '/etc/systemd/system',
  '/run/systemd/system',
  '/run/systemd/generator',
  '/usr/local/lib/systemd/system',
  '/usr/lib/systemd/system',
  '/lib/systemd/system',
  '/run/systemd/generator.late',
];

/** Raspberry Pi OS keeps its swap file in dphys-swapfile, not in fstab. */
function dphysSwapfileTask(): Task {
  return {
    name: 'dphys-swapfile disabled',
    // most hosts have no such unit: a look at the unit directories spares them a systemctl call
    // (and PID 1 a unit load) on every run
    probe: `for d in ${UNIT_DIRS.join(' ')}; do [ -e "$d/${DPHYS_SWAPFILE}" ] && { ${unitStateProbe([DPHYS_SWAPFILE])}; exit; }; done; echo absent`,
    plan(state): Change | null {
      if (state.stdout.trim() === 'absent') return null;
      const unit = parseUnitStates(state.stdout, [DPHYS_SWAPFILE]).get(DPHYS_SWAPFILE)!;
      if (unit.load === 'not-found' || unit.load === '') return null;
      const { unitFile: enabled, active } = unit;
      if (enabled !== 'enabled' && active !== 'active') return null;
      return {
        summary: `stop and disable dphys-swapfile (${enabled}/${active})`,
        apply: (c) =>
          run(
            c,
            'dphys-swapfile swapoff 2>/dev/null || true; systemctl disable --now dphys-swapfile.service',
            'disable dphys-swapfile',
          ).then(() => undefined),
      };
    },
  };
}

function iptablesTask(): Task {
  return {
    name: 'iptables suitable for K3s',
    // the iptables fact, kept for the K3s node roles' prefer-bundled-bin (roles/k3s-server/tasks.ts)
    facts: [need(iptablesFact)],
    plan(state, ctx: HostContext): Change | null {
      const info = factOf(state, iptablesFact);
      const advice = iptablesAdvice(info);
      if (advice.preferBundledBin) ctx.log.verbose(`${advice.reason}: prefer-bundled-bin is set in config.yaml`);
      if (!advice.switchToLegacy) return null;
      if (!info.legacyAvailable) {
        ctx.log.warn(`${advice.reason}, and iptables-legacy is not installed: install it or upgrade iptables`);
        return null;
      }
      return {
        summary: `${advice.reason}: switch iptables and ip6tables to legacy`,
        apply: (c) =>
          run(
            c,
            'update-alternatives --set iptables /usr/sbin/iptables-legacy && update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy',
            'update-alternatives',
          ).then(() => undefined),
      };
    },
  };
}

/** The installer's own hint: K3s needs the memory cgroup (a Pi gets it from cmdline.txt below). */
function memoryCgroupTask(): Task {
  return {
    name: 'memory cgroup available',
    // cgroup v2: the controllers line; v1: /proc/cgroups' enabled column; both read by the shell
    probe:
      `c=; IFS= read -r c </sys/fs/cgroup/cgroup.controllers 2>/dev/null; ` +
      `case " $c " in *" memory "*) echo ok ;; *) ` +
      `m=missing; while read -r n _ _ e; do [ "$n" = memory ] && { [ "$e" = 1 ] && m=ok; break; }; done </proc/cgroups 2>/dev/null; echo $m ;; esac`,
    plan(state, ctx: HostContext): null {
      if (state.stdout.trim() !== 'ok' && !ctx.facts.raspberryPi) {
        ctx.log.warn('no memory cgroup: K3s will not start; add "cgroup_memory=1 cgroup_enable=memory" to the kernel command line');
      }
      return null;
    },
  };
}

/** cmdline.txt (one line) with the cgroup flags; a change notifies the reboot handler. */
function piCmdlineTask(ctx: HostContext): Task {
  const path = ctx.facts.piCmdlineFile || '/boot/firmware/cmdline.txt';
  return editFile({
    path,
    name: `Raspberry Pi kernel command line (${path})`,
    notify: ['reboot'],
    when: (c) => c.facts.raspberryPi,
    ifMissing: () =>
      `${path} does not exist: this host is a Raspberry Pi per the inventory (raspberry_pi: true) but has no kernel command line file there`,
    edit: (current) => ensureCmdlineWords(current, PI_CGROUP_WORDS),
    describe: (current) => {
      const added = PI_CGROUP_WORDS.filter((w) => !current.split(/\s+/).includes(w));
      return `${added.length ? `add ${added.join(' ')}` : 'join into one line'} (reboot follows)`;
    },
  });
}

/**
 * vars.k3s-prereq.reboot_timeout of a host, k3s-prereq's own setting also when another role
 * (harden, for the Pi's AppArmor flags) notifies the reboot handler: ctx.vars is then that role's.
 * Exported for roles/vars-preflight.ts: a handler reads it only after a change, so it is checked
 * for every host before any is touched.
 */
export function rebootTimeoutMs(ctx: Pick<HostContext, 'inventory' | 'host'>): number {
  const prereqVars = deepMerge(k3sPrereqDefaults, (ctx.host.vars['k3s-prereq'] as Record<string, unknown>) ?? {});
  return VarsReader.of({ ...ctx, vars: prereqVars }, 'k3s-prereq').int('reboot_timeout', REBOOT_TIMEOUT_MIN_S, REBOOT_TIMEOUT_MAX_S) * 1000;
}

export const rebootHandler: Handler = {
  name: 'reboot',
  async run(ctx) {
    await rebootAndWait(ctx, rebootTimeoutMs(ctx));
  },
};

export const k3sPrereqRole: Role = {
  name: 'k3s-prereq',
  appliesTo: (host) => host.groups.includes('servers') || host.groups.includes('agents'),
  defaults: k3sPrereqDefaults,
  probeAhead: true,
  tasks(ctx) {
    if (!isK3sNode(ctx)) return [];
    return [
      artifactsTask(),
      swapOffTask(),
      fstabSwapTask(),
      dphysSwapfileTask(),
      kernelModule({ name: 'br_netfilter', presentIf: '/proc/sys/net/bridge' }),
      kernelModule({ name: 'overlay' }),
      sysctl({
        file: K3S_SYSCTL_FILE,
        values: k3sSysctls(settingsFor(ctx).cluster),
        optional: ['net.ipv6.conf.all.forwarding', 'net.ipv6.conf.default.forwarding'],
        comment:
          'Managed by clusterseed (k3s-prereq): forwarding and bridge netfilter for K3s (keys zz-clusterseed-harden.conf never sets).',
      }),
      kernelDefaultsTask(), // for protect-kernel-defaults (lib/k3s/kernel-defaults.ts)
      iptablesTask(),
      memoryCgroupTask(),
      piCmdlineTask(ctx),
    ];
  },
  handlers: [rebootHandler],
};

export default k3sPrereqRole;
