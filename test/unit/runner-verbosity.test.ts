// Why a task is in state (-v) and what a change would run (--check -vv), through the console
// logger as the CLI builds it, on the local transport; the report keeps the reason in the summary.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Role } from '../../lib/runner/types.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { consoleLogger } from '../../lib/report/logger.ts';
import { command, directory, file, lineInFile } from '../../lib/blocks/index.ts';
import { LocalTransport } from '../support/local-transport.ts';
import { localInventory } from '../support/local-run.ts';

const owner = os.userInfo().username;
const group = execFileSync('id', ['-gn']).toString().trim();

function demo(dir: string): Role {
  return {
    name: 'demo',
    appliesTo: () => true,
    tasks: () => [
      directory({ path: dir, mode: '0755', owner, group }),
      file({ path: `${dir}/app.conf`, content: 'a=1\n', mode: '0644', owner, group }),
      lineInFile({ path: `${dir}/list`, name: 'line in list', line: 'x=2', create: true, owner, group }),
      command({ name: 'marker', probe: `test -f ${dir}/done`, run: `touch ${dir}/done` }),
    ],
  };
}

async function run(role: Role, check: boolean, verbosity: number) {
  const lines: string[] = [];
  const report = await runSite({
    inventory: localInventory(['h']),
    roles: [role],
    options: { check, diff: false, verbosity, forks: 1, hostStateDir: mkdtempSync(path.join(os.tmpdir(), 'cs-state-')) },
    connect: (h) => new LocalTransport(h),
    log: consoleLogger({ verbosity, write: (l) => lines.push(l) }),
  });
  return { report, lines: lines.join('\n') };
}

test('--check -vv lists the commands a change would run; -v alone does not', async () => {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'cs-vv-')), 'etc');
  const vv = await run(demo(dir), true, 2);
  assert.match(vv.lines, /would change: \[demo\] marker/);
  assert.match(vv.lines, new RegExp(`would run: touch '?${dir}/done`));
  assert.match(vv.lines, new RegExp(`would run: mkdir -p '?${dir}`));
  const v = await run(demo(dir), true, 1);
  assert.match(v.lines, /would change: \[demo\] marker/);
  assert.not.match(v.lines, /would run:/);
});

test('-v says why each task is in state; the report keeps the reason in the summary', async () => {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'cs-v-')), 'etc');
  await run(demo(dir), false, 0);
  writeFileSync(`${dir}/other`, '');
  const v = await run(demo(dir), false, 1);
  assert.match(v.lines, new RegExp(`ok: \\[demo\\] directory ${dir}: ${dir} is a directory, mode 0755 ${owner}:${group}`));
  assert.match(
    v.lines,
    new RegExp(`ok: \\[demo\\] file ${dir}/app.conf: ${dir}/app.conf already has the wanted content, mode 0644 ${owner}:${group}`),
  );
  assert.match(v.lines, /ok: \[demo\] line in list: .*already has the line "x=2"/);
  assert.match(v.lines, /ok: \[demo\] marker: done already: its check passed \(test -f .*done\)/);
  const tasks = v.report.hosts[0].tasks.filter((t) => t.role === 'demo');
  assert.ok(tasks.length === 4 && tasks.every((t) => t.outcome === 'ok' && t.summary), JSON.stringify(tasks));
  const quiet = await run(demo(dir), false, 0);
  assert.not.match(quiet.lines, /ok: \[demo\]/, 'without -v no ok lines');
});

test.run();
