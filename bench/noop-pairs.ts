// `--noop-pairs N` (with --baseline): after this checkout's no-op rerun, N more no-op reruns on the
// same converged hosts, this checkout and the baseline back to back, alternating which goes first.
// A no-op lasts seconds, and the one sample a round gives is at the mercy of the machine's load
// (30 hosts still settle after their converge); two runs on the same hosts seconds apart share
// that load, so the median of their ratios tells a real difference from noise, without another
// converge per sample (12 minutes at 30 hosts on a slow machine). The hosts are the same for both:
// the bench's parity check shows that both leave identical hosts, and a pair whose run changes
// anything is a failure, not a sample.
import type { ToolRun } from './clusterseed.ts';

export type Side = 'clusterseed' | 'baseline';

export interface NoopPair {
  clusterseed: number;
  baseline: number;
}

/** Which side goes first in pair i (1-based): the baseline in odd pairs, this checkout in even ones. */
export function pairOrder(i: number): Side[] {
  return i % 2 === 1 ? ['baseline', 'clusterseed'] : ['clusterseed', 'baseline'];
}

/**
 * Times `pairs` pairs of no-op runs with `run` (one clusterseed run of `side` on the converged
 * hosts). A run that fails or changes a host is reported through `problem` and its pair dropped.
 */
export async function timeNoopPairs(
  pairs: number,
  run: (side: Side, label: string) => Promise<ToolRun>,
  problem: (text: string) => void,
  log: (line: string) => void,
): Promise<NoopPair[]> {
  const out: NoopPair[] = [];
  for (let i = 1; i <= pairs; i++) {
    const seconds: Partial<NoopPair> = {};
    for (const side of pairOrder(i)) {
      const r = await run(side, `noop-pair-${i}-${side}`);
      const wrong = r.problem ?? (r.changedHosts > 0 ? `changed ${r.changedHosts} host(s) on the converged hosts` : undefined);
      if (wrong) problem(`no-op pair ${i}, ${side}: ${wrong}`);
      else seconds[side] = r.seconds;
    }
    if (seconds.clusterseed !== undefined && seconds.baseline !== undefined) {
      out.push({ clusterseed: seconds.clusterseed, baseline: seconds.baseline });
      log(
        `  same hosts, no-op pair ${i}: this checkout ${seconds.clusterseed.toFixed(2)} s, baseline ${seconds.baseline.toFixed(2)} s (× ${(seconds.clusterseed / seconds.baseline).toFixed(3)})`,
      );
    }
  }
  return out;
}
