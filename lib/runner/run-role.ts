// Runs one role on one host: probe all tasks (and the files, units and packages they read) in one
// batch, or take the state gathered ahead with an earlier role's batch; plan each, apply only differences,
// re-probe the remaining tasks in one batch after something changed (their state may depend on it),
// then run notified handlers once.
import {
  HandlerRolledBack,
  NothingApplied,
  type HostContext,
  type ProbeResult,
  type Role,
  type Skip,
  type InState,
  type PlanResult,
  type Task,
  type TaskReport,
} from './types.ts';
import { buildProbeBatch } from './probe-batch.ts';
import { filesFact } from '../facts/files.ts';
import { unitsFact } from '../facts/units.ts';
import { packagesFact } from '../facts/packages.ts';
import { mergeRequests, type Fact } from '../facts/fact.ts';
import { cached, forgetFacts, remember } from '../facts/cache.ts';
import { TransportError } from '../ssh/types.ts';
import { run } from './remote.ts';
import { mask } from '../report/mask.ts';
import { renderDiffs } from '../report/diff.ts';
import { clearScript, parsePending, pendingProbe, recordScript, type PendingRecord } from './pending.ts';

export class HostUnreachable extends Error {}

export interface RoleResult {
  tasks: TaskReport[];
  /** the host must not run further roles */
  stop: 'failed' | 'unreachable' | 'interrupted' | null;
}

function isSkip(x: PlanResult): x is Skip {
  return !!x && 'skip' in x;
}

function isInState(x: PlanResult): x is InState | null {
  return x === null || 'ok' in x;
}

function selected(task: Task, role: Role, ctx: HostContext): boolean {
  const tags = ctx.options.tags;
  if (!tags || tags.length === 0 || role.always) return true;
  const own = [role.name, ...(task.tags ?? [])];
  return own.some((t) => tags.includes(t));
}

/** The state of these tasks in ONE remote command: their probes, files, units and packages. */
export async function probeAll(tasks: Task[], ctx: HostContext): Promise<ProbeResult[]> {
  return (await probeTasks(tasks, ctx, false)).states;
}

/** What one probe batch answered: each task's state and, when asked for, the host's pending handler records. */
export interface ProbedState {
  states: ProbeResult[];
  /** every pending record on the host (all roles); [] when not asked for */
  pending: PendingRecord[];
}

/**
 * probeAll, and with `withPending` the pending handler records in the same command
 * (lib/runner/pending.ts): a no-op run pays no extra round trip for them.
 */
export async function probeTasks(tasks: Task[], ctx: HostContext, withPending: boolean): Promise<ProbedState> {
  const withProbe = tasks.map((t, i) => ({ t, i })).filter((x) => x.t.probe);
  const queries = tasks.flatMap((t) => t.files ?? []);
  const unitNames = [...new Set(tasks.flatMap((t) => t.units ?? []))];
  const packageNames = [...new Set(tasks.flatMap((t) => t.packages ?? []))].sort();
  // the facts the tasks name, one query per fact (parameters merged); those this run already
  // gathered on the host, with nothing changed there since, are answered from the cache
  const asked = mergeRequests(tasks.flatMap((t) => t.facts ?? []));
  const known = new Map<string, unknown>();
  const toQuery = asked.filter(({ fact, params }) => {
    const hit = cached(ctx.conn, fact, params);
    if (hit) known.set(fact.name, hit.value);
    return !hit;
  });
  const results: ProbeResult[] = tasks.map(() => ({ stdout: '', code: 0 }));
  if (
    !withPending &&
    withProbe.length === 0 &&
    queries.length === 0 &&
    unitNames.length === 0 &&
    packageNames.length === 0 &&
    toQuery.length === 0
  ) {
    attachFacts(tasks, results, known);
    return { states: results, pending: [] };
  }
  // the files, units and packages of all tasks first, one query each (lib/facts/{files,units,packages}.ts), then the other facts
  const builtIn = [
    ...(queries.length ? [{ fact: filesFact as Fact<unknown, unknown>, params: queries as unknown[] }] : []),
    ...(unitNames.length ? [{ fact: unitsFact as Fact<unknown, unknown>, params: unitNames as unknown[] }] : []),
    ...(packageNames.length ? [{ fact: packagesFact as Fact<unknown, unknown>, params: packageNames as unknown[] }] : []),
  ];
  const factQueries = [...builtIn, ...toQuery];
  const shared = [...(withPending ? [pendingProbe(ctx.options.hostStateDir)] : []), ...factQueries.map((f) => f.fact.command(f.params))];
  const batch = buildProbeBatch([...shared, ...withProbe.map((x) => x.t.probe!)]);
  ctx.log.debug(
    `probe batch of ${withProbe.length} task(s)${queries.length ? `, ${queries.length} file(s)` : ''}` +
      `${unitNames.length ? `, ${unitNames.length} unit(s)` : ''}${packageNames.length ? `, ${packageNames.length} package(s)` : ''}` +
      `${toQuery.length ? `, fact(s) ${toQuery.map((f) => f.fact.name).join(', ')}` : ''}` +
      `${withPending ? ', pending handlers' : ''}`,
  );
  const res = await ctx.conn.exec(batch.script, { become: true });
  const parsed = batch.parse(res.stdout);
  const pending = withPending ? parsePending(parsed.shift()!.stdout) : [];
  const answers = new Map<string, unknown>();
  for (const { fact, params } of factQueries) answers.set(fact.name, fact.parse(parsed.shift()!.stdout, params));
  for (const { fact, params } of toQuery) {
    remember(ctx.conn, fact, params, answers.get(fact.name));
    known.set(fact.name, answers.get(fact.name));
  }
  const files = answers.get(filesFact.name) as ProbeResult['files'];
  const units = answers.get(unitsFact.name) as ProbeResult['units'];
  const packages = answers.get(packagesFact.name) as ProbeResult['packages'];
  withProbe.forEach((x, k) => (results[x.i] = parsed[k]));
  for (const r of results) Object.assign(r, files && { files }, units && { units }, packages && { packages });
  attachFacts(tasks, results, known);
  return { states: results, pending };
}

/** Each task that asked for facts gets their answers (ProbeResult.facts). */
function attachFacts(tasks: Task[], results: ProbeResult[], known: ReadonlyMap<string, unknown>): void {
  if (known.size === 0) return;
  tasks.forEach((t, i) => {
    if (t.facts?.length) results[i].facts = known;
  });
}

/** A role's tasks for one host, built and filtered (--tags, `when`), before anything is probed. */
export interface RolePlan {
  /** the tasks that run, in order */
  runnable: Task[];
  /** reports of the tasks whose `when` is false */
  skipped: TaskReport[];
}

/**
 * Builds the role's tasks for this host. null: the role is not selected by --tags (its tasks are
 * not even built: building may already do control-machine work). Throws what building throws.
 */
export async function planRole(role: Role, ctx: HostContext): Promise<RolePlan | null> {
  const tags = ctx.options.tags;
  if (tags?.length && !role.always && !tags.includes(role.name) && !(role.tags ?? []).some((t) => tags.includes(t))) return null;
  const tasks = (await role.tasks(ctx)).filter((t) => selected(t, role, ctx));
  const active = tasks.map((t) => (t.when ? t.when(ctx) : true));
  const skipped: TaskReport[] = [];
  for (let i = 0; i < tasks.length; i++) {
    if (!active[i])
      skipped.push({ role: role.name, task: mask(tasks[i].name), outcome: 'skipped', message: 'condition false', durationMs: 0 });
  }
  return { runnable: tasks.filter((_, i) => active[i]), skipped };
}

/** A role planned and probed ahead of its turn (lib/runner/probe-ahead.ts). */
export interface ProbedRole {
  plan: RolePlan;
  /** the state of every runnable task, in order */
  states: ProbeResult[];
  /** the pending handler records found on the host with this batch (runRole keeps its own role's) */
  pending: PendingRecord[];
}

/** Runs the role's tasks, then its handlers: those notified now and those still pending on the host. */
export async function runRole(role: Role, ctx: HostContext, ahead?: ProbedRole): Promise<RoleResult> {
  const reports: TaskReport[] = [];
  const notified = new Set<string>();
  const handlerNames = new Set((role.handlers ?? []).map((h) => h.name));
  let rolePlan: RolePlan | null;
  if (ahead) rolePlan = ahead.plan;
  else {
    try {
      rolePlan = await planRole(role, ctx);
    } catch (err) {
      return fail(role, '(build tasks)', err, reports);
    }
  }
  // a role --tags leaves out entirely does not read its pending records either: they stay on the
  // host for the next run that includes the role (lib/runner/pending.ts says why)
  if (!rolePlan) return { tasks: [], stop: null };
  reports.push(...rolePlan.skipped);
  const runnable = rolePlan.runnable;
  // the state gathered ahead (with an earlier role's batch), else probed when the first task needs it
  let states: ProbeResult[] | null = ahead?.states ?? null;
  // records left by earlier runs whose handler did not finish; read with the first probe batch
  let pending: Map<string, PendingRecord> | null = ahead ? ofRole(role, ahead.pending) : null;
  /** handlers with a record on the host now (found there, or written by this run) */
  const recorded = new Set<string>();
  const probe = async (from: number) => {
    const got = await probeTasks(runnable.slice(from), ctx, pending === null && handlerNames.size > 0);
    if (pending === null) pending = ofRole(role, got.pending);
    return got.states;
  };
  let offset = 0; // index in runnable where `states` starts
  let interrupted = false;
  for (let i = 0; i < runnable.length; i++) {
    // interrupted: start no further task (the handlers of what already changed still run below)
    if (ctx.signal?.aborted) {
      interrupted = true;
      ctx.log.warn(
        `interrupted: [${role.name}] not started: ${runnable
          .slice(i)
          .map((t) => t.name)
          .join(', ')}`,
      );
      break;
    }
    const task = runnable[i];
    const started = Date.now();
    try {
      if (!states) {
        states = await probe(i);
        offset = i;
      }
      const plan = await task.plan(states[i - offset], ctx);
      if (isInState(plan)) {
        const why = plan?.ok;
        reports.push({
          role: role.name,
          task: mask(task.name),
          outcome: 'ok',
          ...(why ? { summary: mask(why) } : {}),
          durationMs: Date.now() - started,
        });
        ctx.log.verbose(`ok: [${role.name}] ${task.name}${why ? `: ${why}` : ''}`);
        continue;
      }
      if (isSkip(plan)) {
        reports.push({ role: role.name, task: mask(task.name), outcome: 'skipped', message: plan.skip, durationMs: Date.now() - started });
        ctx.log.verbose(`skipped: [${role.name}] ${task.name}: ${plan.skip}`);
        continue;
      }
      const verb = ctx.options.check ? 'would change' : 'changed';
      ctx.log.info(`${verb}: [${role.name}] ${task.name}: ${plan.summary}`);
      if (ctx.options.diff && plan.diff?.length) ctx.log.info(renderDiffs(plan.diff));
      for (const command of plan.commands ?? []) ctx.log.debug(`  ${ctx.options.check ? 'would run' : 'runs'}: ${command}`);
      if (!ctx.options.check) {
        // the notification outlives this run: if anything stops us before the handler proved
        // itself, the next run still knows the host is not where its files say
        const toRecord = (task.notify ?? []).filter((h) => handlerNames.has(h) && !recorded.has(h) && !pending?.has(h));
        if (toRecord.length) {
          await run(
            ctx,
            recordScript(
              toRecord.map((handler) => ({ role: role.name, handler, by: mask(task.name) })),
              ctx.options.hostStateDir,
            ),
            'record the pending handler(s) on the host',
          );
          toRecord.forEach((h) => recorded.add(h));
        }
        // whatever apply does, the facts gathered on this host may no longer hold
        forgetFacts(ctx.conn);
        try {
          await plan.apply(ctx);
        } catch (err) {
          if (err instanceof NothingApplied) {
            // refused before it touched the host: the records written for it announce nothing
            for (const h of toRecord) {
              await ctx.conn.exec(clearScript(role.name, h, ctx.options.hostStateDir), { become: true }).catch(() => undefined);
              recorded.delete(h);
            }
          }
          throw err;
        }
        states = null; // later tasks may depend on what just changed: probe them again
      }
      for (const h of task.notify ?? []) notified.add(h);
      reports.push({
        role: role.name,
        task: mask(task.name),
        outcome: 'changed',
        summary: mask(plan.summary),
        durationMs: Date.now() - started,
      });
    } catch (err) {
      return fail(role, task.name, err, reports, Date.now() - started);
    }
  }
  if (pending === null && handlerNames.size > 0) {
    // no task to probe (all filtered out): the records still need reading
    try {
      await probe(runnable.length);
    } catch (err) {
      return fail(role, '(pending handlers)', err, reports);
    }
  }
  const left: Map<string, PendingRecord> = pending ?? new Map();
  for (const [name, rec] of left) {
    if (!handlerNames.has(name))
      ctx.log.warn(`[${role.name}] a pending record names handler '${name}', which this role does not have; left in place: ${rec.file}`);
  }
  for (const handler of role.handlers ?? []) {
    const old = left.get(handler.name);
    if (!notified.has(handler.name) && !old) continue;
    const started = Date.now();
    const since = old ? `pending since ${old.since || 'an earlier run'}${old.by ? `, notified by ${old.by}` : ''}` : undefined;
    if (ctx.options.check) {
      if (old) {
        // a handler an earlier run did not finish: the host is not converged, whatever its files say
        ctx.log.info(`pending: [${role.name}] ${handler.name} (since ${old.since || 'an earlier run'})`);
        reports.push({ role: role.name, task: `handler: ${handler.name}`, outcome: 'changed', summary: since, durationMs: 0 });
      } else ctx.log.info(`would run handler: [${role.name}] ${handler.name}`);
      continue;
    }
    try {
      ctx.log.info(`handler: [${role.name}] ${handler.name}${since ? ` (${since})` : ''}`);
      forgetFacts(ctx.conn);
      await handler.run(ctx);
      // only now, after the handler and its proof succeeded, may the host forget it
      if (old || recorded.has(handler.name))
        await run(ctx, clearScript(role.name, handler.name, ctx.options.hostStateDir), 'clear the pending handler record');
      reports.push({
        role: role.name,
        task: `handler: ${handler.name}`,
        outcome: 'changed',
        ...(since && { summary: since }),
        durationMs: Date.now() - started,
      });
    } catch (err) {
      if (err instanceof HandlerRolledBack && (old || recorded.has(handler.name))) {
        // the previous state is back and live: nothing is pending any more (best effort: a record
        // left behind only costs the next run one more run of the handler)
        await ctx.conn.exec(clearScript(role.name, handler.name, ctx.options.hostStateDir), { become: true }).catch(() => undefined);
      }
      return fail(role, `handler: ${handler.name}`, err, reports, Date.now() - started);
    }
  }
  return { tasks: reports, stop: interrupted ? 'interrupted' : null };
}

/** The records of this role, by handler name. */
function ofRole(role: Role, records: PendingRecord[]): Map<string, PendingRecord> {
  return new Map(records.filter((r) => r.role === role.name).map((r) => [r.handler, r]));
}

function fail(role: Role, task: string, err: unknown, reports: TaskReport[], durationMs = 0): RoleResult {
  const unreachable = err instanceof TransportError && err.kind !== 'exec';
  const message = mask(err instanceof Error ? err.message : String(err));
  reports.push({ role: role.name, task, outcome: unreachable ? 'unreachable' : 'failed', message, durationMs });
  return { tasks: reports, stop: unreachable ? 'unreachable' : 'failed' };
}
