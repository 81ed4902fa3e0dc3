// Runs one role on one host: probe all tasks (and the files, units and packages they read) in one
// batch, or take the state gathered ahead with an earlier role's batch; plan each, apply only differences,
// re-probe the remaining tasks in one batch after something changed (their state may depend on it),
// then run notified handlers once.
import type { Change, HostContext, ProbeResult, Role, Skip, Task, TaskReport } from './types.ts';
import { buildProbeBatch } from './probe-batch.ts';
import { fileFactsProbe } from './file-facts.ts';
import { parseUnitStates, unitStateProbe } from '../blocks/unit-state.ts';
import { packageStateProbe, parseInstalled } from '../blocks/package-state.ts';
import { TransportError } from '../ssh/types.ts';
import { mask } from '../report/mask.ts';
import { renderDiffs } from '../report/diff.ts';

export class HostUnreachable extends Error {}

export interface RoleResult {
  tasks: TaskReport[];
  /** the host must not run further roles */
  stop: 'failed' | 'unreachable' | 'interrupted' | null;
}

function isSkip(x: Change | Skip | null): x is Skip {
  return !!x && 'skip' in x;
}

function selected(task: Task, role: Role, ctx: HostContext): boolean {
  const tags = ctx.options.tags;
  if (!tags || tags.length === 0 || role.always) return true;
  const own = [role.name, ...(task.tags ?? [])];
  return own.some((t) => tags.includes(t));
}

/** The state of these tasks in ONE remote command: their probes, files, units and packages. */
export async function probeAll(tasks: Task[], ctx: HostContext): Promise<ProbeResult[]> {
  const withProbe = tasks.map((t, i) => ({ t, i })).filter((x) => x.t.probe);
  const queries = tasks.flatMap((t) => t.files ?? []);
  const unitNames = [...new Set(tasks.flatMap((t) => t.units ?? []))];
  const packageNames = [...new Set(tasks.flatMap((t) => t.packages ?? []))].sort();
  const results: ProbeResult[] = tasks.map(() => ({ stdout: '', code: 0 }));
  if (withProbe.length === 0 && queries.length === 0 && unitNames.length === 0 && packageNames.length === 0) return results;
  // the files, units and packages of all tasks first, one probe each (file-facts.ts, unit-state.ts, package-state.ts)
  const fileFacts = queries.length ? fileFactsProbe(queries) : undefined;
  const shared = [
    ...(fileFacts ? [fileFacts.probe] : []),
    ...(unitNames.length ? [unitStateProbe(unitNames)] : []),
    ...(packageNames.length ? [packageStateProbe(packageNames)] : []),
  ];
  const batch = buildProbeBatch([...shared, ...withProbe.map((x) => x.t.probe!)]);
  ctx.log.debug(
    `probe batch of ${withProbe.length} task(s)${queries.length ? `, ${queries.length} file(s)` : ''}` +
      `${unitNames.length ? `, ${unitNames.length} unit(s)` : ''}${packageNames.length ? `, ${packageNames.length} package(s)` : ''}`,
  );
  const res = await ctx.conn.exec(batch.script, { become: true });
  const parsed = batch.parse(res.stdout);
  const files = fileFacts ? fileFacts.parse(parsed.shift()!.stdout) : undefined;
  const units = unitNames.length ? parseUnitStates(parsed.shift()!.stdout, unitNames) : undefined;
  const packages = packageNames.length ? parseInstalled(parsed.shift()!.stdout) : undefined;
  withProbe.forEach((x, k) => (results[x.i] = parsed[k]));
  for (const r of results) Object.assign(r, files && { files }, units && { units }, packages && { packages });
  return results;
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
    if (!active[i]) skipped.push({ role: role.name, task: mask(tasks[i].name), outcome: 'skipped', message: 'condition false', durationMs: 0 });
  }
  return { runnable: tasks.filter((_, i) => active[i]), skipped };
}

/** A role planned and probed ahead of its turn (lib/runner/probe-ahead.ts). */
export interface ProbedRole {
  plan: RolePlan;
  /** the state of every runnable task, in order */
  states: ProbeResult[];
}

export async function runRole(role: Role, ctx: HostContext, ahead?: ProbedRole): Promise<RoleResult> {
  const reports: TaskReport[] = [];
  const notified = new Set<string>();
  let rolePlan: RolePlan | null;
  if (ahead) rolePlan = ahead.plan;
  else {
    try {
      rolePlan = await planRole(role, ctx);
    } catch (err) {
      return fail(role, '(build tasks)', err, reports);
    }
  }
  if (!rolePlan) return { tasks: [], stop: null };
  reports.push(...rolePlan.skipped);
  const runnable = rolePlan.runnable;
  // the state gathered ahead (with an earlier role's batch), else probed when the first task needs it
  let states: ProbeResult[] | null = ahead?.states ?? null;
  let offset = 0; // index in runnable where `states` starts
  let interrupted = false;
  for (let i = 0; i < runnable.length; i++) {
    // interrupted: start no further task (the handlers of what already changed still run below)
    if (ctx.signal?.aborted) {
      interrupted = true;
      ctx.log.warn(`interrupted: [${role.name}] not started: ${runnable.slice(i).map((t) => t.name).join(', ')}`);
      break;
    }
    const task = runnable[i];
    const started = Date.now();
    try {
      if (!states) {
        states = await probeAll(runnable.slice(i), ctx);
        offset = i;
      }
      const plan = await task.plan(states[i - offset], ctx);
      if (plan === null) {
        reports.push({ role: role.name, task: mask(task.name), outcome: 'ok', durationMs: Date.now() - started });
        ctx.log.verbose(`ok: [${role.name}] ${task.name}`);
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
      if (!ctx.options.check) {
        await plan.apply(ctx);
        states = null; // later tasks may depend on what just changed: probe them again
      }
      for (const h of task.notify ?? []) notified.add(h);
      reports.push({ role: role.name, task: mask(task.name), outcome: 'changed', summary: mask(plan.summary), durationMs: Date.now() - started });
    } catch (err) {
      return fail(role, task.name, err, reports, Date.now() - started);
    }
  }
  for (const handler of role.handlers ?? []) {
    if (!notified.has(handler.name)) continue;
    const started = Date.now();
    if (ctx.options.check) {
      ctx.log.info(`would run handler: [${role.name}] ${handler.name}`);
      continue;
    }
    try {
      ctx.log.info(`handler: [${role.name}] ${handler.name}`);
      await handler.run(ctx);
      reports.push({ role: role.name, task: `handler: ${handler.name}`, outcome: 'changed', durationMs: Date.now() - started });
    } catch (err) {
      return fail(role, `handler: ${handler.name}`, err, reports, Date.now() - started);
    }
  }
  return { tasks: reports, stop: interrupted ? 'interrupted' : null };
}

function fail(role: Role, task: string, err: unknown, reports: TaskReport[], durationMs = 0): RoleResult {
  const unreachable = err instanceof TransportError && err.kind !== 'exec';
  const message = mask(err instanceof Error ? err.message : String(err));
  reports.push({ role: role.name, task, outcome: unreachable ? 'unreachable' : 'failed', message, durationMs });
  return { tasks: reports, stop: unreachable ? 'unreachable' : 'failed' };
}
