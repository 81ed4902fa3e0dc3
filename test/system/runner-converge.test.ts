// A role converges on this machine through LocalTransport, then a second run is ok (test/system:
// the file blocks chown to root). The rest of the runner: test/unit/runner.test.ts.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, existsSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Role } from '../../lib/runner/types.ts';
import { exitCode } from '../../lib/runner/run-site.ts';
import { formatRecap } from '../../lib/runner/recap.ts';
import { file, lineInFile, blockInFile, directory, command } from '../../lib/blocks/index.ts';
import { converge } from '../support/local-run.ts';

test('a role converges, then a second run is ok with one round trip per role', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-runner-'));
  const role: Role = {
    name: 'demo',
    appliesTo: () => true,
    tasks: () => [
      directory({ path: `${dir}/etc`, mode: '0750' }),
      file({ path: `${dir}/etc/app.conf`, content: 'a=1\n', mode: '0640', notify: ['restart app'] }),
      lineInFile({ path: `${dir}/etc/list`, name: 'line', line: 'x=2', regexp: /^x=/, create: true }),
      blockInFile({ path: `${dir}/etc/list`, name: 'block', marker: 'demo', block: 'k=v' }),
      command({ name: 'marker file', probe: `test -f ${dir}/done`, run: `touch ${dir}/done` }),
    ],
    handlers: [
      {
        name: 'restart app',
        run: async () => {
          writeFileSync(`${dir}/restarts`, String(Number(existsSync(`${dir}/restarts`) ? readFileSync(`${dir}/restarts`, 'utf8') : 0) + 1));
        },
      },
    ],
  };
  // check mode first: reports changes, touches nothing
  const check = await converge([role], { check: true });
  assert.ok(check.report.hosts[0].counts.changed >= 2);
  assert.is(existsSync(`${dir}/etc`), false);
  assert.is(exitCode(check.report), 3);

  const first = await converge([role]);
  assert.is(first.report.hosts[0].counts.changed, 6, 'five tasks and one handler changed');
  assert.is(readFileSync(`${dir}/etc/app.conf`, 'utf8'), 'a=1\n');
  assert.is((statSync(`${dir}/etc/app.conf`).mode & 0o777).toString(8), '640');
  assert.is(readFileSync(`${dir}/etc/list`, 'utf8'), 'x=2\n# BEGIN clusterseed demo\nk=v\n# END clusterseed demo\n');
  assert.is(readFileSync(`${dir}/restarts`, 'utf8'), '1', 'handler ran once');
  assert.is(exitCode(first.report), 0);

  const second = await converge([role]);
  const h = second.report.hosts[0];
  assert.is(h.counts.changed, 0);
  assert.is(h.roundTripsByRole.demo, 1, 'one probe batch for the whole role');
  assert.is(h.roundTripsByRole.facts, 1);
  assert.is(readFileSync(`${dir}/restarts`, 'utf8'), '1', 'handler not run again');
  assert.match(formatRecap(second.report), /No changes/);
});

test.run();
