// scripts/site.mjs end to end against real hosts: recap, JSON report, exit codes.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLab, type TestLab } from '../harness/hosts.ts';
import type { HostReport } from '../../lib/runner/types.ts';

let lab: TestLab;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-site-'));

test.before(async () => {
  lab = await startLab({ count: 2, prefix: 'site' });
});
test.after(async () => {
  await lab?.stop();
});

function site(args: string[], script = 'scripts/site.mjs'): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['zx', script, ...args], { cwd: process.cwd(), timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('site.mjs prints the recap and writes a JSON report with outcomes and round trips', async () => {
  const inv = lab.writeInventory({ servers: [lab.hosts[0].name], agents: [lab.hosts[1].name] });
  const json = path.join(tmp, 'report.json');
  const r = await site(['-i', inv, '--skip-push', '--tags', 'facts', '--json', json]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /RECAP/);
  assert.match(r.stdout, new RegExp(`${lab.hosts[0].name}\\s+: ok=\\d+ changed=0 unreachable=0 failed=0`));
  const report = JSON.parse(readFileSync(json, 'utf8'));
  assert.is(report.hosts.length, 2);
  for (const h of report.hosts) {
    assert.is(h.outcome, 'ok');
    assert.ok(h.roundTrips >= 1);
    assert.is(h.roundTripsByRole.facts, 1);
    assert.is(h.facts.osId, 'debian');
    assert.is(h.facts.arch, 'x86_64');
    assert.is(h.facts.init, 'systemd');
    assert.is(h.facts.raspberryPi, false);
  }
});

test('an unreachable host fails only itself: exit code 2', async () => {
  const inv = lab.writeInventory({ servers: [lab.hosts[0].name], agents: [lab.hosts[1].name] });
  // point h2 at a closed port on its own address
  const text = readFileSync(inv, 'utf8').replace(new RegExp(`(${lab.hosts[1].address})`), `$1\n    port: 2`);
  const broken = path.join(tmp, 'unreachable.yaml');
  writeFileSync(broken, text);
  const json = path.join(tmp, 'unreachable.json');
  const r = await site(['-i', broken, '--skip-push', '--tags', 'facts', '--json', json]);
  assert.is(r.code, 2, r.stdout + r.stderr);
  const report = JSON.parse(readFileSync(json, 'utf8'));
  const byName = Object.fromEntries(report.hosts.map((h: HostReport) => [h.host, h]));
  assert.is(byName[lab.hosts[0].name].outcome, 'ok');
  assert.is(byName[lab.hosts[1].name].outcome, 'unreachable');
});

test('bad input: exit code 1, file:line and field, no stack trace', async () => {
  const bad = path.join(tmp, 'bad.yaml');
  writeFileSync(
    bad,
    'cluster:\n  name: x\n  k3s_version: v1.31.4+k3s1\nhosts:\n  a:\n    address: 10.0.0.1\n    prot: 22\ngroups:\n  servers: [a]\n  agents: []\n',
  );
  const r = await site(['-i', bad]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /bad\.yaml:7:\d+/);
  assert.match(r.stderr, /prot/);
  assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  const flags = await site(['--forks', 'zero']);
  assert.is(flags.code, 1);
  assert.match(flags.stderr, /--forks/);
});

test('idempotency.mjs converges twice and confirms the second run changed nothing', async () => {
  const inv = lab.writeInventory({ servers: [lab.hosts[0].name], agents: [lab.hosts[1].name] });
  const r = await site(['-i', inv, '--skip-push', '--tags', 'facts'], 'scripts/idempotency.mjs');
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /=== run 2 of 2 ===/);
  assert.match(r.stdout, /IDEMPOTENT: the second run changed nothing on 2 host\(s\)/);
  const refused = await site(['-i', inv, '--check'], 'scripts/idempotency.mjs');
  assert.is(refused.code, 1);
});

test.run();
