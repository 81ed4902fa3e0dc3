// Role vars of EVERY host checked before the first host is touched. checkInventoryVars (vars-specs)
// knows keys and types; what a value may be (a port from 1 to 65535, a user name, a time HH:MM, an
// address) is read by each role while it builds its tasks (the VarsReader of lib/settings).
// Roles build their tasks host by host in their turn, so such an error used to surface on a host
// only after the roles before it had changed it (vars.harden.firewall.ssh_port: 70000 stopped the
// host after base ran; vars.k3s-prereq.reboot_timeout: 5 only in the reboot handler, after the
// change that needed the reboot). Here every side-effect-free role (Role.probeAhead: its tasks come
// from facts, vars and the inventory alone) builds its tasks for every host against typical facts
// and a connection that refuses to be used; what it says about the inventory becomes one
// InventoryError with the line of each offending value.
import type { FieldPath, InventoryIssue } from '../lib/inventory/errors.ts';
import { InventoryError, formatPath } from '../lib/inventory/errors.ts';
import type { HostSpec, Inventory } from '../lib/inventory/model.ts';
import { issueAt, provenanceOf } from '../lib/inventory/provenance.ts';
import { deepMerge } from '../lib/runner/merge.ts';
import type { Facts, HostContext, Logger, Role, RunOptions } from '../lib/runner/types.ts';
import type { Transport } from '../lib/ssh/types.ts';
import { VarsError } from '../lib/settings/index.ts';
import { rebootTimeoutMs } from './k3s-prereq/index.ts';

/** What building took longer than this for (a DNS lookup of a host name, say) is left to the run. */
const BUILD_TIMEOUT_MS = 10_000;

/** Facts of a typical host (Debian 12, its OpenSSH 9.2); the host's own facts are only known once connected. */
function typicalFacts(host: HostSpec): Facts {
  const pi = host.raspberryPi ?? false;
  return {
    hostname: host.name,
    arch: host.arch ?? (pi ? 'aarch64' : 'x86_64'),
    kernel: '6.1.0',
    osId: 'debian',
    osVersion: '12',
    osCodename: 'bookworm',
    init: 'systemd',
    container: '',
    raspberryPi: pi,
    piCmdlineFile: pi ? '/boot/firmware/cmdline.txt' : '',
    sshdVersion: '9.2',
    sshdPorts: [host.port],
  };
}

/** A connection that may not be used: building tasks must not contact the host. */
function refusingTransport(host: HostSpec): Transport {
  const refuse = async (): Promise<never> => {
    throw new Error('preflight: no host is contacted');
  };
  return {
    host,
    roundTrips: 0,
    connect: refuse,
    exec: refuse,
    upload: refuse,
    download: refuse,
    reconnect: refuse,
    close: async () => undefined,
  };
}

const SILENT: Logger = { info() {}, verbose() {}, debug() {}, warn() {} };

export interface VarsPreflight {
  /** every tag a task of these roles carries (for --tags) */
  taskTags: Set<string>;
}

/** `admin_keys[0]` → ['admin_keys', 0] */
function parseDotted(dotted: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of dotted.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** How many leading segments of `path` exist in the document. */
function depthIn(doc: unknown, path: FieldPath): number {
  let cur = doc;
  let depth = 0;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object' || !(String(seg) in (cur as object))) break;
    cur = (cur as Record<string, unknown>)[String(seg)];
    depth++;
  }
  return depth;
}

/**
 * The issue for an error a role raised while building its tasks for `host`, or undefined when the
 * error is not about the inventory (then the run reports it on that host, with the real facts).
 */
function issueOf(inventory: Inventory, host: HostSpec, err: unknown): { path: FieldPath; message: string } | undefined {
  const text = err instanceof Error ? err.message : String(err);
  const prefix = `${inventory.file}: host ${host.name}: `;
  const own = text.startsWith(prefix);
  if (!(err instanceof VarsError) && !own) return undefined;
  const rest = own ? text.slice(prefix.length) : text;
  const m = /^vars\.([A-Za-z0-9_-]+)\.(.+?): (expected [\s\S]*)$/.exec(rest);
  if (!m) return { path: ['hosts', host.name], message: rest };
  const [, name, dotted, message] = m;
  const tail = [name, ...parseDotted(dotted)];
  // the layer that set the value: the host's vars, its groups' (the last one wins), the top level
  const raw = provenanceOf(inventory)?.raw;
  const layers: FieldPath[] = [['hosts', host.name, 'vars'], ...[...host.groups].reverse().map((g) => ['groups', g, 'vars']), ['vars']];
  let best: FieldPath | undefined;
  let bestDepth = 0;
  for (const layer of layers) {
    const depth = raw ? depthIn(raw, [...layer, ...tail]) - layer.length : 0;
    if (depth > bestDepth) [best, bestDepth] = [[...layer, ...tail], depth];
  }
  return {
    path: best ?? ['hosts', host.name, 'vars', ...tail],
    message: best ? message : `${message} (host ${host.name}, from the role's defaults)`,
  };
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Builds the tasks of every side-effect-free role for every host it applies to (never contacting
 * one) and throws one InventoryError for everything they say is wrong with the inventory's vars.
 */
export async function preflightRoleVars(inventory: Inventory, roles: Role[]): Promise<VarsPreflight> {
  const options: RunOptions = { check: true, diff: false, verbosity: 0 };
  const shared = new Map<string, unknown>();
  const peers = new Map<string, HostContext>();
  for (const host of inventory.hosts) {
    peers.set(host.name, {
      host,
      inventory,
      conn: refusingTransport(host),
      facts: typicalFacts(host),
      vars: {},
      options,
      shared,
      log: SILENT,
      peers,
    });
  }
  const found = new Map<string, { path: FieldPath; message: string }>();
  const taskTags = new Set<string>();
  const add = (issue: { path: FieldPath; message: string } | undefined) => {
    if (issue) found.set(`${formatPath(issue.path)}\n${issue.message}`, issue);
  };
  for (const host of inventory.hosts) {
    const base = peers.get(host.name)!;
    for (const role of roles.filter((r) => r.probeAhead && r.appliesTo(host, inventory))) {
      const ctx: HostContext = { ...base, vars: deepMerge(role.defaults ?? {}, (host.vars[role.name] as Record<string, unknown>) ?? {}) };
      try {
        const tasks = await withTimeout(Promise.resolve(role.tasks(ctx)), BUILD_TIMEOUT_MS);
        if (tasks !== 'timeout') for (const t of tasks) for (const tag of t.tags ?? []) taskTags.add(tag);
      } catch (err) {
        add(issueOf(inventory, host, err));
      }
    }
    // read only by a handler, after the change that notified it: checked here for every host
    try {
      rebootTimeoutMs({ inventory, host });
    } catch (err) {
      add(issueOf(inventory, host, err));
    }
  }
  if (found.size) throw new InventoryError(issuesAt(inventory, [...found.values()]));
  return { taskTags };
}

function issuesAt(inventory: Inventory, problems: { path: FieldPath; message: string }[]): InventoryIssue[] {
  return problems.map((p) => issueAt(inventory, p.path, p.message));
}
