// apt packages present/absent. The cache is refreshed only when it is older than cacheValidSeconds
// and something must be installed; dpkg's lock is waited for (unattended-upgrades may hold it).
import type { Change, HostContext, Task } from '../runner/types.ts';
import { q, run } from './shell.ts';

export interface PackagesSpec {
  present?: string[];
  absent?: string[];
  /** refresh the apt cache before installing when it is older than this (default 3600) */
  cacheValidSeconds?: number;
  installRecommends?: boolean;
  name?: string;
  tags?: string[];
  notify?: string[];
}

const APT_ENV = 'DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a';
const APT_OPTS = "-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";

/**
 * "cache-age SECONDS" when apt has package lists: the newer of the last update's marks. Shell
 * builtins where they do (a glob instead of ls | grep | head, a loop instead of sort | tail): on a
 * no-op run this probe runs once per packages task on every host, and each process counts.
 */
const CACHE_AGE_PROBE =
  `l=; for f in /var/lib/apt/lists/*; do case \${f##*/} in lock|partial|auxfiles|'*') ;; *) l=1; break ;; esac; done; ` +
  `if [ -n "$l" ]; then t=0; for x in $(stat -c %Y /var/lib/apt/lists/partial /var/cache/apt/pkgcache.bin 2>/dev/null); do [ "$x" -gt "$t" ] && t=$x; done; ` +
  `[ "$t" -gt 0 ] && echo "cache-age $(( $(date +%s) - t ))"; fi; true`;

/** Installed state of each package: "name install ok installed" when present. */
export function parseInstalled(stdout: string): { installed: Set<string>; cacheAge: number } {
  const installed = new Set<string>();
  let cacheAge = Number.POSITIVE_INFINITY;
  for (const line of stdout.split('\n')) {
    if (line.startsWith('cache-age ')) {
      const n = Number(line.slice(10));
      if (Number.isFinite(n) && n >= 0) cacheAge = n;
      continue;
    }
    const [name, ...status] = line.trim().split(' ');
    if (name && status.join(' ') === 'install ok installed') installed.add(name.replace(/:.*$/, ''));
  }
  return { installed, cacheAge };
}

export function packages(spec: PackagesSpec): Task {
  const present = [...new Set(spec.present ?? [])].sort();
  const absent = [...new Set(spec.absent ?? [])].sort();
  const all = [...present, ...absent];
  const valid = spec.cacheValidSeconds ?? 3600;
  return {
    name: spec.name ?? `packages ${[...present, ...absent.map((a) => `-${a}`)].join(' ')}`,
    tags: spec.tags,
    notify: spec.notify,
    probe:
      `dpkg-query -W -f='\${Package} \${Status}\\n' ${all.map(q).join(' ')} 2>/dev/null; ` +
      CACHE_AGE_PROBE,
    plan(state, ctx: HostContext): Change | null {
      const { installed, cacheAge } = parseInstalled(state.stdout);
      const install = present.filter((p) => !installed.has(p));
      const remove = absent.filter((p) => installed.has(p));
      if (install.length === 0 && remove.length === 0) return null;
      const parts: string[] = [];
      if (install.length) parts.push(`install ${install.join(' ')}`);
      if (remove.length) parts.push(`remove ${remove.join(' ')}`);
      return {
        summary: parts.join('; '),
        async apply(c) {
          const steps: string[] = [];
          if (install.length && cacheAge > valid) steps.push(`${APT_ENV} apt-get ${APT_OPTS} -q update`);
          if (install.length) {
            const rec = spec.installRecommends ? '' : '--no-install-recommends';
            steps.push(`${APT_ENV} apt-get ${APT_OPTS} -q -y ${rec} install ${install.map(q).join(' ')}`);
          }
          if (remove.length) steps.push(`${APT_ENV} apt-get ${APT_OPTS} -q -y purge ${remove.map(q).join(' ')}`);
          await run(c, steps.join(' && '), `apt (${parts.join('; ')})`);
          ctx.log.debug(`apt: ${parts.join('; ')}`);
        },
      };
    },
  };
}
