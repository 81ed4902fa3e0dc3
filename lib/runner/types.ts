// The task model, after pyinfra (facts apart from operations) and Ansible (roles, handlers):
// a task names the state it wants; the runner gathers the current state of every task of a role
// in one remote command (the probes, and the files, units and packages the tasks read, each kind
// gathered for all tasks at once), asks each task for the difference (plan), and applies only
// that. A second run of a converged host costs at most one round trip per role (one for a whole
// run of Role.probeAhead roles) and changes nothing.
import type { HostSpec, Inventory } from '../inventory/model.ts';
import type { Transport } from '../ssh/types.ts';
import type { UnitState } from '../facts/units.ts';
import type { FileFact, FileQuery } from '../facts/files.ts';
import type { Facts } from '../facts/host-facts.ts';
import type { FactRequest, FactValues } from '../facts/fact.ts';
import type { FileDiff, Logger } from '../report/types.ts';
export type { FileDiff, Logger } from '../report/types.ts';

export type { Facts, FileFact, FileQuery, UnitState, FactRequest, FactValues };

export type Outcome = 'ok' | 'changed' | 'failed' | 'skipped' | 'unreachable';

/** What a probe printed. `code` is the probe's exit status. */
export interface ProbeResult {
  stdout: string;
  code: number;
  /** the files the task asked for in `files`, by path (gathered for the whole batch at once) */
  files?: ReadonlyMap<string, FileFact>;
  /** the systemd units the task asked for in `units`, by name (one systemctl for the batch) */
  units?: ReadonlyMap<string, UnitState>;
  /** of the packages the tasks asked for in `packages`, those installed (one dpkg-query for the batch) */
  packages?: ReadonlySet<string>;
  /** the facts the task asked for in `facts`, by fact name (read them with factOf, lib/facts/fact.ts) */
  facts?: FactValues;
}

/** The difference a task found, and how to remove it. */
export interface Change {
  /** one line: what will change, e.g. "set PermitRootLogin no" */
  summary: string;
  diff?: FileDiff[];
  /** the remote commands apply would run (shown by --check -vv); secrets masked by the logger */
  commands?: string[];
  apply(ctx: HostContext): Promise<void>;
}

/** A task's own verdict when it must not run or cannot be checked. */
export interface Skip {
  skip: string;
}

/** A task already in its desired state, and why (one line, shown with -v): `{ ok: 'sshd already runs the hardened config' }`. */
export interface InState {
  ok: string;
}

/** What a task's plan returns: the change to make, a skip, or in state (null: in state, no reason given). */
export type PlanResult = Change | Skip | InState | null;

export interface Task {
  name: string;
  tags?: string[];
  /** POSIX sh run as root; its stdout is the current state. Batched with the role's other probes. */
  probe?: string;
  /** files whose state `plan` reads from `state.files` (batched with every other task's files) */
  files?: FileQuery[];
  /** systemd units whose state `plan` reads from `state.units` (batched like the files) */
  units?: string[];
  /** apt packages whose installed state `plan` reads from `state.packages` (batched like the files) */
  packages?: string[];
  /**
   * facts (lib/facts) whose answers `plan` reads with factOf(state, fact): one query per fact for the
   * whole batch (every task's and role's parameters merged), kept per host until the runner changes it
   */
  facts?: FactRequest[];
  /** the difference between the probed state and the desired one: null when in state */
  plan(state: ProbeResult, ctx: HostContext): PlanResult | Promise<PlanResult>;
  /** handlers notified when this task changed something */
  notify?: string[];
  /** evaluate before probing; false → skipped */
  when?: (ctx: HostContext) => boolean;
}

export interface Handler {
  name: string;
  run(ctx: HostContext): Promise<void>;
}

/**
 * Thrown by a handler that failed but put the host back into its previous, proven state (files
 * restored and live again): nothing of its notification is left to do, so the runner drops the
 * handler's pending record (lib/runner/pending.ts). The role still fails.
 */
export class HandlerRolledBack extends Error {}

/**
 * Thrown by a Change's apply that failed before it changed anything on the host (e.g. a candidate
 * configuration refused by its validator): the runner drops the pending records it wrote for this
 * change, since no handler has anything to catch up on. The task still fails.
 */
export class NothingApplied extends Error {}

/** State shared by all hosts of a run (e.g. the K3s token, read on the first server). Never reported. */
export type SharedState = Map<string, unknown>;

export interface RunOptions {
  check: boolean;
  diff: boolean;
  tags?: string[];
  verbosity: number;
  /**
   * where the hosts keep clusterseed's state, e.g. the pending handler records
   * (lib/runner/pending.ts); default /var/lib/clusterseed. Tests that run roles on this machine
   * point it at a temp dir.
   */
  hostStateDir?: string;
}

export interface HostContext {
  host: HostSpec;
  inventory: Inventory;
  conn: Transport;
  facts: Facts;
  /** the role's defaults merged with inventory vars under the role's key */
  vars: Record<string, unknown>;
  options: RunOptions;
  shared: SharedState;
  log: Logger;
  /** all hosts' contexts by name, for roles that coordinate across hosts (k3s) */
  peers: Map<string, HostContext>;
  /** aborted on SIGINT/SIGTERM: start no further task (lib/runner/interrupt.ts) */
  signal?: AbortSignal;
}

export interface Role {
  name: string;
  /** which hosts the role applies to */
  appliesTo(host: HostSpec, inventory: Inventory): boolean;
  /** role defaults, deep-merged under inventory vars[name] */
  defaults?: Record<string, unknown>;
  /** tags its tasks carry, so `--tags X` can select the role without building its tasks */
  tags?: string[];
  /** runs whatever --tags says (facts) */
  always?: boolean;
  /** run at most this many hosts at once (1 = one at a time, in inventory order or `hostOrder`'s) */
  serial?: number;
  /**
   * The order the role goes through its hosts (what matters with `serial`: e.g. K3s's first server
   * initialises, roles/k3s-server). Gets the hosts the role applies to, in inventory order; returns them
   * all, reordered. Without it: inventory order.
   */
  hostOrder?(hosts: HostSpec[], inventory: Inventory): HostSpec[];
  /**
   * Its tasks depend only on the facts, the role's vars and the inventory, building them has no
   * side effect, and it has no `prepare`. The runner then gathers its state in the same remote
   * command as the role before it (lib/runner/probe-ahead.ts): one round trip for a run of such
   * roles. The state is used only while no role has run anything else on the host since.
   */
  probeAhead?: boolean;
  tasks(ctx: HostContext): Task[] | Promise<Task[]>;
  handlers?: Handler[];
  /**
   * Control-machine work done once before the role touches any host (after facts), e.g. download
   * and verify artifacts, or publish a repo. Throwing stops the whole run before this role: no
   * host is changed by it or any later role. `hosts` are the contexts the role will run on.
   */
  prepare?(run: PrepareContext): Promise<void>;
}

export interface PrepareContext {
  inventory: Inventory;
  hosts: HostContext[];
  options: RunOptions;
  shared: SharedState;
  log: Logger;
}

export interface TaskReport {
  role: string;
  task: string;
  outcome: Outcome;
  summary?: string;
  message?: string;
  durationMs: number;
}

export interface HostReport {
  host: string;
  outcome: 'ok' | 'changed' | 'failed' | 'unreachable';
  counts: Record<Outcome, number>;
  tasks: TaskReport[];
  /** SSH round trips for this host in this run, total and per role */
  roundTrips: number;
  roundTripsByRole: Record<string, number>;
  facts?: Facts;
  /** the run was interrupted (SIGINT/SIGTERM) before this host went through all its roles */
  interrupted?: boolean;
}

export interface RunReport {
  startedAt: string;
  durationMs: number;
  check: boolean;
  hosts: HostReport[];
  /** SIGINT/SIGTERM arrived during the run: the signal's name */
  interrupted?: string;
}
