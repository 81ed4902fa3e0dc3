// A kernel module loaded now and at every boot (modules-load.d). Built-in modules count as loaded.
import type { Change, HostContext, InState, Task } from '../runner/types.ts';
import { fileFact, textOf } from './file.ts';
import { q, run } from './shell.ts';

export interface KernelModuleSpec {
  name: string;
  persist?: boolean;
  /** a path whose existence proves the feature is there (e.g. /proc/sys/net/bridge for br_netfilter) */
  presentIf?: string;
  tags?: string[];
}

export function kernelModule(spec: KernelModuleSpec): Task {
  const confPath = `/etc/modules-load.d/${spec.name}.conf`;
  const persist = spec.persist ?? true;
  const want = `${spec.name}\n`;
  const loadedTest =
    // the kernel release read from /proc by the shell, not by one more process (uname -r)
    // and no grep where there is no module tree (a container)
    `[ -d /sys/module/${spec.name} ] || { read -r kr </proc/sys/kernel/osrelease && [ -f "/lib/modules/$kr/modules.builtin" ] && grep -qs "/${spec.name}.ko" "/lib/modules/$kr/modules.builtin"; }` +
    (spec.presentIf ? ` || [ -e ${q(spec.presentIf)} ]` : '');
  return {
    name: `kernel module ${spec.name}`,
    tags: spec.tags,
    probe: `if ${loadedTest}; then echo loaded; else echo missing; fi`,
    files: persist ? [{ path: confPath, content: true }] : undefined,
    plan(state, ctx: HostContext): Change | InState {
      const loaded = state.stdout.trim() === 'loaded';
      const persisted = !persist || textOf(fileFact(state, confPath)) === want;
      let load = !loaded;
      if (load && ctx.facts.container) {
        ctx.log.warn(
          `kernel module ${spec.name} is not loaded and cannot be loaded from inside a ${ctx.facts.container} container; load it on the container host`,
        );
        load = false;
      }
      if (!load && persisted)
        return {
          ok: `${loaded ? `${spec.name} loaded` : `${spec.name} not loaded (the container's host must load it)`}${persist ? `, listed in ${confPath}` : ''}`,
        };
      const parts: string[] = [];
      if (load) parts.push(`modprobe ${spec.name}`);
      if (!persisted) parts.push(`persist in ${confPath}`);
      return {
        summary: parts.join('; '),
        commands: [
          ...(!persisted ? [`upload ${confPath} (${spec.name}, mode 0644 root:root; atomic rename)`] : []),
          ...(load ? [`modprobe ${q(spec.name)}`] : []),
        ],
        async apply(c) {
          if (!persisted) await c.conn.upload(confPath, want, { mode: 0o644, owner: 'root', group: 'root', become: true });
          if (load) await run(c, `modprobe ${q(spec.name)}`, `modprobe ${spec.name}`);
        },
      };
    },
  };
}
