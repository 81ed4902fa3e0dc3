// Probe-ahead (lib/runner/probe-ahead.ts): a run of Role.probeAhead roles is probed in one remote
// command, and what was gathered ahead is used only while nothing else ran on the host. Real probes
// run by this machine's sh (test/support/local-transport.ts) on files in a temp directory.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { HostReport, Role, Task } from '../../lib/runner/types.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { command, file, packages } from '../../lib/blocks/index.ts';
import { LocalTransport, localHost } from '../support/local-transport.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-probe-ahead-'));
const at = (name: string) => path.join(dir, name);
test.after(() => rmSync(dir, { recursive: true, force: true }));

const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };

async function run(roles: Role[], opts: { check?: boolean; tags?: string[]; hostVars?: Record<string, unknown> } = {}) {
  const host = { ...localHost('a'), vars: opts.hostVars ?? {} };
  const inventory: Inventory = {
    file: '/tmp/inv.yaml',
    dir: '/tmp',
    vars: {},
    hosts: [host],
    groups: { servers: ['a'], agents: [] },
    clusters: [],
    gitops: { repo: { kind: 'local', path: '/tmp/x' }, branch: 'main' },
  };
  let transport!: LocalTransport;
  const report = await runSite({
    inventory,
    roles,
    options: { check: !!opts.check, diff: false, verbosity: 0, forks: 1, tags: opts.tags },
    connect: (h) => (transport = new LocalTransport(h)),
    log: quiet,
  });
  return { host: report.hosts[0], scripts: transport.scripts };
}

/** A task that records the content of `file` it was handed (or 'absent'). */
function seeing(name: string, file: string, seen: string[]): Task {
  return {
    name,
    files: [{ path: file, content: true }],
    plan(state) {
      const f = state.files!.get(file)!;
      seen.push(f.exists ? f.content!.toString() : 'absent');
      return null;
    },
  };
}

const rt = (h: HostReport) => h.roundTripsByRole;

test('a no-op run of three probe-ahead roles costs one round trip for all of them', async () => {
  const roles: Role[] = ['one', 'two', 'three'].map((name) => ({
    name,
    appliesTo: () => true,
    probeAhead: true,
    tasks: () => [
      file({ path: at(`${name}.conf`), content: `${name}\n` }),
      command({ name: `${name} marker`, probe: `test -f ${at(name)}`, run: `touch ${at(name)}` }),
    ],
  }));
  const first = await run(roles);
  assert.is(first.host.counts.changed, 6);
  const second = await run(roles);
  assert.is(second.host.counts.changed, 0);
  assert.is(second.host.counts.ok, 7, 'facts + six tasks');
  assert.equal(rt(second.host), { facts: 1, one: 1, two: 0, three: 0 });
  assert.is(second.scripts.length, 2, 'facts, then one batch');
  assert.is(second.scripts[1].match(/stat -c/g)!.length, 1, 'one stat for the files of all three roles');
});

test('after a change, later roles probe again and see the host as it is now', async () => {
  const seen: string[] = [];
  const writer: Role = {
    name: 'writer',
    appliesTo: () => true,
    probeAhead: true,
    tasks: () => [file({ path: at('shared.conf'), content: 'new\n' })],
  };
  const reader: Role = {
    name: 'reader',
    appliesTo: () => true,
    probeAhead: true,
    tasks: () => [seeing('read shared.conf', at('shared.conf'), seen)],
  };
  writeFileSync(at('shared.conf'), 'old\n');
  const first = await run([writer, reader]);
  assert.equal(seen, ['new\n'], 'not the state gathered before the writer changed it');
  assert.is(rt(first.host).reader, 1, 'the reader probed itself');
  const second = await run([writer, reader]);
  assert.equal(seen, ['new\n', 'new\n']);
  assert.is(rt(second.host).reader, 0);
});

test('--check: a pending change leaves the host as probed, so later roles keep the state gathered ahead', async () => {
  const seen: string[] = [];
  writeFileSync(at('check.conf'), 'old\n');
  const writer: Role = {
    name: 'writer',
    appliesTo: () => true,
    probeAhead: true,
    tasks: () => [file({ path: at('check.conf'), content: 'new\n' })],
  };
  const reader: Role = {
    name: 'reader',
    appliesTo: () => true,
    probeAhead: true,
    tasks: () => [seeing('read check.conf', at('check.conf'), seen)],
  };
  const { host } = await run([writer, reader], { check: true });
  assert.is(host.counts.changed, 1);
  assert.equal(seen, ['old\n']);
  assert.is(readFileSync(at('check.conf'), 'utf8'), 'old\n');
  assert.equal(rt(host), { facts: 1, writer: 1, reader: 0 });
});

test('each role plans with its own vars; a role that is not probe-ahead ends the run of them', async () => {
  const named = (name: string, probeAhead: boolean): Role => ({
    name,
    appliesTo: () => true,
    probeAhead,
    defaults: { greeting: `${name}-default` },
    tasks: (ctx) => [{ name: `${name} says ${ctx.vars.greeting}`, probe: 'true', plan: () => null }],
  });
  const roles = [named('a1', true), named('a2', true), named('plain', false), named('b1', true), named('b2', true)];
  const { host } = await run(roles, { hostVars: { a2: { greeting: 'hello' } } });
  assert.equal(
    host.tasks.map((t) => t.task),
    ['gather facts', 'a1 says a1-default', 'a2 says hello', 'plain says plain-default', 'b1 says b1-default', 'b2 says b2-default'],
  );
  assert.equal(rt(host), { facts: 1, a1: 1, a2: 0, plain: 1, b1: 1, b2: 0 });
});

test('roles that do not apply are passed over; roles not selected by --tags are never built', async () => {
  let built = 0;
  const roles: Role[] = [
    { name: 'first', appliesTo: () => true, probeAhead: true, tasks: () => [{ name: 'first task', probe: 'true', plan: () => null }] },
    {
      name: 'elsewhere',
      appliesTo: () => false,
      probeAhead: true,
      tasks: () => {
        throw new Error('built for a host it does not apply to');
      },
    },
    {
      name: 'untagged',
      appliesTo: () => true,
      probeAhead: true,
      tasks: () => {
        built++;
        return [{ name: 'untagged task', probe: 'true', plan: () => null }];
      },
    },
    {
      name: 'last',
      tags: ['pick'],
      appliesTo: () => true,
      probeAhead: true,
      tasks: () => [{ name: 'last task', tags: ['pick'], probe: 'true', plan: () => null }],
    },
  ];
  const all = await run(roles);
  assert.equal(rt(all.host), { facts: 1, first: 1, untagged: 0, last: 0 });
  built = 0;
  const picked = await run(roles, { tags: ['first', 'pick'] });
  assert.is(built, 0, 'a role --tags does not select is not built');
  assert.equal(
    picked.host.tasks.map((t) => t.task),
    ['gather facts', 'first task', 'last task'],
  );
  assert.equal(rt(picked.host), { facts: 1, first: 1, untagged: 0, last: 0 });
});

test('a later role whose tasks cannot be built reports that in its own turn', async () => {
  const roles: Role[] = [
    { name: 'good', appliesTo: () => true, probeAhead: true, tasks: () => [{ name: 'good task', probe: 'true', plan: () => null }] },
    {
      name: 'bad',
      appliesTo: () => true,
      probeAhead: true,
      tasks: () => {
        throw new Error('vars.bad.x: expected a number');
      },
    },
  ];
  const { host } = await run(roles);
  assert.is(host.outcome, 'failed');
  const failed = host.tasks.find((t) => t.outcome === 'failed')!;
  assert.is(failed.role, 'bad');
  assert.is(failed.task, '(build tasks)');
  assert.match(failed.message!, /vars\.bad\.x: expected a number/);
  assert.ok(host.tasks.some((t) => t.task === 'good task' && t.outcome === 'ok'));
});

test('the packages of every task of the batch are asked in one dpkg-query', async () => {
  const seen: string[][] = [];
  const recorder = (name: string, wanted: string[]): Task => ({
    name,
    packages: wanted,
    plan: (state) => {
      seen.push(wanted.filter((p) => state.packages!.has(p)));
      return null;
    },
  });
  const roles: Role[] = [
    {
      name: 'r1',
      appliesTo: () => true,
      probeAhead: true,
      tasks: () => [recorder('coreutils and a missing one', ['coreutils', 'no-such-package-cs'])],
    },
    {
      name: 'r2',
      appliesTo: () => true,
      probeAhead: true,
      tasks: () => [recorder('dpkg', ['dpkg']), packages({ name: 'present already', present: ['coreutils'] })],
    },
  ];
  const { host, scripts } = await run(roles);
  assert.equal(seen, [['coreutils'], ['dpkg']]);
  assert.is(host.counts.changed, 0, 'an installed package is no change');
  assert.is(scripts[1].match(/dpkg-query/g)!.length, 1);
});

test.run();
