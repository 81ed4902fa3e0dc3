// Runs of the runner on this machine through LocalTransport: an inventory of local hosts and a
// converge that records each host's transport. Pending handler records go to a temp dir, not this
// machine's /var/lib/clusterseed.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { Role } from '../../lib/runner/types.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { LocalTransport, localHost } from './local-transport.ts';
import { quiet } from './host-context.ts';

/** An inventory of local hosts with these names, all servers, no cluster. */
export function localInventory(names: string[]): Inventory {
  return {
    file: '/tmp/inv.yaml',
    dir: '/tmp',
    vars: {},
    hosts: names.map((n) => localHost(n)),
    groups: { servers: names, agents: [] },
    clusters: [],
    gitops: { repo: { kind: 'local', path: '/tmp/x' }, branch: 'main' },
  };
}

/** Runs `roles` on local hosts (default one host "a"), info lines into `opts.lines` if given. */
export async function converge(roles: Role[], opts: { check?: boolean; names?: string[]; lines?: string[] } = {}) {
  const transports = new Map<string, LocalTransport>();
  const log = opts.lines ? { ...quiet, info: (m: string) => opts.lines!.push(m) } : quiet;
  const report = await runSite({
    inventory: localInventory(opts.names ?? ['a']),
    roles,
    options: { check: !!opts.check, diff: true, verbosity: 0, forks: 4, hostStateDir: mkdtempSync(path.join(os.tmpdir(), 'cs-state-')) },
    connect: (h) => {
      const t = new LocalTransport(h);
      transports.set(h.name, t);
      return t;
    },
    log,
  });
  return { report, transports };
}
