// CPU time spent during a timed run, on both sides: the control machine (the tool's process tree,
// as the kernel accounts waited-for children to this process) and the test hosts (each container
// runs in its own cgroup, see test/harness/cgroups.ts). On this machine the hosts share its cores,
// so host CPU slows the run down in a way it would not with real, separate machines: the split
// tells the two apart.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { containerCgroups } from '../test/harness/cgroups.ts';

/** Linux USER_HZ: /proc/<pid>/stat counts clock ticks of 1/100 s on every architecture Linux supports here. */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) of this process's terminated, waited-for children so far. */
export function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // fields after the command name (which may contain spaces) start at field 3
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cutime = Number(fields[16 - 3]);
  const cstime = Number(fields[17 - 3]);
  return (cutime + cstime) / TICKS_PER_SECOND;
}

/** CPU seconds used so far by the containers of these network namespaces (cgroup2 cpu.stat). */
export function hostsCpuSeconds(netnsNames: string[]): number {
  let usec = 0;
  for (const netns of netnsNames) {
    for (const dir of containerCgroups(netns)) {
      try {
        const m = /^usage_usec (\d+)$/m.exec(readFileSync(path.join(dir, 'cpu.stat'), 'utf8'));
        if (m) {
          usec += Number(m[1]);
          break;
        }
      } catch {
        // not this hierarchy (cgroup v1 has no cpu.stat here)
      }
    }
  }
  return usec / 1e6;
}
