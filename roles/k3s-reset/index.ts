// Role `k3s-reset`: what the official k3s-killall.sh and k3s-uninstall.sh / k3s-agent-uninstall.sh do,
// as idempotent tasks with probes (a second reset changes nothing and says so):
//   stop and disable every k3s*.service; kill containerd shims; unmount /run/k3s, kubelet pod and
//   plugin mounts and CNI netns; delete CNI network namespaces; delete cni0 (and its ports),
//   flannel.1, flannel-v6.1, kube-ipvs0, flannel-wg, flannel-wg-v6; drop iptables rules with KUBE-,
//   CNI- or flannel marks; remove binaries, links, units, env files and data directories; and, on
//   the first server, the cluster's entries from the local kubeconfig.
// Left in place on purpose: /etc/rancher/node (the node password, as the official uninstaller does),
// what k3s-prereq set (sysctls, modules, swap) and the control machine's token file.
import type { Change, HostContext, Role, Task } from '../../lib/runner/types.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { hasK3sRules, withoutK3sRules } from '../../lib/k3s/iptables.ts';
import { readKubeconfig, removeFromKubeconfig, sameKubeconfig, writeKubeconfig } from '../../lib/k3s/kubeconfig.ts';
import { clusterOf, firstServer, settingsFor } from '../../lib/k3s/settings.ts';
import { roleSettings } from '../../lib/settings/index.ts';

/** `vars.k3s-reset`: defaults.yaml (none: any key is an inventory error; README "Settings") */
export const k3sResetSettings = roleSettings('k3s-reset', import.meta.url);

/** K3s's own iptables and tools live under its data dir; the official killall puts them on PATH too. */
const K3S_PATH = `for b in /var/lib/rancher/k3s/data/*/bin; do [ -d "$b" ] && PATH="$PATH:$b:$b/aux"; done; export PATH`;

const INTERFACES = ['cni0', 'flannel.1', 'flannel-v6.1', 'kube-ipvs0', 'flannel-wg', 'flannel-wg-v6'];
const MOUNT_PREFIXES = ['/run/k3s', '/var/lib/kubelet/pods', '/var/lib/kubelet/plugins', '/run/netns/cni-'];
export const K3S_PATHS = [
  '/etc/systemd/system/k3s.service',
  '/etc/systemd/system/k3s.service.env',
  '/etc/systemd/system/k3s-agent.service',
  '/etc/systemd/system/k3s-agent.service.env',
  '/usr/local/bin/k3s',
  '/usr/local/bin/k3s-killall.sh',
  '/usr/local/bin/k3s-uninstall.sh',
  '/usr/local/bin/k3s-agent-uninstall.sh',
  '/etc/rancher/k3s',
  '/run/k3s',
  '/run/flannel',
  '/var/lib/rancher/k3s',
  '/var/lib/kubelet',
  '/var/lib/cni',
];
const LINKS = ['kubectl', 'crictl', 'ctr'].map((c) => `/usr/local/bin/${c}`);

const lines = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

function stopUnitsTask(): Task {
  return {
    name: 'K3s services stopped and disabled',
    probe: `for f in /etc/systemd/system/k3s*.service; do [ -e "$f" ] || continue; u=$(basename "$f"); echo "$u $(systemctl is-active "$u" 2>/dev/null) $(systemctl is-enabled "$u" 2>/dev/null)"; done; true`,
    plan(state): Change | null {
      const units = lines(state.stdout)
        .map((l) => l.split(/\s+/))
        .filter(([, active, enabled]) => ['active', 'activating', 'reloading', 'deactivating'].includes(active) || enabled === 'enabled');
      if (units.length === 0) return null;
      const names = units.map(([u]) => u);
      return {
        summary: `stop and disable ${names.join(', ')}`,
        apply: (c) =>
          run(
            c,
            names
              .map((u) => `systemctl stop ${q(u)}; systemctl disable ${q(u)} 2>/dev/null; systemctl reset-failed ${q(u)} 2>/dev/null`)
              .join('; ') + '; true',
            'stop K3s units',
          ).then(() => undefined),
      };
    },
  };
}

function killShimsTask(): Task {
  const shims = `ps -e -o pid= -o args= | awk '$2 ~ "^/var/lib/rancher/k3s/data/[^/]*/bin/containerd-shim" {print $1}'`;
  return {
    name: 'containerd shims of K3s killed',
    probe: shims,
    plan(state): Change | null {
      const pids = lines(state.stdout);
      if (pids.length === 0) return null;
      return {
        summary: `kill ${pids.length} containerd shim(s) and their containers`,
        // the shims with every descendant (the containers they run), like killall's killtree
        apply: (c) =>
          run(
            c,
            `tree() { for p in "$@"; do echo "$p"; tree $(ps -e -o ppid= -o pid= | awk -v p="$p" '$1 == p {print $2}'); done; }; ` +
              `kill -9 $(tree $(${shims})) 2>/dev/null; true`,
            'kill containerd shims',
          ).then(() => undefined),
      };
    },
  };
}

function unmountTask(): Task {
  const match = MOUNT_PREFIXES.map((p) => `index($2, ${JSON.stringify(p)}) == 1`).join(' || ');
  return {
    name: 'K3s mounts unmounted',
    probe: `awk '${match} {print $2}' /proc/self/mounts | sort -r`,
    plan(state): Change | null {
      const mounts = lines(state.stdout);
      if (mounts.length === 0) return null;
      return {
        summary: `unmount ${mounts.length} mount(s) under ${MOUNT_PREFIXES.join(', ')}`,
        apply: (c) =>
          run(
            c,
            `awk '${match} {print $2}' /proc/self/mounts | sort -r | while read -r m; do umount -f "$m" 2>/dev/null || umount -l "$m"; rm -rf "$m"; done; true`,
            'unmount',
          ).then(() => undefined),
      };
    },
  };
}

function netnsTask(): Task {
  return {
    name: 'CNI network namespaces deleted',
    probe: `ip netns show 2>/dev/null | awk '$1 ~ /^cni-/ {print $1}'`,
    plan(state): Change | null {
      const ns = lines(state.stdout);
      if (ns.length === 0) return null;
      return {
        summary: `delete network namespaces ${ns.join(', ')}`,
        apply: (c) => run(c, ns.map((n) => `ip netns delete ${q(n)}`).join('; ') + '; true', 'delete netns').then(() => undefined),
      };
    },
  };
}

function interfacesTask(): Task {
  return {
    name: 'K3s network interfaces deleted',
    // the ports of cni0 (pod veths), then the interfaces flannel and kube-proxy create
    probe:
      `ip -o link show 2>/dev/null | awk -F': ' '/master cni0/ {split($2, a, "@"); print a[1]}'; ` +
      INTERFACES.map((i) => `ip link show ${i} >/dev/null 2>&1 && echo ${i}`).join('; ') +
      '; true',
    plan(state): Change | null {
      const ifaces = [...new Set(lines(state.stdout))];
      if (ifaces.length === 0) return null;
      return {
        summary: `delete ${ifaces.join(', ')}`,
        apply: (c) =>
          run(c, ifaces.map((i) => `ip link delete ${q(i)} 2>/dev/null`).join('; ') + '; true', 'delete interfaces').then(() => undefined),
      };
    },
  };
}

function iptablesTask(): Task {
  const tools = ['iptables', 'ip6tables'];
  return {
    name: 'iptables rules of K3s removed',
    probe:
      `${K3S_PATH}; ` +
      tools
        .map(
          (t) =>
            `if command -v ${t}-save >/dev/null 2>&1 && command -v ${t}-restore >/dev/null 2>&1; then echo "@@ ${t}"; ${t}-save 2>/dev/null; fi`,
        )
        .join('; ') +
      '; true',
    plan(state): Change | null {
      const saves = new Map<string, string>();
      for (const part of state.stdout.split('@@ ').slice(1)) {
        const nl = part.indexOf('\n');
        saves.set(part.slice(0, nl).trim(), part.slice(nl + 1));
      }
      const dirty = [...saves].filter(([, save]) => hasK3sRules(save));
      if (dirty.length === 0) return null;
      return {
        summary: `remove KUBE-/CNI-/flannel rules from ${dirty.map(([t]) => t).join(', ')}`,
        async apply(c) {
          for (const [tool, save] of dirty) await run(c, `${K3S_PATH}; ${tool}-restore`, `${tool}-restore`, withoutK3sRules(save));
        },
      };
    },
  };
}

function filesTask(): Task {
  return {
    name: 'K3s binaries, links, units and data removed',
    probe:
      K3S_PATHS.map((p) => `{ [ -e ${p} ] || [ -L ${p} ]; } && echo ${p}`).join('; ') +
      '; ' +
      LINKS.map((p) => `[ -L ${p} ] && echo ${p}`).join('; ') +
      '; true',
    plan(state): Change | null {
      const present = lines(state.stdout);
      if (present.length === 0) return null;
      return {
        summary: `remove ${present.join(', ')}`,
        apply: (c) =>
          run(
            c,
            present.map((p) => `rm -rf --one-file-system ${q(p)}`).join(' && ') + ' && systemctl daemon-reload',
            'remove K3s files',
          ).then(() => undefined),
      };
    },
  };
}

/** The cluster's context, user and cluster entries leave the local kubeconfig (first server only). */
function localKubeconfigTask(): Task {
  return {
    name: 'cluster removed from the local kubeconfig',
    when: (ctx) => firstServer(clusterOf(ctx.inventory, ctx.host)) === ctx.host.name,
    plan(_state, ctx: HostContext): Change | null {
      const settings = settingsFor(ctx);
      const file = settings.kubeconfig;
      const doc = readKubeconfig(file);
      if (!doc) return null;
      const next = removeFromKubeconfig(doc, settings.cluster.name);
      if (sameKubeconfig(doc, next)) return null;
      return { summary: `remove context "${settings.cluster.name}" from ${file}`, apply: async () => writeKubeconfig(file, next) };
    },
  };
}

export const k3sResetRole: Role = {
  name: 'k3s-reset',
  appliesTo: (host) => host.groups.includes('servers') || host.groups.includes('agents'),
  tasks: () => [
    stopUnitsTask(),
    killShimsTask(),
    unmountTask(),
    netnsTask(),
    interfacesTask(),
    iptablesTask(),
    filesTask(),
    localKubeconfigTask(),
  ],
};
