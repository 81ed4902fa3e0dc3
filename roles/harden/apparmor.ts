// AppArmor, which containerd applies to every container (its `cri-containerd.apparmor.d` profile)
// when the kernel has it enabled. Debian's x86 and arm64 kernels enable it by default, so there
// the package (profiles, apparmor.service that loads them) is all it takes. Raspberry Pi OS
// kernels build it in but leave it off: it is switched on from the kernel command line
// (apparmor=1 security=apparmor in cmdline.txt), which needs a reboot, done as k3s-prereq does for
// its cgroup flags. On a K3s node those cgroup flags are added in the same edit, so a fresh Pi
// reboots once, not twice (k3s-prereq then finds them present).
// In a container the container host's kernel decides: reported as such, never claimed.
import type { HostContext, Task } from '../../lib/runner/types.ts';
import { editFile, packages } from '../../lib/blocks/index.ts';
import { run } from '../../lib/blocks/shell.ts';
import { ensureCmdlineWords, PI_CGROUP_WORDS } from '../../lib/k3s/host-files.ts';
import { isK3sNode } from '../../lib/k3s/prepare.ts';

export const APPARMOR_WORDS = ['apparmor=1', 'security=apparmor'];
const ENABLED = '/sys/module/apparmor/parameters/enabled';

/** The words the Pi's cmdline.txt gets: AppArmor's, and on K3s nodes the cgroup flags too. */
export function piCmdlineWords(k3sNode: boolean): string[] {
  return [...APPARMOR_WORDS, ...(k3sNode ? PI_CGROUP_WORDS : [])];
}

export function apparmorTasks(ctx: HostContext, enabled: boolean): Task[] {
  if (!enabled) return [];
  const tasks: Task[] = [packages({ name: 'AppArmor packages', present: ['apparmor'] })];
  if (ctx.facts.raspberryPi && !ctx.facts.container) tasks.push(piApparmorCmdlineTask(ctx));
  tasks.push({
    name: 'AppArmor enabled in the kernel, profiles loaded',
    probe: `e=; IFS= read -r e < ${ENABLED} 2>/dev/null; echo "enabled=$e"; systemctl is-active apparmor 2>/dev/null || true`,
    plan(state, c: HostContext) {
      const [flag = '', active = ''] = state.stdout.split('\n').map((l) => l.trim());
      if (c.facts.container) {
        return {
          skip: `inside a ${c.facts.container} container AppArmor cannot be enabled: the container host's kernel decides (the package is installed; a VM or real host proves it enabled)`,
        };
      }
      if (flag !== 'enabled=Y') {
        if (c.facts.raspberryPi)
          return {
            skip: `not enabled in the running kernel yet: ${c.facts.piCmdlineFile} has ${APPARMOR_WORDS.join(' ')}, the reboot enables it`,
          };
        c.log.warn(
          `AppArmor is off in this kernel (${c.facts.kernel}): add "${APPARMOR_WORDS.join(' ')}" to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub and reboot)`,
        );
        return { skip: 'AppArmor is off in the running kernel (see the warning)' };
      }
      if (active === 'active') return null;
      return {
        summary: `load the AppArmor profiles (apparmor.service was ${active || 'unknown'})`,
        apply: (h) =>
          run(h, 'systemctl enable apparmor && systemctl start apparmor && systemctl is-active --quiet apparmor', 'start apparmor').then(
            () => undefined,
          ),
      };
    },
  });
  return tasks;
}

/** cmdline.txt (one line) with the AppArmor words; a change notifies the reboot handler. */
function piApparmorCmdlineTask(ctx: HostContext): Task {
  const path = ctx.facts.piCmdlineFile || '/boot/firmware/cmdline.txt';
  const words = piCmdlineWords(isK3sNode(ctx));
  return editFile({
    path,
    name: `AppArmor on the Raspberry Pi kernel command line (${path})`,
    notify: ['reboot'],
    ifMissing: () =>
      `${path} does not exist: this host is a Raspberry Pi (raspberry_pi) but has no kernel command line file there; set vars.harden.apparmor.enabled: false or fix the path`,
    edit: (current) => ensureCmdlineWords(current, words),
    describe: (current) => `add ${words.filter((w) => !current.split(/\s+/).includes(w)).join(' ')} (reboot follows)`,
  });
}
