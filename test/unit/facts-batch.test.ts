// Facts (lib/facts) are batched, merged, cached per host and forgotten after a change: two roles'
// sysctl requests cost the host ONE grep; a fact already gathered is not queried again while
// nothing changed on the host; the runner's layer imports nothing from blocks or roles.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Role } from '../../lib/runner/types.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { sysctl } from '../../lib/blocks/sysctl.ts';
import { sysctlFileContent } from '../../lib/blocks/sysctl.ts';
import { file } from '../../lib/blocks/file.ts';
import { need, factOf, mergeRequests } from '../../lib/facts/fact.ts';
import { sysctlFact, parseSysctlLines } from '../../lib/facts/sysctl.ts';
import { readFact } from '../../lib/facts/read.ts';
import { LocalTransport, localHost } from '../support/local-transport.ts';
import { quiet } from '../support/host-context.ts';
import { localInventory } from '../support/local-run.ts';

const live = (p: string) => readFileSync(p, 'utf8').split('\n')[0];

async function runRoles(roles: Role[]) {
  let transport!: LocalTransport;
  const report = await runSite({
    inventory: localInventory(['a']),
    roles,
    options: { check: false, diff: false, verbosity: 0, forks: 1, hostStateDir: mkdtempSync(path.join(os.tmpdir(), 'cs-state-')) },
    connect: (h) => (transport = new LocalTransport(h)),
    log: quiet,
  });
  return { report, transport, greps: transport.scripts.join('\n').match(/grep -sH/g)?.length ?? 0 };
}

/** A role with one sysctl task, in state: its file already written, its values the live ones. */
function sysctlRole(name: string, values: Record<string, string>, probeAhead: boolean): Role {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-sysctl-'));
  const spec = { file: `${dir}/${name}.conf`, values };
  writeFileSync(spec.file, sysctlFileContent(spec));
  return { name, appliesTo: () => true, probeAhead, tasks: () => [sysctl(spec)] };
}

test('two roles ask for sysctl values: one grep in one batch, both keys in it', async () => {
  const a = sysctlRole('a', { 'kernel.ostype': live('/proc/sys/kernel/ostype') }, true);
  const b = sysctlRole('b', { 'kernel.osrelease': live('/proc/sys/kernel/osrelease') }, true);
  const { report, transport, greps } = await runRoles([a, b]);
  assert.is(report.hosts[0].outcome, 'ok', JSON.stringify(report.hosts[0].tasks));
  assert.is(greps, 1, 'one sysctl query for both roles');
  const query = transport.scripts.find((s) => s.includes('grep -sH'))!;
  assert.match(query, /\/proc\/sys\/kernel\/osrelease/);
  assert.match(query, /\/proc\/sys\/kernel\/ostype/);
  assert.is(report.hosts[0].roundTripsByRole.b, 0, 'b was probed with a');
});

test('a fact gathered earlier in the run is not queried again while nothing changed on the host', async () => {
  const a = sysctlRole('a', { 'kernel.ostype': live('/proc/sys/kernel/ostype') }, false);
  const b = sysctlRole('b', { 'kernel.ostype': live('/proc/sys/kernel/ostype') }, false);
  const { report, greps } = await runRoles([a, b]);
  assert.is(report.hosts[0].outcome, 'ok');
  assert.is(greps, 1, "b's request was answered from the cache");
});

test('after a change on the host the fact is queried again', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-change-'));
  const a = sysctlRole('a', { 'kernel.ostype': live('/proc/sys/kernel/ostype') }, false);
  const changer: Role = { name: 'changer', appliesTo: () => true, tasks: () => [file({ path: `${dir}/x`, content: 'x\n' })] };
  const b = sysctlRole('b', { 'kernel.ostype': live('/proc/sys/kernel/ostype') }, false);
  const { report, greps } = await runRoles([a, changer, b]);
  assert.is(report.hosts[0].outcome, 'changed');
  assert.is(greps, 2, 'queried again after the change');
});

test('readFact answers from the cache a batch filled, else in one round trip', async () => {
  const t = new LocalTransport(localHost('r'));
  const first = await readFact(t, sysctlFact, ['/proc/sys/kernel/ostype']);
  assert.is(first.get('/proc/sys/kernel/ostype'), live('/proc/sys/kernel/ostype'));
  assert.is(t.roundTrips, 1);
  await readFact(t, sysctlFact, ['/proc/sys/kernel/ostype']);
  assert.is(t.roundTrips, 1, 'cached');
  await readFact(t, sysctlFact, ['/proc/sys/kernel/osrelease']);
  assert.is(t.roundTrips, 2, 'a key not asked before is a new query');
});

test('requests merge per fact; sysctl parsing keeps the first line; factOf refuses an unasked fact', () => {
  const merged = mergeRequests([need(sysctlFact, ['/proc/sys/b', '/proc/sys/a']), need(sysctlFact, ['/proc/sys/a', '/proc/sys/c'])]);
  assert.is(merged.length, 1);
  assert.equal(merged[0].params, ['/proc/sys/b', '/proc/sys/a', '/proc/sys/c']);
  assert.match(sysctlFact.command(merged[0].params as string[]), /grep -sH '' \/proc\/sys\/a \/proc\/sys\/b \/proc\/sys\/c; true/);
  assert.throws(() => sysctlFact.command(['/proc/sys/a;rm *']), /may hold only/);
  assert.throws(() => sysctlFact.command(['/etc/passwd']), /not a \/proc\/sys path/);
  const values = parseSysctlLines('/proc/sys/x/y:1\n/proc/sys/x/y:2\n/proc/sys/net/ipv4/conf/eth0.100/z:a b\n');
  assert.equal(
    [...values],
    [
      ['/proc/sys/x/y', '1'],
      ['/proc/sys/net/ipv4/conf/eth0.100/z', 'a b'],
    ],
  );
  assert.throws(() => factOf({}, sysctlFact), /not among the facts/);
});

test('lib/runner imports nothing from lib/blocks or roles', () => {
  const dir = path.join(import.meta.dirname, '../../lib/runner');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
    const text = readFileSync(path.join(dir, f), 'utf8');
    const imports = [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    for (const i of imports) assert.not.match(i, /\/blocks\/|\/roles\/|^\.\.\/\.\.\//, `${f} imports ${i}`);
  }
});

test.run();
