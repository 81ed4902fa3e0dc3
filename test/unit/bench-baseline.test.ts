// The bench's baseline comparison (`--baseline`): which tool goes first in a round, the "ratio ÷
// baseline's ratio" row, a baseline directory that cannot be timed, the no-op pairs on the same
// hosts (`--noop-pairs`), and a lab that fails to start. The git-ref path needs git:
// test/system/bench-baseline-git.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { BASELINE_TOLERANCE, baselineRow, benchTool, main, newSize, noopPairsRow, roundOrder } from '../../bench/run.ts';
import { pairOrder, timeNoopPairs, type Side } from '../../bench/noop-pairs.ts';
import type { ToolRun } from '../../bench/clusterseed.ts';
import type { K3sMirror } from '../support/k3s-mirror.ts';
import { ENTRY, prepareBaseline } from '../../bench/baseline.ts';
import { met } from '../../bench/table.ts';
import { UsageError } from '../../cli/args.ts';

test('every tool goes first once in as many rounds as there are tools', () => {
  const tools = ['clusterseed', 'baseline', 'ansible'] as const;
  const firsts = [1, 2, 3].map((round) => roundOrder(tools, round)[0]);
  assert.equal(firsts.sort(), [...tools].sort());
  assert.equal(roundOrder(tools, 4), roundOrder(tools, 1));
  for (let round = 1; round <= 3; round++) assert.equal([...roundOrder(tools, round)].sort(), [...tools].sort());
  // two tools alternate, as the bench did before there was a baseline
  assert.equal(roundOrder(['clusterseed', 'ansible'], 1), ['clusterseed', 'ansible']);
  assert.equal(roundOrder(['clusterseed', 'ansible'], 2), ['ansible', 'clusterseed']);
});

const samples = (cs: number[], base: number[]) => ({
  samples: {
    clusterseed: { converge: { seconds: cs, failed: 0 }, noop: { seconds: [], failed: 0 } },
    baseline: { converge: { seconds: base, failed: 0 }, noop: { seconds: [], failed: 0 } },
    ansible: { converge: { seconds: [100], failed: 0 }, noop: { seconds: [], failed: 0 } },
  },
});

test('the baseline row compares the medians of the two clusterseeds', () => {
  const faster = baselineRow('x', samples([9, 10, 30], [10, 11, 12]), 'converge');
  assert.is(faster.goal.value, 10 / 11);
  assert.is(faster.ratio, '× 0.909');
  assert.is(met(faster.goal), 'yes');
  const slower = baselineRow('x', samples([15, 15, 15], [10, 10, 10]), 'converge');
  assert.is(slower.goal.value, 1.5);
  assert.is(met(slower.goal), 'NO');
  assert.ok(BASELINE_TOLERANCE > 1 && BASELINE_TOLERANCE < 1.25, 'the tolerance is noise, not a free pass');
  assert.is(met(baselineRow('x', samples([], [10]), 'converge').goal), 'not measured');
  assert.is(met(baselineRow('x', samples([10], [10]), 'noop').goal), 'not measured');
});

test('a baseline directory without the bench entry or without node_modules is refused', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-baseline-'));
  try {
    const err = await prepareBaseline(dir, dir, dir).catch((e: unknown) => e);
    assert.instance(err, UsageError);
    assert.match((err as Error).message, ENTRY);
    mkdirSync(path.join(dir, 'bench'));
    writeFileSync(path.join(dir, ENTRY), '');
    const err2 = await prepareBaseline(dir, dir, dir).catch((e: unknown) => e);
    assert.match((err2 as Error).message, /node_modules/);
    mkdirSync(path.join(dir, 'node_modules'));
    const ok = await prepareBaseline(dir, dir, dir);
    assert.is(ok.root, dir);
    assert.is(ok.label, path.basename(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--without-ansible needs --baseline, and --baseline needs hosts: usage errors before anything starts', async () => {
  const errors: string[] = [];
  const original = console.error;
  console.error = (msg: string) => errors.push(msg);
  try {
    assert.is(await main(['--without-ansible', '--render', '0']), 1);
    assert.match(errors[0], /--without-ansible needs --baseline/);
    assert.is(await main(['--baseline', 'HEAD', '--hosts-off']), 1);
    assert.match(errors[1], /--baseline times hosts/);
    assert.is(await main(['--noop-pairs', '3', '--render', '0']), 1);
    assert.match(errors[2], /--noop-pairs needs --baseline/);
    assert.is(await main(['--noop-pairs', 'x', '--baseline', 'HEAD']), 1);
    assert.match(errors[3], /--noop-pairs must be an integer ≥ 0 \(got x\)/);
  } finally {
    console.error = original;
  }
});

test('a lab that does not start is a failed run of that tool, counted and named: the benchmark goes on', async () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'bench-lab-fails-'));
  try {
    const results = newSize();
    const lines: string[] = [];
    const round = await benchTool('baseline', 30, 2, {
      work,
      mirror: { url: 'http://127.0.0.1:9/', close: async () => undefined } as unknown as K3sMirror,
      timeoutMs: 1000,
      results,
      log: (line) => lines.push(line),
      pythonSetup: false,
      startLab: async () => {
        throw new Error('ip netns add h17: timed out after 60 s');
      },
    });
    assert.equal(round.seconds, {});
    assert.is(round.states, undefined, 'no hosts to compare');
    assert.equal(results.samples.baseline.converge, { seconds: [], failed: 1 });
    assert.equal(results.samples.baseline.noop, { seconds: [], failed: 1 });
    assert.equal(results.samples.clusterseed.converge.failed, 0, 'only the tool whose lab failed');
    assert.equal(results.problems, [
      'baseline converge + noop, 30 hosts, round 2: its lab did not start: ip netns add h17: timed out after 60 s',
    ]);
    assert.ok(
      lines.some((l) => l.includes('FAILED: its lab did not start')),
      lines.join('\n'),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('no-op pairs on the same hosts: who goes first alternates, a run that changes a host is no sample', async () => {
  assert.equal(pairOrder(1), ['baseline', 'clusterseed']);
  assert.equal(pairOrder(2), ['clusterseed', 'baseline']);
  const calls: string[] = [];
  const seconds: Record<string, number> = {
    'noop-pair-1-baseline': 10,
    'noop-pair-1-clusterseed': 9,
    'noop-pair-2-clusterseed': 12,
    'noop-pair-2-baseline': 10,
    'noop-pair-3-baseline': 10,
    'noop-pair-3-clusterseed': 10,
  };
  const run = async (side: Side, label: string): Promise<ToolRun> => {
    calls.push(label);
    assert.ok(label.endsWith(side), label);
    // pair 3: the baseline finds something to change on the converged hosts
    const changedHosts = label === 'noop-pair-3-baseline' ? 2 : 0;
    return { tool: side, ok: true, seconds: seconds[label], changedHosts, failedHosts: 0, logFile: `/w/${label}.log`, clientCpu: 0 };
  };
  const problems: string[] = [];
  const pairs = await timeNoopPairs(
    3,
    run,
    (p) => problems.push(p),
    () => undefined,
  );
  assert.equal(calls, Object.keys(seconds));
  assert.equal(pairs, [
    { clusterseed: 9, baseline: 10 },
    { clusterseed: 12, baseline: 10 },
  ]);
  assert.equal(problems, ['no-op pair 3, baseline: changed 2 host(s) on the converged hosts']);
  const row = noopPairsRow('x', pairs);
  assert.is(row.goal.value, (0.9 + 1.2) / 2, 'the median of the ratios, not the ratio of the medians');
  assert.is(row.clusterseed, '10.5 s (2 pairs)');
  assert.is(met(noopPairsRow('x', [{ clusterseed: 1, baseline: 1 }]).goal), 'yes');
  assert.is(met(noopPairsRow('x', []).goal), 'not measured');
});

test.run();
