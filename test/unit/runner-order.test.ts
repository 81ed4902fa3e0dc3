// Host order is data a role declares (Role.hostOrder), not a K3s rule inside the runner.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { Role } from '../../lib/runner/types.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { k3sHostOrder } from '../../roles/k3s-server/index.ts';
import { LocalTransport, localHost } from '../support/local-transport.ts';

const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };

function inventory(names: string[], groups: Record<string, string[]>): Inventory {
  return {
    file: '/tmp/inv.yaml',
    dir: '/tmp',
    vars: {},
    hosts: names.map((n) => localHost(n)),
    groups,
    clusters: [],
    gitops: { repo: { kind: 'local', path: '/tmp/x' }, branch: 'main' },
  };
}

async function order(role: Omit<Role, 'name' | 'appliesTo' | 'tasks'>, inv: Inventory): Promise<string[]> {
  const seen: string[] = [];
  await runSite({
    inventory: inv,
    roles: [{ name: 'r', appliesTo: () => true, tasks: (ctx) => (seen.push(ctx.host.name), []), ...role }],
    options: { check: true, diff: false, verbosity: 0, forks: 4 },
    connect: (h) => new LocalTransport(h),
    log: quiet,
  });
  return seen;
}

test('a serial role goes through its hosts in inventory order, whatever the groups say', async () => {
  const inv = inventory(['a', 'b', 'c'], { servers: ['c', 'b', 'a'], agents: [] });
  assert.equal(await order({ serial: 1 }, inv), ['a', 'b', 'c']);
});

test("a role's hostOrder decides the order; a reordering that drops a host is refused", async () => {
  const inv = inventory(['a', 'b', 'c'], { servers: [], agents: [] });
  assert.equal(await order({ serial: 1, hostOrder: (hs) => [...hs].reverse() }, inv), ['c', 'b', 'a']);
  try {
    await order({ serial: 1, hostOrder: (hs) => hs.slice(1) }, inv);
    assert.unreachable('must throw');
  } catch (err) {
    assert.match(String(err), /hostOrder must return the hosts/);
  }
});

test('K3s: servers in the order of the servers group, then agents, then the rest', async () => {
  const inv = inventory(['x', 'agent1', 's2', 's1'], { servers: ['s1', 's2'], agents: ['agent1'] });
  assert.equal(
    k3sHostOrder(inv.hosts, inv).map((h) => h.name),
    ['s1', 's2', 'agent1', 'x'],
  );
  assert.equal(await order({ serial: 1, hostOrder: k3sHostOrder }, inv), ['s1', 's2', 'agent1', 'x']);
});

test.run();
