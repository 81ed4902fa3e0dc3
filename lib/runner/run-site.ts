// Runs roles over hosts the way a play runs: role by role, hosts in parallel (bounded by forks,
// or by a role's `serial`), a failed or unreachable host stops only itself.
import type { HostSpec, Inventory } from '../inventory/model.ts';
import type { Transport } from '../ssh/types.ts';
import { TransportError } from '../ssh/types.ts';
import type { Facts, HostContext, HostReport, Logger, Outcome, Role, RunOptions, RunReport, SharedState } from './types.ts';
import { runRole } from './run-role.ts';
import { ProbeAhead } from './probe-ahead.ts';
import { deepMerge } from './merge.ts';
import { withPrefix } from '../report/logger.ts';
import { mask } from '../report/mask.ts';
import { factsRole } from './facts-role.ts';
import type { HostLockOwner } from '../locks/host-lock.ts';
import { withHostLock } from './host-lock.ts';

export interface SiteRunOptions extends RunOptions {
  forks: number;
  /** host or group names; empty = all */
  limit?: string[];
  /** take each host's run lock (lib/locks/host-lock.ts) for this run, in the facts probe */
  hostLock?: HostLockOwner;
}

export interface SiteRun {
  inventory: Inventory;
  roles: Role[];
  options: SiteRunOptions;
  connect: (host: HostSpec) => Transport;
  log: Logger;
  shared?: SharedState;
  /**
   * SIGINT/SIGTERM (lib/runner/interrupt.ts): `stop` aborted = start nothing new (no connection,
   * role or task), let running tasks finish; `abandon` aborted = close the connections now, which
   * ends what is still running on them.
   */
  interrupt?: { stop: AbortSignal; abandon: AbortSignal; reason(): string | undefined };
}

const EMPTY_FACTS: Facts = {
  hostname: '',
  arch: '',
  kernel: '',
  osId: '',
  osVersion: '',
  osCodename: '',
  init: '',
  container: '',
  raspberryPi: false,
  piCmdlineFile: '',
  sshdVersion: '',
};

export function selectHosts(inventory: Inventory, limit?: string[]): HostSpec[] {
  if (!limit || limit.length === 0) return inventory.hosts;
  const names = new Set<string>();
  for (const item of limit) {
    const group = inventory.groups[item];
    if (group) group.forEach((h) => names.add(h));
    else if (inventory.hosts.some((h) => h.name === item)) names.add(item);
    else throw new Error(`--limit: '${item}' is neither a host nor a group of the inventory`);
  }
  return inventory.hosts.filter((h) => names.has(h.name));
}

/** Run `fn` over items with at most `limit` in flight, preserving item order for starts. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}

function newReport(host: string): HostReport {
  return {
    host,
    outcome: 'ok',
    counts: { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0 },
    tasks: [],
    roundTrips: 0,
    roundTripsByRole: {},
  };
}

/** The role's own order of its hosts, checked to be a reordering of them (a role may not add or drop one). */
function ordered(role: Role, targets: HostSpec[], inventory: Inventory): HostSpec[] {
  const queue = role.hostOrder!([...targets], inventory);
  const names = (hs: HostSpec[]) =>
    hs
      .map((h) => h.name)
      .sort()
      .join('\n');
  if (names(queue) !== names(targets)) throw new Error(`role ${role.name}: hostOrder must return the hosts it was given, reordered`);
  return queue;
}

export async function runSite(run: SiteRun): Promise<RunReport> {
  const started = Date.now();
  const { inventory, options } = run;
  const hosts = selectHosts(inventory, options.limit);
  const shared: SharedState = run.shared ?? new Map();
  const reports = new Map<string, HostReport>(hosts.map((h) => [h.name, newReport(h.name)]));
  const peers = new Map<string, HostContext>();
  const stopped = new Set<string>();
  const varsFor = (role: Role, ctx: HostContext) =>
    deepMerge(role.defaults ?? {}, (ctx.host.vars[role.name] as Record<string, unknown>) ?? {});
  const ahead = new ProbeAhead(run.roles, inventory, varsFor);
  const stop = run.interrupt?.stop;
  /** hosts that did not go through all their roles because of the interrupt */
  const interrupted = new Set<string>();
  const abandonAll = () => {
    run.log.warn('interrupted: abandoning the tasks still running (closing the connections)');
    for (const ctx of peers.values()) void ctx.conn.close().catch(() => undefined);
  };
  if (run.interrupt?.abandon.aborted) abandonAll();
  else run.interrupt?.abandon.addEventListener('abort', abandonAll, { once: true });

  for (const host of hosts) {
    peers.set(host.name, {
      host,
      inventory,
      conn: run.connect(host),
      facts: { ...EMPTY_FACTS },
      vars: {},
      options,
      shared,
      log: withPrefix(run.log, `[${host.name}]`),
      peers,
      signal: stop,
    });
  }

  const record = (host: string, role: string, tasks: HostReport['tasks'], rt: number) => {
    const r = reports.get(host)!;
    r.tasks.push(...tasks);
    for (const t of tasks) r.counts[t.outcome]++;
    r.roundTripsByRole[role] = (r.roundTripsByRole[role] ?? 0) + rt;
  };

  // connect every host once; the connection is reused by every role
  await pool(hosts, options.forks, async (host) => {
    const ctx = peers.get(host.name)!;
    const t0 = Date.now();
    if (stop?.aborted) {
      interrupted.add(host.name);
      stopped.add(host.name);
      return;
    }
    try {
      await ctx.conn.connect();
    } catch (err) {
      const message = mask(err instanceof Error ? err.message : String(err));
      stopped.add(host.name);
      ctx.log.warn(`unreachable: ${message}`);
      record(host.name, 'connect', [{ role: 'connect', task: 'connect', outcome: 'unreachable', message, durationMs: Date.now() - t0 }], 0);
    }
  });

  const facts = options.hostLock ? withHostLock(factsRole, options.hostLock) : factsRole;
  for (const role of [facts, ...run.roles]) {
    if (stop?.aborted) {
      // no further role starts: every host still going did not finish
      for (const h of hosts) if (!stopped.has(h.name)) interrupted.add(h.name);
      break;
    }
    const targets = hosts.filter((h) => !stopped.has(h.name) && role.appliesTo(h, inventory));
    if (targets.length === 0) continue;
    // with --tags, control-machine work runs only for roles selected by name
    const roleSelected = !options.tags?.length || options.tags.includes(role.name);
    if (role.prepare && roleSelected) {
      const t0 = Date.now();
      try {
        await role.prepare({ inventory, hosts: targets.map((h) => peers.get(h.name)!), options, shared, log: run.log });
      } catch (err) {
        // nothing of this role or any later one may run: every remaining host stops here
        const message = mask(err instanceof Error ? err.message : String(err));
        run.log.warn(`[${role.name}] ${message}`);
        for (const h of hosts.filter((x) => !stopped.has(x.name))) {
          stopped.add(h.name);
          record(
            h.name,
            role.name,
            [{ role: role.name, task: 'prepare (control machine)', outcome: 'failed', message, durationMs: Date.now() - t0 }],
            0,
          );
        }
        break;
      }
    }
    // the order the role declares (e.g. roles/k3s-server: its first server initialises), else the inventory's
    const queue = role.hostOrder ? ordered(role, targets, inventory) : targets;
    await pool(queue, role.serial ?? options.forks, async (host) => {
      const ctx = peers.get(host.name)!;
      if (stop?.aborted) {
        interrupted.add(host.name);
        stopped.add(host.name);
        return;
      }
      ctx.vars = varsFor(role, ctx);
      const before = ctx.conn.roundTrips;
      const probed = await ahead.take(role, ctx);
      const afterProbe = ctx.conn.roundTrips;
      const result = await runRole(role, ctx, probed);
      if (run.interrupt?.abandon.aborted && result.stop === 'unreachable') {
        // our own doing: the connection was closed to abandon the running task
        const last = result.tasks[result.tasks.length - 1];
        result.tasks[result.tasks.length - 1] = { ...last, outcome: 'failed', message: `abandoned on interrupt: ${last.message ?? ''}` };
        result.stop = 'interrupted';
      }
      record(host.name, role.name, result.tasks, ctx.conn.roundTrips - before);
      if (result.stop === 'interrupted') {
        interrupted.add(host.name);
        stopped.add(host.name);
        return;
      }
      // state gathered ahead for later roles holds only while nothing else ran on this host
      if (ctx.conn.roundTrips !== afterProbe || result.stop) ahead.forget(host.name);
      if (result.stop) {
        stopped.add(host.name);
        const last = result.tasks[result.tasks.length - 1];
        ctx.log.warn(`${result.stop}: [${role.name}] ${last?.task}: ${last?.message}`);
      }
    });
  }

  await Promise.all(
    hosts.map(async (h) => {
      const ctx = peers.get(h.name)!;
      const r = reports.get(h.name)!;
      r.roundTrips = ctx.conn.roundTrips;
      r.facts = ctx.facts.arch ? ctx.facts : undefined;
      r.outcome = r.counts.unreachable ? 'unreachable' : r.counts.failed ? 'failed' : r.counts.changed ? 'changed' : 'ok';
      if (interrupted.has(h.name)) r.interrupted = true;
      await ctx.conn.close().catch(() => undefined);
    }),
  );
  run.interrupt?.abandon.removeEventListener('abort', abandonAll);

  return {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    check: options.check,
    hosts: hosts.map((h) => reports.get(h.name)!),
    ...(stop?.aborted ? { interrupted: run.interrupt!.reason() ?? 'interrupted' } : {}),
  };
}

export function exitCode(report: RunReport): number {
  if (report.hosts.some((h) => h.outcome === 'failed' || h.outcome === 'unreachable')) return 2;
  if (report.check && report.hosts.some((h) => h.counts.changed > 0)) return 3;
  return 0;
}

export type { Outcome };
export { TransportError };
