// Role `platform-prereq`: the host side of the GitOps components (issue 15). A component says in
// the catalog which host packages its pods need (ComponentDef.hostPrereqs); this role installs
// them on the nodes those pods may land on, before K3s starts there:
//  - iscsi (Longhorn): open-iscsi with iscsid enabled, on every node of the cluster (Longhorn's
//    manager runs everywhere and a volume attaches wherever its pod is scheduled);
//  - nfs (Longhorn): nfs-common on every node (ReadWriteMany volumes and NFS backups mount over NFSv4);
//  - nvidia-toolkit (nvidia-device-plugin): NVIDIA's apt repository and the container toolkit, on
//    the component's nodes (group/label gpu). K3s finds the nvidia runtime when it starts, so an
//    install on a node where K3s already runs restarts it.
import type { HostSpec, Inventory } from '../../lib/inventory/model.ts';
import type { Handler, HostContext, Role, Task } from '../../lib/runner/types.ts';
import { command, isActiveState, kernelModule, packages, q, run, service, unitState } from '../../lib/blocks/index.ts';
import type { HostPrereq } from '../../lib/gitops/catalog.ts';
import { enabledDefs } from '../../lib/gitops/model.ts';
import { nodeModel, placementFor } from '../../lib/gitops/placement.ts';
import { isAgent, isServer } from '../../lib/k3s/settings.ts';
import { deepMerge } from '../../lib/runner/merge.ts';
import { roleSettings } from '../../lib/settings/index.ts';

/** `vars.platform-prereq`: defaults.yaml (README "Settings") */
export const platformPrereqSettings = roleSettings('platform-prereq', import.meta.url);
export const defaults = platformPrereqSettings.defaults;

/** Prerequisites needed on every node of the cluster, whatever the component's placement. */
const CLUSTER_WIDE: ReadonlySet<HostPrereq> = new Set(['iscsi', 'nfs']);

/**
 * The host prerequisites of `host`: those of the components its cluster enables, where the
 * component's pods may land on this host. Pure: the bring-up analysis asks the same question.
 */
export function prereqsFor(host: HostSpec, inventory: Inventory): { prereq: HostPrereq; component: string }[] {
  const clusterIndex = inventory.clusters.findIndex((c) => c.name === host.cluster);
  if (clusterIndex < 0) return [];
  const cluster = inventory.clusters[clusterIndex];
  const servers = new Set(cluster.servers);
  const nodes = inventory.hosts
    .filter((h) => h.cluster === cluster.name)
    .map((h) => nodeModel(h, servers.has(h.name) ? 'server' : 'agent'));
  const out: { prereq: HostPrereq; component: string }[] = [];
  for (const def of enabledDefs(cluster, clusterIndex === 0)) {
    for (const prereq of def.hostPrereqs ?? []) {
      const where = CLUSTER_WIDE.has(prereq) ? nodes.map((n) => n.name) : placementFor(def.placement, nodes).nodes;
      if (where.includes(host.name)) out.push({ prereq, component: def.name });
    }
  }
  return out.sort((a, b) => (a.prereq < b.prereq ? -1 : a.prereq > b.prereq ? 1 : 0));
}

/**
 * The Debian packages this role installs on `host` (its vars merged as the runner merges them):
 * the bring-up analysis counts them as present for its host-prerequisite check.
 */
export function installedPackages(host: HostSpec, inventory: Inventory): string[] {
  if (!(isServer(host) || isAgent(host))) return [];
  const vars = deepMerge(defaults, (host.vars['platform-prereq'] as Record<string, unknown>) ?? {}) as Record<string, any>;
  const prereqs = new Set(prereqsFor(host, inventory).map((x) => x.prereq));
  return [
    ...(prereqs.has('iscsi') ? vars.iscsi_packages : []),
    ...(prereqs.has('nfs') ? vars.nfs_packages : []),
    ...(prereqs.has('nvidia-toolkit') ? vars.nvidia_packages : []),
  ].map(String);
}

const has = (ctx: HostContext, p: HostPrereq) => prereqsFor(ctx.host, ctx.inventory).some((x) => x.prereq === p);

/**
 * iscsid needs the kernel's iSCSI transport (NETLINK_ISCSI, from scsi_transport_iscsi, which
 * iscsi_tcp pulls in); without it the daemon starts and exits at once. A container cannot load
 * it: the task says so and skips; on a host it is an error (Longhorn could not attach volumes).
 */
function iscsidRunningTask(unit: string): Task {
  return {
    name: 'iscsid running (Longhorn)',
    probe: `if [ -d /sys/module/scsi_transport_iscsi ]; then echo transport; else echo no-transport; fi`,
    units: [unit],
    plan(state, ctx: HostContext) {
      if (isActiveState(unitState(state, unit).active)) return null;
      if (state.stdout.trim() !== 'transport') {
        if (ctx.facts.container) {
          return {
            skip: `iscsid cannot run in this ${ctx.facts.container} container: its kernel has no iSCSI transport (load iscsi_tcp on the container host)`,
          };
        }
        throw new Error(
          'iscsid cannot run: the kernel has no iSCSI transport (scsi_transport_iscsi) although iscsi_tcp was asked for; Longhorn needs it',
        );
      }
      return { summary: `start ${unit}`, apply: (c) => run(c, `systemctl start ${q(unit)}`, `start ${unit}`).then(() => undefined) };
    },
  };
}

function iscsiTasks(vars: Record<string, any>): Task[] {
  return [
    packages({ present: vars.iscsi_packages, name: 'open-iscsi (Longhorn)' }),
    // Longhorn's own environment check asks for iscsi_tcp; loading it gives iscsid its transport
    kernelModule({ name: 'iscsi_tcp' }),
    service({ name: vars.iscsi_service, enabled: true, taskName: 'iscsid enabled (Longhorn)' }),
    iscsidRunningTask(vars.iscsi_service),
  ];
}

/** The deb line of NVIDIA's repository, signed by its own key only. */
export function nvidiaSourcesLine(vars: Record<string, any>): string {
  return `deb [signed-by=${vars.nvidia_keyring}] ${vars.nvidia_repo_url} /`;
}

/**
 * Fetch the key (once: a replaced key is a decision for a human) into a temp file beside it
 * (mktemp, removed on every exit path), write the sources line, refresh only this repository's
 * lists so that the install sees its packages. Every step is checked.
 */
export function nvidiaRepoScript(vars: Record<string, any>): string {
  const key = String(vars.nvidia_keyring);
  const list = String(vars.nvidia_sources_file);
  return [
    `k=${q(key)}; t=`,
    `trap 'rm -f -- \${t:+"$t"}' EXIT`,
    'if [ ! -s "$k" ]; then',
    `  t=$(mktemp ${q(`${key}.cs-XXXXXXXX`)}) || exit 67`,
    `  curl -fsSL --retry 3 ${q(String(vars.nvidia_key_url))} -o "$t" || exit 68`,
    '  mv -f -- "$t" "$k" || exit 67',
    '  t=',
    'fi',
    'chmod 0644 "$k" || exit 67',
    '# shellcheck disable=SC2016 # $(ARCH) is for apt, not the shell',
    `printf '%s\\n' ${q(nvidiaSourcesLine(vars))} > ${q(list)} || exit 67`,
    `DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 -o Dir::Etc::sourcelist=${q(list)} -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 update`,
  ].join('\n');
}

function nvidiaTasks(vars: Record<string, any>): Task[] {
  const line = nvidiaSourcesLine(vars);
  const list = String(vars.nvidia_sources_file);
  const key = String(vars.nvidia_keyring);
  return [
    packages({ present: ['ca-certificates', 'curl'], name: "curl (to fetch NVIDIA's repository key)" }),
    command({
      name: 'NVIDIA container toolkit apt repository',
      probe: `test -s ${q(key)} && grep -qxF ${q(line)} ${q(list)}`,
      summary: `add ${vars.nvidia_repo_url} signed by ${vars.nvidia_key_url}`,
      run: nvidiaRepoScript(vars),
    }),
    packages({ present: vars.nvidia_packages, name: 'NVIDIA container toolkit', notify: ['restart k3s for the nvidia runtime'] }),
  ];
}

const restartK3s: Handler = {
  name: 'restart k3s for the nvidia runtime',
  // try-restart: only a running K3s is restarted; one started later finds the runtime by itself
  run: (ctx) => run(ctx, 'systemctl try-restart k3s.service k3s-agent.service', 'restart K3s').then(() => undefined),
};

export const platformPrereqRole: Role = {
  name: 'platform-prereq',
  defaults,
  appliesTo: (host: HostSpec, inventory: Inventory) => (isServer(host) || isAgent(host)) && prereqsFor(host, inventory).length > 0,
  handlers: [restartK3s],
  tasks(ctx: HostContext): Task[] {
    const tasks: Task[] = [];
    if (has(ctx, 'iscsi')) tasks.push(...iscsiTasks(ctx.vars));
    if (has(ctx, 'nfs')) tasks.push(packages({ present: ctx.vars.nfs_packages, name: 'NFSv4 client (Longhorn ReadWriteMany volumes)' }));
    if (has(ctx, 'nvidia-toolkit')) tasks.push(...nvidiaTasks(ctx.vars));
    return tasks;
  },
};
