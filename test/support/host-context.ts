// HostContext builders for unit tests of a role's tasks: the facts of a Debian 12 x86_64 node, a
// quiet logger, one host n1 and an inventory with no hosts, built as the normalized model.
import type { HostSpec, Inventory } from '../../lib/inventory/model.ts';
import type { Facts, HostContext } from '../../lib/runner/types.ts';
import { host } from '../fixtures/gitops/inventories.ts';

/** A logger that prints nothing. */
export const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };

/** The gathered facts of a Debian 12 (bookworm) x86_64 node with systemd and OpenSSH 9.2. */
export const DEBIAN_FACTS: Facts = {
  hostname: 's1',
  arch: 'x86_64',
  kernel: '6.1',
  osId: 'debian',
  osVersion: '12',
  osCodename: 'bookworm',
  init: 'systemd',
  container: '',
  raspberryPi: false,
  piCmdlineFile: '',
  sshdVersion: '9.2',
};

/** A HostContext for one host, not in check mode; facts default to DEBIAN_FACTS, the log to quiet. */
export function hostContext(parts: Pick<HostContext, 'host' | 'inventory' | 'conn' | 'vars'> & Partial<HostContext>): HostContext {
  return {
    facts: DEBIAN_FACTS,
    options: { check: false, diff: false, verbosity: 0 },
    shared: new Map(),
    log: quiet,
    peers: new Map(),
    ...parts,
  };
}

/** Host n1 of cluster home on 192.168.1.10 (user pi, a server) unless `over` says otherwise. */
export const hostN1 = (over: Partial<HostSpec> = {}): HostSpec =>
  host('n1', 'home', { address: '192.168.1.10', user: 'pi', groups: ['servers'], ...over });

/** An inventory at `dir`/inventory.yaml with no hosts and no clusters. */
export const emptyInventory = (dir = '/inv'): Inventory => ({
  file: `${dir}/inventory.yaml`,
  dir,
  hosts: [],
  groups: { servers: [], agents: [] },
  clusters: [],
  gitops: { repo: { kind: 'local', path: '/x' }, branch: 'main' },
  vars: {},
});
