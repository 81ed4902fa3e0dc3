// The bench's baseline comparison (`--baseline`): which tool goes first in a round, the "ratio ÷
// baseline's ratio" row, and a baseline directory that cannot be timed. The git-ref path needs git:
// test/system/bench-baseline-git.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { BASELINE_TOLERANCE, baselineRow, main, roundOrder } from '../../bench/run.ts';
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
  } finally {
    console.error = original;
  }
});

test.run();
