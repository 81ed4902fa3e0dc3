// The installed state of apt packages, for every package a probe batch asks about, in ONE
// dpkg-query. dpkg-query reads the whole status database whatever it is asked (≈ 3 ms of host CPU
// per call, measured in the bench's containers), so one call per batch instead of one per task.
import { shQuote as q } from '../ssh/shell.ts';
import type { Fact } from './fact.ts';

/** Shell text printing "name status…" lines for `names` (parse it with parseInstalled). */
export function packageStateProbe(names: string[]): string {
  if (!names.length) throw new Error('packageStateProbe: no package named');
  // unknown names make dpkg-query complain and exit 1: that is part of the answer
  return `dpkg-query -W -f='\${Package} \${Status}\\n' -- ${names.map(q).join(' ')} 2>/dev/null; true`;
}

/** The packages installed ("install ok installed") in packageStateProbe's output, without :arch. */
export function parseInstalled(stdout: string): Set<string> {
  const installed = new Set<string>();
  for (const line of stdout.split('\n')) {
    const [name, ...status] = line.trim().split(' ');
    if (name && status.join(' ') === 'install ok installed') installed.add(name.replace(/:.*$/, ''));
  }
  return installed;
}

/** The apt packages of a batch: one dpkg-query for every package any task asked about (sorted). */
export const packagesFact: Fact<Set<string>, string> = {
  name: 'packages',
  command: (names) => packageStateProbe([...names].sort()),
  parse: (stdout) => parseInstalled(stdout),
};
