import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Role, Task } from '../../lib/runner/types.ts';
import { runSite, exitCode } from '../../lib/runner/run-site.ts';
import { buildProbeBatch } from '../../lib/runner/probe-batch.ts';
import { registerSecret, clearSecrets } from '../../lib/report/mask.ts';
import { file, command } from '../../lib/blocks/index.ts';
import { LocalTransport } from '../support/local-transport.ts';

test('probe batch frames each probe, keeps exit codes and output without trailing newline', () => {
  const b = buildProbeBatch(['printf abc', 'echo "x y"; exit 3', 'true']);
  const out = require_sh(b.script);
  const r = b.parse(out);
  assert.equal(r, [
    { stdout: 'abc', code: 0 },
    { stdout: 'x y\n', code: 3 },
    { stdout: '', code: 0 },
  ]);
});

import { execFileSync } from 'node:child_process';
import { converge, localInventory } from '../support/local-run.ts';
import { quiet } from '../support/host-context.ts';
function require_sh(script: string) {
  return execFileSync('sh', ['-c', script]).toString();
}

test('a failing host stops only itself; exit code 2', async () => {
  const role: Role = {
    name: 'maybe-fail',
    appliesTo: () => true,
    tasks: (ctx) => [
      {
        name: 'fail on b',
        probe: 'true',
        plan: () => {
          if (ctx.host.name === 'b') throw new Error('boom');
          return null;
        },
      } as Task,
    ],
  };
  const after: Role = { name: 'after', appliesTo: () => true, tasks: () => [{ name: 'noop', plan: () => null }] };
  const { report } = await converge([role, after], { names: ['a', 'b'] });
  const a = report.hosts.find((h) => h.host === 'a')!;
  const b = report.hosts.find((h) => h.host === 'b')!;
  assert.is(a.outcome, 'ok');
  assert.is(
    a.tasks.some((t) => t.role === 'after'),
    true,
  );
  assert.is(b.outcome, 'failed');
  assert.is(
    b.tasks.some((t) => t.role === 'after'),
    false,
  );
  assert.match(b.tasks.find((t) => t.outcome === 'failed')!.message!, /boom/);
  assert.is(exitCode(report), 2);
});

test('secrets are masked in change summaries and secret diffs hide content', async () => {
  clearSecrets();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-secret-'));
  const token = 'K10supersecrettoken::server:abc';
  registerSecret(token);
  const lines: string[] = [];
  const role: Role = {
    name: 's',
    appliesTo: () => true,
    tasks: () => [file({ path: `${dir}/token`, content: token, mode: '0600', secret: true, name: `token ${token}` })],
  };
  const { report } = await converge([role], { lines });
  const all = lines.join('\n') + JSON.stringify(report);
  assert.not.match(all, token);
  assert.match(all, /secret content hidden/);
  clearSecrets();
});

test('--tags: an unselected role does not even build its tasks; facts always run', async () => {
  let built = 0;
  const other: Role = {
    name: 'other',
    appliesTo: () => true,
    tasks: () => {
      built++;
      return [];
    },
  };
  const tagged: Role = {
    name: 'big',
    tags: ['sshd'],
    appliesTo: () => true,
    tasks: () => [
      { name: 'sshd task', tags: ['sshd'], plan: () => null },
      { name: 'untagged', plan: () => null },
    ],
  };
  const transports = new Map<string, LocalTransport>();
  const report = await runSite({
    inventory: localInventory(['a']),
    roles: [other, tagged],
    options: { check: false, diff: false, verbosity: 0, forks: 1, tags: ['sshd'] },
    connect: (h) => {
      const t = new LocalTransport(h);
      transports.set(h.name, t);
      return t;
    },
    log: quiet,
  });
  assert.is(built, 0);
  const tasks = report.hosts[0].tasks.map((t) => `${t.role}/${t.task}`);
  assert.equal(tasks, ['facts/gather facts', 'big/sshd task']);
});

test('a failing prepare stops the run before the role touches any host', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-prepare-'));
  const before: Role = {
    name: 'before',
    appliesTo: () => true,
    tasks: () => [command({ name: 'mark', probe: `test -f ${dir}/before`, run: `touch ${dir}/before` })],
  };
  let prepared = 0;
  const role: Role = {
    name: 'needs-artifact',
    appliesTo: () => true,
    prepare: async ({ hosts }) => {
      prepared = hosts.length;
      throw new Error('checksum mismatch for k3s');
    },
    tasks: () => [command({ name: 'install', probe: `test -f ${dir}/installed`, run: `touch ${dir}/installed` })],
  };
  const { report } = await converge([before, role], { names: ['a', 'b'] });
  assert.is(prepared, 2, 'prepare runs once with every target host');
  assert.is(existsSync(`${dir}/before`), true);
  assert.is(existsSync(`${dir}/installed`), false);
  for (const h of report.hosts) {
    assert.is(h.outcome, 'failed');
    assert.match(h.tasks.find((t) => t.outcome === 'failed')!.message!, /checksum mismatch/);
  }
  assert.is(exitCode(report), 2);
});

test.run();
