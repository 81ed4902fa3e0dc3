// Live kernel parameters, read from /proc/sys (no dependency on procps' sysctl). Parameters are
// /proc/sys paths, plain or with a `*` for a path component (every interface's knob): every
// request of a batch goes into ONE grep, so harden's and k3s-prereq's keys cost the host one process.
import { shQuote } from '../ssh/shell.ts';
import type { Fact } from './fact.ts';

/** /proc/sys path → live value (the first line of a multi-line value); a missing path has no entry */
export type SysctlValues = ReadonlyMap<string, string>;

/** /proc/sys path of a key (dots → slashes) */
export function procPath(key: string): string {
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}

const GLOB = /^\/proc\/sys\/[A-Za-z0-9_./*-]+$/;

function word(path: string): string {
  if (!path.startsWith('/proc/sys/') || /[\n\0]/.test(path))
    throw new Error(`sysctl fact: ${JSON.stringify(path)} is not a /proc/sys path`);
  if (!path.includes('*')) return shQuote(path);
  // a glob must stay unquoted: only path characters and `*` then
  if (!GLOB.test(path)) throw new Error(`sysctl fact: ${JSON.stringify(path)}: a pattern may hold only [A-Za-z0-9_./-] and *`);
  return path;
}

/** `grep -H` output ("/proc/sys/a/b:value" lines) → path → value (the first line of each). */
export function parseSysctlLines(output: string): Map<string, string> {
  const live = new Map<string, string>();
  for (const line of output.split('\n')) {
    const m = /^(\/proc\/sys\/[^:]*):(.*)$/.exec(line);
    if (m && !live.has(m[1])) live.set(m[1], m[2]);
  }
  return live;
}

export const sysctlFact: Fact<SysctlValues, string> = {
  name: 'sysctl',
  // one grep for every path ("path:value" lines; a missing path prints nothing): no subshell or
  // cat per key
  command: (paths) => (paths.length ? `grep -sH '' ${[...paths].sort().map(word).join(' ')}; true` : 'true'),
  parse: (stdout) => parseSysctlLines(stdout),
};
