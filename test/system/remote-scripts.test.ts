// The shellcheck gate of the remote scripts (test/support/shellcheck.ts) on the scripts only
// failure paths and the transport send (test/support/remote-script-catalog.ts; the scripts of a
// real converge are checked in test/hosts/remote-scripts.test.ts), and proof that the gate bites:
// a planted unchecked chain under set -e and a planted SC2086 are reported, a missing shellcheck
// fails instead of passing.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { FIXED_SCRIPTS, SCRIPT_EXCLUSIONS } from '../support/remote-script-catalog.ts';
import { lintReport, lintScript, requireShellcheck, uncheckedAndChains } from '../support/shellcheck.ts';

test('shellcheck is installed (CI installs it; a missing one fails here, never passes)', () => {
  assert.match(requireShellcheck(), /^\d+\.\d+/);
  assert.throws(() => requireShellcheck({ PATH: '/nonexistent' }), /shellcheck is not installed/);
});

test('the rollback, restore, upload and shell-loop scripts are clean', () => {
  const { checked, report } = lintReport(FIXED_SCRIPTS, SCRIPT_EXCLUSIONS);
  assert.is(checked, new Set(FIXED_SCRIPTS).size);
  assert.is(report, '', report);
});

test('a planted `cd /x && rm y` under set -e is reported', () => {
  const planted = 'set -eu\ncd /x && rm y\necho finished';
  const findings = lintScript(planted);
  assert.equal(
    findings.map((f) => [f.code, f.line]),
    [['CS001', 2]],
  );
  assert.match(lintReport([...FIXED_SCRIPTS, planted], SCRIPT_EXCLUSIONS).report, /CS001 line 2: under set -e a failure of `cd \/x`/);
  // the same step checked, in a condition, after a test, or without set -e: not reported
  for (const ok of [
    'set -e\ncd /x || exit 1\nrm y',
    'set -e\nif cd /x && rm y; then :; fi',
    'set -e\n[ -d /x ] && rm y\necho',
    'cd /x && rm y',
    "set -e\necho 'a && b'",
  ]) {
    assert.equal(uncheckedAndChains(ok), [], ok);
  }
  // the chain that lied on a full disk (issue 20)
  assert.is(uncheckedAndChains('set -eu\ninstall -m 0600 a "$d.new" && mv -f "$d.new" "$d"\nrm -rf "$c"').length, 1);
});

test('a planted SC2086 (unquoted expansion) is reported', () => {
  const planted = 'f="a b"\nrm -f $f';
  assert.equal(
    lintScript(planted).map((f) => f.code),
    ['SC2086'],
  );
  assert.match(lintReport([planted]).report, /SC2086 line 2/);
});

test.run();
