// Kernel parameters, persisted in a sysctl.d file and applied live. Inside a container only the
// network namespace's keys (net.*) can be set; others are persisted and reported, never faked.
import type { Change, HostContext, InState, Task } from '../runner/types.ts';
import { fileFact, sha256 } from './file.ts';
import { q, run } from './shell.ts';
import { factOf, need } from '../facts/fact.ts';
import { procPath, sysctlFact } from '../facts/sysctl.ts';

export interface SysctlSpec {
  /** e.g. /etc/sysctl.d/zz-clusterseed-harden.conf */
  file: string;
  values: Record<string, string | number>;
  name?: string;
  tags?: string[];
  /** header comment of the file */
  comment?: string;
  /** keys that some kernels lack (e.g. kernel.yama.ptrace_scope without Yama): a missing one is
   * reported and skipped instead of failing, and written with systemd-sysctl's '-' prefix */
  optional?: string[];
}

export function sysctlFileContent(spec: SysctlSpec): string {
  const lines = [`# ${spec.comment ?? 'Managed by clusterseed; local edits are overwritten.'}`];
  const optional = new Set(spec.optional ?? []);
  for (const [k, v] of Object.entries(spec.values)) lines.push(`${optional.has(k) ? '-' : ''}${k} = ${v}`);
  return lines.join('\n') + '\n';
}

const norm = (v: string | number) => String(v).trim().split(/\s+/).join(' ');

export { procPath };

/**
 * Knobs the running kernel lets one tighten but never relax: once set, only a reboot brings the
 * laxer value back (Documentation/admin-guide/sysctl/kernel.rst: kexec_load_disabled and
 * modules_disabled "cannot be changed back"; unprivileged_bpf_disabled 1 "cannot be changed back
 * to 0 or 2" (2 still can); Documentation/admin-guide/LSM/Yama.rst: ptrace_scope 3 "cannot be
 * changed"). Returns true when going from `live` to `wanted` is such a relaxation.
 */
export function relaxableOnlyByReboot(key: string, live: string, wanted: string | number): boolean {
  const w = String(wanted).trim();
  switch (key) {
    case 'kernel.kexec_load_disabled':
    case 'kernel.modules_disabled':
    case 'kernel.unprivileged_bpf_disabled':
      return live.trim() === '1' && w !== '1';
    case 'kernel.yama.ptrace_scope':
      return live.trim() === '3' && w !== '3';
    default:
      return false;
  }
}

export function liveSettable(key: string, container: string): boolean {
  return !container || key.startsWith('net.');
}

/** `grep -H` output ("/proc/sys/a/b:value") → key → live value (the first line of a multi-line one). */
export function parseLiveValues(output: string, keys: string[]): Map<string, string> {
  const byPath = new Map(keys.map((k) => [procPath(k), k]));
  const live = new Map<string, string>();
  for (const line of output.split('\n')) {
    for (const [path, key] of byPath) {
      if (line.startsWith(`${path}:`) && !live.has(key)) live.set(key, line.slice(path.length + 1));
    }
  }
  return live;
}

export function sysctl(spec: SysctlSpec): Task {
  const content = sysctlFileContent(spec);
  const keys = Object.keys(spec.values);
  return {
    name: spec.name ?? `sysctl ${spec.file}`,
    tags: spec.tags,
    files: [{ path: spec.file, hash: true }],
    // the live values: the sysctl fact (lib/facts/sysctl.ts), one grep for every key of every
    // task and role in the batch
    facts: [need(sysctlFact, keys.map(procPath))],
    plan(state, ctx: HostContext): Change | InState {
      const values = factOf(state, sysctlFact);
      const live = new Map<string, string>();
      for (const k of keys) if (values.has(procPath(k))) live.set(k, values.get(procPath(k))!);
      const fileDiffers = fileFact(state, spec.file).sha256 !== sha256(content);
      const differ: string[] = [];
      const atBoot: string[] = [];
      for (const k of keys) {
        const cur = live.get(k) ?? '!missing';
        if (cur === '!missing' && spec.optional?.includes(k)) {
          ctx.log.warn(`sysctl ${k} does not exist on this kernel (${ctx.facts.kernel}); skipped`);
          continue;
        }
        if (cur === '!missing') {
          throw new Error(`sysctl ${k} does not exist on this kernel (${ctx.facts.kernel}); a module may be missing`);
        }
        if (norm(cur) === norm(spec.values[k])) continue;
        if (relaxableOnlyByReboot(k, cur, spec.values[k])) {
          // not a failure and not a change on every run: the file holds the value the next boot applies
          ctx.log.warn(
            `sysctl ${k}=${spec.values[k]} needs a reboot: the running kernel keeps ${cur} until then (it can only be tightened at runtime); persisted in ${spec.file}`,
          );
          atBoot.push(k);
          continue;
        }
        if (!liveSettable(k, ctx.facts.container)) {
          ctx.log.warn(
            `sysctl ${k}=${spec.values[k]} cannot be applied inside a ${ctx.facts.container} container (live value ${cur}); persisted in ${spec.file} only`,
          );
          continue;
        }
        differ.push(k);
      }
      const writes = differ.map((k) => `echo ${q(String(spec.values[k]))} > ${q(procPath(k))}`).join(' && ');
      if (!fileDiffers && differ.length === 0) {
        const notLive = keys.length - [...live.keys()].filter((k) => norm(live.get(k)!) === norm(spec.values[k])).length;
        return {
          ok:
            `${spec.file} up to date` +
            (notLive
              ? `; ${keys.length - notLive} of ${keys.length} key(s) live at their values (the others warned about above)`
              : `; all ${keys.length} key(s) live at their values`),
        };
      }
      const parts: string[] = [];
      if (fileDiffers) parts.push(`write ${spec.file}`);
      if (differ.length) parts.push(`set ${differ.map((k) => `${k}: ${live.get(k)} -> ${spec.values[k]}`).join(', ')}`);
      if (atBoot.length) parts.push(`reboot needed for ${atBoot.map((k) => `${k}: ${live.get(k)} -> ${spec.values[k]}`).join(', ')}`);
      return {
        summary: parts.join('; '),
        commands: [
          ...(fileDiffers ? [`upload ${spec.file} (${Buffer.byteLength(content)} bytes, mode 0644 root:root; atomic rename)`] : []),
          ...(differ.length ? [writes] : []),
        ],
        async apply(c) {
          if (fileDiffers) await c.conn.upload(spec.file, content, { mode: 0o644, owner: 'root', group: 'root', become: true });
          if (differ.length) {
            await run(c, writes, 'sysctl write');
          }
        },
      };
    },
  };
}
