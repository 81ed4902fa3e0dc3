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
import { prereqsFor } from '../../lib/gitops/host-prereqs.ts';
import { isAgent, isServer } from '../../lib/k3s/settings.ts';
import { roleSettings } from '../../lib/settings/index.ts';

/** `vars.platform-prereq`: defaults.yaml (README "Settings") */
export const platformPrereqSettings = roleSettings('platform-prereq', import.meta.url);
export const defaults = platformPrereqSettings.defaults;

// which prerequisites a host needs and which packages satisfy them: knowledge the bring-up analysis
// shares (lib/gitops/host-prereqs.ts)
export { installedPackages, prereqsFor } from '../../lib/gitops/host-prereqs.ts';

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

function iscsiTasks(vars: Record<string, unknown>): Task[] {
  return [
    packages({ present: vars.iscsi_packages as string[], name: 'open-iscsi (Longhorn)' }),
    // Longhorn's own environment check asks for iscsi_tcp; loading it gives iscsid its transport
    kernelModule({ name: 'iscsi_tcp' }),
    service({ name: String(vars.iscsi_service), enabled: true, taskName: 'iscsid enabled (Longhorn)' }),
    iscsidRunningTask(String(vars.iscsi_service)),
  ];
}

/** The deb line of NVIDIA's repository, signed by its own key only. */
export function nvidiaSourcesLine(vars: Record<string, unknown>): string {
  return `deb [signed-by=${vars.nvidia_keyring}] ${vars.nvidia_repo_url} /`;
}

/**
 * Fetch the key (once: a replaced key is a decision for a human) into a temp file beside it
 * (mktemp, removed on every exit path), write the sources line, refresh only this repository's
 * lists so that the install sees its packages. Every step is checked.
 */
export function nvidiaRepoScript(vars: Record<string, unknown>): string {
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

function nvidiaTasks(vars: Record<string, unknown>): Task[] {
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
    packages({
      present: vars.nvidia_packages as string[],
      name: 'NVIDIA container toolkit',
      notify: ['restart k3s for the nvidia runtime'],
    }),
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
    if (has(ctx, 'nfs'))
      tasks.push(packages({ present: ctx.vars.nfs_packages as string[], name: 'NFSv4 client (Longhorn ReadWriteMany volumes)' }));
    if (has(ctx, 'nvidia-toolkit')) tasks.push(...nvidiaTasks(ctx.vars));
    return tasks;
  },
};
