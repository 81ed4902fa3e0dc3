// The kernel parameters `protect-kernel-defaults` needs. With the flag the kubelet refuses to start
// unless each one already has its value (without it, the kubelet writes them itself). The list is
// the kubelet's own: setupKernelTunables in kubernetes/kubernetes pkg/kubelet/cm/container_manager_linux.go
// @ 001332b0422071acf4860769f18e34b5e9b7c1bc (desiredState; the values are the constants of
// k8s.io/component-helpers/node/util/sysctl). The K3s CIS guide (hardening-guide.md @ 035acb07)
// lists only the first four; the keys.* two already have these values on current kernels, but the
// kubelet checks them, so they are persisted too.
import type { HostContext, PlanResult, Task } from '../runner/types.ts';
import { sysctl } from '../blocks/sysctl.ts';
import { settingsFor } from './settings.ts';

export const KERNEL_DEFAULTS_FILE = '/etc/sysctl.d/71-clusterseed-k3s-kernel-defaults.conf';

export const KUBELET_KERNEL_DEFAULTS: Record<string, number> = {
  'vm.panic_on_oom': 0, // VMPanicOnOOMInvokeOOMKiller: let the OOM killer act, never panic
  'vm.overcommit_memory': 1, // VMOvercommitMemoryAlways
  'kernel.panic': 10, // KernelPanicRebootTimeout: reboot 10 s after a panic
  'kernel.panic_on_oops': 1, // KernelPanicOnOopsAlways
  'kernel.keys.root_maxkeys': 1000000, // RootMaxKeysSetting
  'kernel.keys.root_maxbytes': 25000000, // RootMaxBytesSetting
};

/**
 * Whether this host's config.yaml gets `protect-kernel-defaults: true`. Inside a container these
 * parameters belong to the container's host (the kernel denies writing them, see /work/shared), so
 * the kubelet would refuse to start: the flag is left out there, and said so (warnings in k3s-prereq
 * and in the server/agent role), never silently.
 */
export function protectKernelDefaultsOn(wanted: boolean, container: string): boolean {
  return wanted && !container;
}

export function containerNotice(container: string): string {
  return (
    `protect-kernel-defaults left out of config.yaml: inside a ${container} container the kernel parameters ` +
    `${Object.keys(KUBELET_KERNEL_DEFAULTS).join(', ')} belong to the container's host and cannot be set here; ` +
    'set vars.k3s.protect_kernel_defaults: false to silence this'
  );
}

/** k3s-prereq's task: the six persisted and set live before K3s starts (when the flag is wanted). */
export function kernelDefaultsTask(): Task {
  const inner = sysctl({
    file: KERNEL_DEFAULTS_FILE,
    values: KUBELET_KERNEL_DEFAULTS,
    name: `sysctl ${KERNEL_DEFAULTS_FILE} (kubelet protect-kernel-defaults)`,
    comment: 'Managed by clusterseed (k3s-prereq): the values the kubelet checks with protect-kernel-defaults.',
  });
  return {
    ...inner,
    when: (ctx: HostContext) => settingsFor(ctx).hardening.protectKernelDefaults,
    async plan(state, ctx: HostContext): Promise<PlanResult> {
      // the sysctl block persists the file and warns per key that a container cannot apply
      if (ctx.facts.container) ctx.log.warn(containerNotice(ctx.facts.container));
      return inner.plan(state, ctx);
    },
  };
}
