// Gathers the state of many tasks in one remote command: each probe runs in its own subshell and
// its stdout is framed by markers that carry a per-batch random nonce, so a probe cannot forge them.
import { randomBytes } from 'node:crypto';
import type { ProbeResult } from './types.ts';

export interface Batch {
  script: string;
  parse(stdout: string): ProbeResult[];
}

export function buildProbeBatch(probes: string[]): Batch {
  const nonce = randomBytes(8).toString('hex');
  const begin = (i: number) => `@@cs-${nonce}-${i}-begin@@`;
  const endPrefix = (i: number) => `@@cs-${nonce}-${i}-end@@`;
  const parts = probes.map(
    (probe, i) => `printf '%s\\n' '${begin(i)}'\n( ${probe}\n) </dev/null 2>/dev/null\nprintf '\\n%s %s\\n' '${endPrefix(i)}' "$?"`,
  );
  const script = ['export LC_ALL=C', ...parts].join('\n');
  return {
    script,
    parse(stdout: string): ProbeResult[] {
      return probes.map((_, i) => {
        const b = stdout.indexOf(begin(i) + '\n');
        const e = stdout.indexOf('\n' + endPrefix(i) + ' ', b);
        if (b < 0 || e < 0) throw new Error(`probe ${i} produced no framed output (the batch was cut short)`);
        const body = stdout.slice(b + begin(i).length + 1, e);
        const codeText = stdout.slice(e + endPrefix(i).length + 2).split('\n', 1)[0];
        return { stdout: body, code: Number(codeText) };
      });
    },
  };
}
