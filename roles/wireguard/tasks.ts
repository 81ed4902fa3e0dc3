// The link on one host: the kernel's WireGuard (or a clear "unsupported here" inside a container),
// the wg-quick config (checked by `wg-quick strip` before it replaces the live file), and
// wg-quick@<iface> enabled and started. Changes to a running link are applied by the handler with
// `wg syncconf`, which keeps every session whose peer did not change.
import type { Change, HostContext, PlanResult, Task } from '../../lib/runner/types.ts';
import { NothingApplied } from '../../lib/runner/types.ts';
import { service } from '../../lib/blocks/index.ts';
import { fileFact, textOf } from '../../lib/blocks/file.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { attempt } from '../../lib/blocks/remote.ts';
import { installCandidate, VALIDATOR_REFUSED } from '../../lib/blocks/guarded-install.ts';
import { linkPlan, type LinkPlan } from '../../lib/wireguard/peers.ts';
import { configPath, CONFIG_DIR, IFACE_PATTERN, keysInConfig, missingKeys, renderConfig } from './config.ts';
import { publishedKey, TAG } from './keys.ts';

export const HANDLER = 'apply the site link';
const unsupportedName = (host: string) => `wireguard.unsupported:${host}`;

export const unitOf = (iface: string) => `wg-quick@${iface}`;

/** The reason WireGuard cannot run on this host in this run (set by the kernel task), else undefined. */
export function unsupported(ctx: HostContext): string | undefined {
  const v = ctx.shared.get(unsupportedName(ctx.host.name));
  return typeof v === 'string' ? v : undefined;
}

/** The link plan of this host with its interface name checked. */
export function planFor(ctx: HostContext): LinkPlan {
  const plan = linkPlan(ctx.inventory, ctx.host);
  if (!IFACE_PATTERN.test(plan.link.interface)) {
    throw new Error(
      `${ctx.inventory.file}: site_link.interface: "${plan.link.interface}" is not an interface name (1-15 of a-z A-Z 0-9 _ = + -)`,
    );
  }
  return plan;
}

/** Built in, loaded, or a module of the running kernel: the same test kernel-module.ts makes. */
const MODULE_PROBE =
  'if [ -d /sys/module/wireguard ]; then echo loaded; ' +
  'elif read -r kr </proc/sys/kernel/osrelease && grep -qs "/wireguard.ko" "/lib/modules/$kr/modules.builtin"; then echo loaded; ' +
  'elif [ -d /lib/modules ] && [ -n "$(find /lib/modules/"$kr" -name \'wireguard.ko*\' 2>/dev/null | head -n 1)" ]; then echo module; ' +
  'else echo none; fi';

export function kernelTask(): Task {
  return {
    name: 'WireGuard in the kernel',
    tags: [TAG],
    probe: MODULE_PROBE,
    plan(state, ctx): PlanResult {
      const got = state.stdout.trim();
      ctx.shared.delete(unsupportedName(ctx.host.name));
      if (got === 'loaded') return null;
      if (ctx.facts.container) {
        const why = `unsupported here: WireGuard is not in this ${ctx.facts.container} container's kernel and a container cannot load kernel modules (load wireguard on the container host); keys, config and firewall are in place, the tunnel is NOT up`;
        ctx.shared.set(unsupportedName(ctx.host.name), why);
        ctx.log.warn(why);
        return { skip: why };
      }
      return {
        summary: 'modprobe wireguard',
        async apply(c) {
          const res = await attempt(c, 'modprobe wireguard');
          if (res.code !== 0) {
            throw new Error(
              `modprobe wireguard failed (exit ${res.code}): ${(res.stderr || res.stdout).trim()}. ` +
                `${got === 'none' ? `The running kernel ${c.facts.kernel} has no wireguard module (Debian 11+ and Raspberry Pi OS kernels have it; a custom kernel needs CONFIG_WIREGUARD)` : 'The module is there but did not load'}`,
            );
          }
        },
      };
    },
  };
}

/** The keys of the peers: published by this run, else kept from the config on the host. */
function peerKeys(ctx: HostContext, plan: LinkPlan, current: string): Map<string, string> {
  const onHost = keysInConfig(current);
  const keys = new Map<string, string>();
  for (const p of plan.peers) {
    const key = publishedKey(ctx, p.name) ?? (ctx.peers.has(p.name) && ctx.options.check ? undefined : onHost.get(p.name));
    if (key) keys.set(p.name, key);
  }
  return keys;
}

/** sh: install a candidate config after `wg-quick strip` parsed it. Exit 65: refused, nothing changed. */
export function installConfigScript(candidateDir: string, iface: string): string {
  const cand = `${candidateDir}/${iface}.conf`;
  return [
    'set -u',
    `d=${q(candidateDir)}`,
    'trap \'rm -rf -- "$d"\' EXIT',
    `if ! out=$(wg-quick strip ${q(cand)} 2>&1 >/dev/null); then printf '%s\\n' "$out" >&2; exit ${VALIDATOR_REFUSED}; fi`,
    `mv -f -- ${q(cand)} ${q(configPath(iface))}`,
  ].join('\n');
}

export function configTask(iface: string, mtu: number): Task {
  const file = configPath(iface);
  return {
    name: `link config ${file}`,
    tags: [TAG],
    notify: [HANDLER],
    files: [{ path: file, content: true }],
    plan(state, ctx): Change | null {
      const fact = fileFact(state, file);
      const current = textOf(fact);
      const plan = planFor(ctx);
      const keys = peerKeys(ctx, plan, current);
      const missing = missingKeys(plan, keys);
      if (missing.length) {
        const msg = ctx.options.check
          ? `the public keys of ${missing.join(', ')} are generated by this run: their peers are not shown`
          : `no public key of ${missing.join(', ')} (not in this run, or it failed before its key was read, and not in ${file}): left out of the config until a run includes them`;
        ctx.log.warn(msg);
      }
      const content = renderConfig({ plan, keys, mtu });
      const metaOk = fact.mode === '0600' && fact.owner === 'root' && fact.group === 'root';
      if (fact.exists && current === content && metaOk) return null;
      return {
        summary: `${file}: ${!fact.exists ? 'create' : current !== content ? 'update' : `mode ${fact.mode} ${fact.owner}:${fact.group} -> 0600 root:root`} (${plan.peers.length - missing.length} peer(s)${plan.forwards ? ', hub' : ''})`,
        diff: [{ path: file, before: current, after: content }],
        async apply(c) {
          const dir = (await run(c, `mktemp -d ${q(`${CONFIG_DIR}/.candidate.XXXXXX`)}`, 'make a candidate directory')).trim();
          // validated (wg-quick strip) before it replaces the live file: lib/blocks/guarded-install.ts
          const res = await installCandidate(c, { path: `${dir}/${iface}.conf`, content, mode: 0o600 }, installConfigScript(dir, iface));
          if (res.code === VALIDATOR_REFUSED)
            throw new NothingApplied(`wg-quick strip refused the new ${file}; nothing was changed: ${res.stderr.trim()}`);
          if (res.code !== 0) throw new Error(`installing ${file} failed (exit ${res.code}): ${(res.stderr || res.stdout).trim()}`);
        },
      };
    },
  };
}

/** wg-quick@<iface> enabled and started, where the kernel has WireGuard. */
export function serviceTask(iface: string): Task {
  const inner = service({
    name: unitOf(iface),
    enabled: true,
    state: 'started',
    taskName: `${unitOf(iface)} enabled and started`,
    tags: [TAG],
  });
  return {
    ...inner,
    plan(state, ctx) {
      const why = unsupported(ctx);
      if (why) return { skip: why };
      return inner.plan(state, ctx);
    },
  };
}

export function linkTasks(ctx: HostContext, mtu: number): Task[] {
  const iface = planFor(ctx).link.interface;
  return [kernelTask(), configTask(iface, mtu), serviceTask(iface)];
}
