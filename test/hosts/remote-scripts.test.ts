// Every shell script clusterseed sends to a host passes shellcheck (Debian's, as POSIX sh) and the
// project's own `set -e` chain check (test/support/shellcheck.ts), collected for real: the host
// roles converge two bare hosts (server + agent, stand-in K3s from a loopback mirror), run again
// (the probes of converged hosts), run --check, then K3s is reset, all through a transport that
// records every script it runs; plus the scripts only failure paths send (rollbacks) and the
// transport's own (upload install, persistent shell loop).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { k3sResetRole } from '../../roles/k3s-reset/index.ts';
import { clearSecrets } from '../../lib/report/mask.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import type { Role, RunReport } from '../../lib/runner/types.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { hostRoles } from '../../roles/index.ts';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';
import { RecordingTransport, type RecordedScript } from '../support/recording-transport.ts';
import { lintReport, requireShellcheck } from '../support/shellcheck.ts';
import { FIXED_SCRIPTS, SCRIPT_EXCLUSIONS } from '../support/remote-script-catalog.ts';

const VERSION = 'v1.31.4+k3s1';
let lab: TestLab;
let mirror: K3sMirror;
let work: string;
const recorded: RecordedScript[] = [];
const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };

test.before(async () => {
  requireShellcheck();
  work = mkdtempSync(path.join(os.tmpdir(), 'cs-remote-scripts-'));
  [lab, mirror] = await Promise.all([startLab({ count: 2, prefix: 'rs' }), startK3sMirror({ versions: [VERSION] })]);
});
test.after(async () => {
  // CS_DUMP_SCRIPTS=DIR keeps what was recorded, for looking at findings by hand
  const dump = process.env.CS_DUMP_SCRIPTS;
  if (dump) {
    mkdirSync(dump, { recursive: true });
    [...new Set(recorded.map((r) => r.script))].forEach((s, i) => writeFileSync(path.join(dump, `${String(i).padStart(3, '0')}.sh`), s));
  }
  await Promise.all([lab?.stop(), mirror?.close()]);
  if (work) rmSync(work, { recursive: true, force: true });
  clearSecrets();
});

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

function converge(inventory: Inventory, roles: Role[], check = false): Promise<RunReport> {
  return withTimeout(
    runSite({
      inventory,
      roles,
      options: { check, diff: true, verbosity: 0, forks: 10 },
      connect: (h) => new RecordingTransport(createTransport(h, { knownHostsFile: lab.knownHostsFile }), recorded),
      log: quiet,
      shared: new Map<string, unknown>([
        ['k3s.mirror', mirror.url],
        ['k3s.cacheDir', path.join(work, 'cache')],
      ]),
    }),
    240_000,
    `${roles.map((r) => r.name).join(',')}${check ? ' --check' : ''}`,
  );
}

const failures = (r: RunReport) =>
  r.hosts.flatMap((h) =>
    h.tasks.filter((t) => t.outcome === 'failed' || t.outcome === 'unreachable').map((t) => `${h.host}: ${t.role}/${t.task}: ${t.message}`),
  );

test('every script the host roles, their handlers and the reset send passes shellcheck and the set -e chain check', async () => {
  const version = requireShellcheck();
  const [server, agent] = lab.hosts.map((h) => h.name);
  const inventory = await loadInventory(
    lab.writeInventory({
      servers: [server],
      agents: [agent],
      extra: {
        cluster: {
          name: 'rs',
          k3s_version: VERSION,
          token_file: path.join(work, 'token'),
          vars: { k3s: { ready_timeout: 60, kubeconfig: path.join(work, 'kubeconfig') } },
        },
      },
    }),
  );
  const first = await converge(inventory, hostRoles());
  assert.equal(failures(first), [], 'first run');
  const second = await converge(inventory, hostRoles());
  assert.equal(failures(second), [], 'second run');
  const check = await converge(inventory, hostRoles(), true);
  assert.equal(failures(check), [], '--check');
  const reset = await converge(inventory, [k3sResetRole]);
  assert.equal(failures(reset), [], 'reset');

  const scripts = new Set(recorded.map((r) => r.script));
  assert.ok(scripts.size >= 40, `only ${scripts.size} distinct scripts recorded`);
  const { checked, report } = lintReport([...scripts, ...FIXED_SCRIPTS], SCRIPT_EXCLUSIONS);
  assert.is(report, '', `shellcheck ${version}, ${checked} scripts:\n${report}`);
});

test.run();
