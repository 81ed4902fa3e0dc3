// apt packages present/absent. The cache is refreshed only when it is older than cacheValidSeconds
// and something must be installed; dpkg's lock is waited for (unattended-upgrades may hold it).
import type { Change, HostContext, InState, Task } from '../runner/types.ts';
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
const APT_OPTS = '-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold';

/**
 * Exit 0 when apt has package lists newer than VALID seconds (the newer of the last update's
 * marks). Runs only before an install, on the host, so a no-op probe pays nothing for it.
 */
export function cacheFreshScript(validSeconds: number): string {
  return (
    `l=; for f in /var/lib/apt/lists/*; do case \${f##*/} in lock|partial|auxfiles|'*') ;; *) l=1; break ;; esac; done; ` +
    `[ -n "$l" ] && t=0 && for x in $(stat -c %Y /var/lib/apt/lists/partial /var/cache/apt/pkgcache.bin 2>/dev/null); do if [ "$x" -gt "$t" ]; then t=$x; fi; done && ` +
    `[ "$t" -gt 0 ] && [ $(( $(date +%s) - t )) -le ${Math.floor(validSeconds)} ]`
  );
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
    // answered by the batch's one dpkg-query (lib/blocks/package-state.ts)
    packages: all,
    plan(state, ctx: HostContext): Change | InState {
      if (all.length && !state.packages) throw new Error('packages: the probe batch did not report the packages');
      const installed = state.packages ?? new Set<string>();
      const install = present.filter((p) => !installed.has(p));
      const remove = absent.filter((p) => installed.has(p));
      if (install.length === 0 && remove.length === 0) {
        const said: string[] = [];
        if (present.length) said.push(`${present.length === 1 ? 'package' : 'packages'} ${present.join(', ')} installed`);
        if (absent.length) said.push(`${absent.join(', ')} not installed`);
        return { ok: said.join('; ') || 'no package named' };
      }
      const parts: string[] = [];
      if (install.length) parts.push(`install ${install.join(' ')}`);
      if (remove.length) parts.push(`remove ${remove.join(' ')}`);
      const steps: string[] = [];
      if (install.length) steps.push(`{ { ${cacheFreshScript(valid)}; } || ${APT_ENV} apt-get ${APT_OPTS} -q update; }`);
      if (install.length) {
        const rec = spec.installRecommends ? '' : '--no-install-recommends';
        steps.push(`${APT_ENV} apt-get ${APT_OPTS} -q -y ${rec} install ${install.map(q).join(' ')}`);
      }
      if (remove.length) steps.push(`${APT_ENV} apt-get ${APT_OPTS} -q -y purge ${remove.map(q).join(' ')}`);
      return {
        summary: parts.join('; '),
        // the update only when apt's lists are older than cacheValidSeconds
        commands: [
          ...(install.length ? [`${APT_ENV} apt-get ${APT_OPTS} -q update (when the lists are older than ${valid} s)`] : []),
          ...steps.slice(install.length ? 1 : 0),
        ],
        async apply(c) {
          await run(c, steps.join(' && '), `apt (${parts.join('; ')})`);
          ctx.log.debug(`apt: ${parts.join('; ')}`);
        },
      };
    },
  };
}
