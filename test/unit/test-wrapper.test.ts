// test/support/uvu.ts and scripts/test.mjs, through the real thing: test files written to a
// temporary folder, run by `node scripts/test.mjs DIR` in a child process (so a test meant to fail
// or hang there leaves this suite green), checked by exit code, output and wall time.
import { TIER_BOUNDS_S, defaultBoundS, test, tierOf } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const wrapper = path.join(root, 'test', 'support', 'uvu.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-test-wrapper-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A folder of test files: name -> body (after the import of the wrapper). */
function suiteDir(name: string, files: Record<string, string>): string {
  const dir = path.join(tmp, name);
  for (const [file, body] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), `import { test, skip } from ${JSON.stringify(wrapper)};\n${body}\ntest.run();\n`);
  }
  return dir;
}

interface Run {
  code: number | null;
  out: string;
  seconds: number;
}

/** `node scripts/test.mjs dir` with CI unset unless `env` sets it; killed after 150 s. */
function runTests(dir: string, env: Record<string, string> = {}): Promise<Run> {
  const started = Date.now();
  const base = { ...process.env };
  delete base.CI;
  delete base.CLUSTERSEED_TEST_TIME_SCALE;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'scripts', 'test.mjs'), dir, '\\.test\\.ts$'], {
      cwd: root,
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, out, seconds: (Date.now() - started) / 1000 });
    });
  });
}

// each child run starts node, tsx and uvu (≈ 5 s here when idle, several times that on a loaded machine)
const CHILD_RUNS = { timeoutSeconds: 300 };

const summary = (r: Run) => /tests: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(r.out)?.slice(1).map(Number);

test('the tier of a test file comes from its folder; files elsewhere get the hosts bound', () => {
  assert.is(tierOf('test/unit/a.test.ts'), 'unit');
  assert.is(tierOf('test/system/a.test.ts'), 'system');
  assert.is(tierOf('/x/test/faults/a.test.ts'), 'faults');
  assert.is(tierOf('test/vm/site.test.ts'), 'vm');
  assert.is(tierOf('test/fixtures/a.test.ts'), undefined);
  assert.equal(TIER_BOUNDS_S, { unit: 60, system: 60, hosts: 600, faults: 600, vm: 1800 });
  assert.is(defaultBoundS('test/hosts/site.test.ts'), 600);
  assert.is(defaultBoundS('test/unit/a.test.ts'), 60);
  assert.is(defaultBoundS('test/system/a.test.ts'), 60);
  assert.is(defaultBoundS('elsewhere/a.test.ts'), 600);
});

test(
  'a test that never settles fails after its bound, naming itself and the bound; the next test still runs; one past half its bound is listed as slow',
  CHILD_RUNS,
  async () => {
    const dir = suiteDir('hang', {
      'hang.test.ts': `
test('never settles', { timeoutSeconds: 1 }, () => new Promise(() => {}));
test('runs after it', () => {});
test('slow but within its bound', { timeoutSeconds: 4 }, () => new Promise((done) => setTimeout(done, 2500)));`,
    });
    const r = await runTests(dir);
    assert.is(r.code, 1, r.out);
    assert.match(r.out, /test "never settles" \(.*hang\.test\.ts\) timed out: still running after its bound of 1 s/);
    assert.equal(summary(r), [2, 1, 0], r.out);
    // more than half its bound: listed, still passed
    assert.match(r.out, /slow: test "slow but within its bound" \(.*hang\.test\.ts\): \d+(\.\d)? s of its bound of 4 s/);
    assert.ok(r.seconds < 30, `took ${r.seconds} s`);
  },
);

test('without an explicit bound each tier folder gets its own (scaled down here by CLUSTERSEED_TEST_TIME_SCALE)', CHILD_RUNS, async () => {
  const hang = `test('hangs', () => new Promise(() => {}));`;
  const dir = suiteDir('tiers', {
    'test/unit/u.test.ts': hang,
    'test/hosts/h.test.ts': hang,
    'test/faults/f.test.ts': hang,
    'test/vm/v.test.ts': hang,
  });
  const r = await runTests(dir, { CLUSTERSEED_TEST_TIME_SCALE: String(1 / 600) });
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /u\.test\.ts\) timed out: still running after its bound of 0\.1 s \(tier unit;/);
  assert.match(r.out, /h\.test\.ts\) timed out: still running after its bound of 1 s \(tier hosts;/);
  assert.match(r.out, /f\.test\.ts\) timed out: still running after its bound of 1 s \(tier faults;/);
  assert.match(r.out, /v\.test\.ts\) timed out: still running after its bound of 3 s \(tier vm;/);
  assert.equal(summary(r), [0, 4, 0], r.out);
});

test(
  'hooks are bounded too: a hung before fails its file (uvu alone would exit 0), a hung after does not stop later files',
  CHILD_RUNS,
  async () => {
    const dir = suiteDir('hooks', {
      'a-before.test.ts': `
test.before({ timeoutSeconds: 1 }, () => new Promise(() => {}));
test('one', () => {});
test('two', () => {});`,
      'b-after.test.ts': `
test.after({ timeoutSeconds: 1 }, () => new Promise(() => {}));
test('three', () => {});`,
      'c-later.test.ts': `test('four', () => {});`,
    });
    const r = await runTests(dir);
    assert.is(r.code, 1, r.out);
    assert.match(
      r.out,
      /\[hook failed\] .*a-before\.test\.ts › before: before hook \(.*a-before\.test\.ts\) timed out: still running after its bound of 1 s/,
    );
    assert.match(
      r.out,
      /\[hook failed\] .*b-after\.test\.ts › after: after hook \(.*b-after\.test\.ts\) timed out: still running after its bound of 1 s/,
    );
    // one and two did not run (failed), three and four passed, the after hook failed once
    assert.equal(summary(r), [2, 3, 0], r.out);
    assert.ok(r.seconds < 30, `took ${r.seconds} s`);
  },
);

test('a before hook that throws fails the run with its error printed', CHILD_RUNS, async () => {
  const dir = suiteDir('before-throws', {
    'x.test.ts': `
test.before(() => { throw new Error('no fixture here'); });
test('one', () => {});`,
  });
  const r = await runTests(dir);
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /\[hook failed\] .*x\.test\.ts › before: Error: no fixture here/);
  assert.equal(summary(r), [0, 1, 0], r.out);
});

test('a bound that is not a positive number is refused, naming the file', CHILD_RUNS, async () => {
  const r = await runTests(suiteDir('bad-bound', { 'z.test.ts': `test('zero', { timeoutSeconds: 0 }, () => {});` }));
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /z\.test\.ts: timeoutSeconds 0: expected a positive number of seconds/);
});

test(
  'skip(reason): counted as skipped (not passed) and listed with its reason; in a before hook it skips the whole file, whose after still runs',
  CHILD_RUNS,
  async () => {
    const dir = suiteDir('skips', {
      'a.test.ts': `
test('needs a tool', () => { skip('frobnicate is not installed'); throw new Error('not reached'); });
test('plain', () => {});`,
      'b.test.ts': `
test.before(() => skip('no nft on this machine'));
test.after(() => console.log('after of b ran'));
test('b1', () => { throw new Error('must not run'); });
test('b2', () => { throw new Error('must not run'); });`,
    });
    const r = await runTests(dir);
    assert.is(r.code, 0, r.out);
    assert.equal(summary(r), [1, 0, 3], r.out);
    assert.match(r.out, /skipped: .*a\.test\.ts › "needs a tool": frobnicate is not installed/);
    assert.match(r.out, /skipped: .*b\.test\.ts › "b1": no nft on this machine/);
    assert.match(r.out, /skipped: .*b\.test\.ts › "b2": no nft on this machine/);
    assert.match(r.out, /after of b ran/);

    const ci = await runTests(dir, { CI: 'true' });
    assert.is(ci.code, 1, ci.out);
    assert.match(ci.out, /CI=true: 3 skipped: CI installs every tool the tests need, so a skip here is a defect/);
  },
);

test(
  'a test process that outlives its last test (a timed-out test left work running) is killed and fails the run',
  CHILD_RUNS,
  async () => {
    const dir = suiteDir('linger', {
      'l.test.ts': `test('holds the event loop', { timeoutSeconds: 1 }, () => { setInterval(() => {}, 1000); return new Promise(() => {}); });`,
    });
    const r = await runTests(dir, { CLUSTERSEED_TEST_EXIT_GRACE_S: '2' });
    assert.is(r.code, 1, r.out);
    assert.match(r.out, /the test process was still running 2 s after its last test \(work of a timed-out test\?\): killed/);
    assert.ok(r.seconds < 30, `took ${r.seconds} s`);
  },
);

test("a test file importing 'uvu' itself is refused before anything runs, naming file and line", CHILD_RUNS, async () => {
  const dir = path.join(tmp, 'direct');
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, 'ok.test.ts'),
    `import { test } from ${JSON.stringify(wrapper)};\ntest('fine', () => {});\ntest.run();\n`,
  );
  fs.writeFileSync(
    path.join(dir, 'raw.test.ts'),
    `// a new file\nimport { test } from ${JSON.stringify('uvu')};\nimport * as assert from 'uvu/assert';\ntest('x', () => assert.ok(true));\ntest.run();\n`,
  );
  const r = await runTests(dir);
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /import .uvu. directly.*\n\s+.*raw\.test\.ts:2\n/);
  assert.not.match(r.out, /ok\.test\.ts/);
  assert.not.match(r.out, /Total:/, 'nothing ran');

  fs.rmSync(path.join(dir, 'raw.test.ts'));
  const fixed = await runTests(dir);
  assert.is(fixed.code, 0, fixed.out);
  assert.equal(summary(fixed), [1, 0, 0]);
});

test.run();
