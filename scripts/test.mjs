#!/usr/bin/env node
// npm test: runs the uvu suites under test/ (TypeScript through tsx) and closes with one
// "N passed, N failed, N skipped" line and the reason of each skip. Usage: node scripts/test.mjs [dir] [pattern]
// Default: test/ minus the VM tier (test/vm, run by `npm run test:vm`): the tiers test/unit (pure: a
// normal user, no system tools), test/system (root and system tools, no containers), test/hosts and
// test/faults (nspawn containers). Which tier a test belongs to: README "Tests".
// - Test files import test/support/uvu.ts (per-test time bounds, skip with a reason), never 'uvu':
//   a file that does is refused before anything runs.
// - CI=true: a skipped test fails the run (CI installs every tool a test needs; a skip there is a defect).
// - A test process still alive CLUSTERSEED_TEST_EXIT_GRACE_S (default 60) seconds after its last test
//   (work of a timed-out test holding it open) is killed and the run fails, rather than hanging CI.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

// the markers test/support/uvu.ts prints (SKIP_MARK, HOOK_FAIL_MARK, SLOW_MARK there)
const SKIP_LINE = /^\s*\[skip\] (.*)$/gm;
const SLOW_LINE = /^\s*\[slow\] (.*)$/gm;
const AFTER_HOOK_FAIL_LINE = /^\s*\[hook failed\] .* › after: /gm;

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const [dir = 'test', pattern = '\\.test\\.ts$'] = process.argv.slice(2);
const ignore = dir === 'test' ? ['^vm/', 'fixtures', 'harness'] : [];
const graceS = Number(process.env.CLUSTERSEED_TEST_EXIT_GRACE_S || 60);
if (!(graceS > 0 && Number.isFinite(graceS))) {
  console.error(`CLUSTERSEED_TEST_EXIT_GRACE_S=${process.env.CLUSTERSEED_TEST_EXIT_GRACE_S}: expected a positive number of seconds`);
  process.exit(1);
}

/** The files uvu will load for (dir, pattern, ignore): the same walk as uvu/parse. */
function testFiles() {
  const match = new RegExp(pattern, 'i');
  const ignores = ['^.git', 'node_modules', ...ignore].map((x) => new RegExp(x, 'i'));
  const files = [];
  const walk = (abs, rel) => {
    for (const entry of readdirSync(abs)) {
      const name = path.join(rel, entry);
      if (ignores.some((r) => r.test(name))) continue;
      const file = path.join(abs, entry);
      if (statSync(file).isDirectory()) walk(file, name);
      else if (match.test(name)) files.push(file);
    }
  };
  walk(path.resolve(root, dir), '');
  return files;
}

/** "file:line" of every import of 'uvu' itself (uvu/assert is fine): such tests run unbounded. */
function directUvuImports(files) {
  const hits = [];
  for (const file of files) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/(?:from\s*|import\s*\(?\s*)['"]uvu['"]/.test(line)) hits.push(`${path.relative(root, file)}:${i + 1}`);
      });
  }
  return hits;
}

const direct = directUvuImports(testFiles());
if (direct.length) {
  console.error(
    `these test files import 'uvu' directly, so their tests have no time bound and cannot skip with a reason:\n` +
      direct.map((d) => `  ${d}`).join('\n') +
      `\nimport { test } from '<relative path>/support/uvu.ts' instead (test/support/uvu.ts)`,
  );
  process.exit(1);
}

const uvu = path.join(root, 'node_modules', 'uvu', 'bin.js');
const child = spawn(process.execPath, ['--import', 'tsx', uvu, dir, pattern, ...ignore.flatMap((i) => ['-i', i])], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FORCE_COLOR: '0' },
});
let out = '';
let lingering; // the timer that kills a test process which outlives its last test
let killedAfterS = 0;
child.stdout.on('data', (d) => {
  out += d;
  process.stdout.write(d);
  // uvu's last line: every test and hook has finished; what still runs is left-over work
  if (!lingering && /Duration:\s+\S+/.test(out.slice(-(d.length + 64)))) {
    lingering = setTimeout(() => {
      killedAfterS = graceS;
      child.kill('SIGKILL');
    }, graceS * 1000);
  }
});

let finished = false;
function finish(code, signal) {
  if (finished) return;
  finished = true;
  clearTimeout(lingering);
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const uvuPassed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const uvuSkipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const skips = [...out.matchAll(SKIP_LINE)].map((m) => m[1]);
  const afterHookFailures = [...out.matchAll(AFTER_HOOK_FAIL_LINE)].length;
  // uvu counts a test that skipped at run time as passed
  const passed = uvuPassed - skips.length;
  const skipped = uvuSkipped + skips.length;
  let failed = total - uvuPassed - uvuSkipped + afterHookFailures;
  if (failed === 0 && (code !== 0 || signal)) failed = 1; // the process failed outside any test
  console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  for (const s of skips) console.log(`  skipped: ${s}`);
  for (const m of out.matchAll(SLOW_LINE)) console.log(`  slow: ${m[1]}`);
  if (uvuSkipped) console.log(`  skipped: ${uvuSkipped} by uvu's .skip/.only (no reason given)`);
  if (killedAfterS)
    console.log(`the test process was still running ${killedAfterS} s after its last test (work of a timed-out test?): killed`);
  const ciSkip = process.env.CI === 'true' && skipped > 0;
  if (ciSkip) console.log(`CI=true: ${skipped} skipped: CI installs every tool the tests need, so a skip here is a defect`);
  process.exit(code === 0 && !signal && total > 0 && failed === 0 && !ciSkip ? 0 : 1);
}
child.on('close', finish);
// after a kill, a grandchild may still hold stdout open: do not wait for it
child.on('exit', (code, signal) => {
  if (killedAfterS) setTimeout(() => finish(code, signal), 1000);
});
