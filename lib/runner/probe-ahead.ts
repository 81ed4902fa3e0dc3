// State gathered ahead for a run of roles that build their tasks from facts, vars and the inventory
// alone (Role.probeAhead): when the first of them starts on a host, the tasks of the ones after it
// are built too and ONE remote command probes them all. A no-op run then costs one round trip for
// base + harden + k3s-prereq instead of one per role, and the host runs one stat, one sha256sum,
// one systemctl show and one dpkg-query for all of them instead of a set per role: processes are
// most of what a no-op costs a host.
//
// What was gathered ahead describes the host as it was when probed, so it is used only while
// nothing ran on the host since: run-site drops it (forget) as soon as a role does any remote work
// of its own (applies a change, runs a handler, or probes anything itself) or stops the host.
import type { Inventory } from '../inventory/model.ts';
import type { HostContext, Role } from './types.ts';
import { planRole, probeTasks, type ProbedRole, type RolePlan } from './run-role.ts';

export class ProbeAhead {
  private readonly byHost = new Map<string, Map<Role, ProbedRole>>();

  /**
   * @param roles the run's roles in order
   * @param varsFor the vars a role runs with on a host (run-site sets ctx.vars the same way)
   */
  constructor(
    private readonly roles: Role[],
    private readonly inventory: Inventory,
    private readonly varsFor: (role: Role, ctx: HostContext) => Record<string, unknown>,
  ) {}

  /**
   * The role's planned tasks and their state on this host: gathered earlier with another role's
   * batch, or now, together with the probe-ahead roles that follow it. undefined: the role plans
   * and probes itself (it is not a probe-ahead role, or planning or probing failed here, which the
   * role then reports in its own turn). `ctx.vars` must be the role's own.
   */
  async take(role: Role, ctx: HostContext): Promise<ProbedRole | undefined> {
    const mine = this.byHost.get(ctx.host.name);
    const earlier = mine?.get(role);
    if (earlier) {
      mine!.delete(role);
      return earlier;
    }
    if (!role.probeAhead) return undefined;
    let own: RolePlan | null;
    try {
      own = await planRole(role, ctx);
    } catch {
      return undefined;
    }
    if (!own) return undefined;
    const group: { role: Role; plan: RolePlan }[] = [{ role, plan: own }, ...(await this.planFollowing(role, ctx))];
    let states, pending;
    try {
      // with the pending handler records of every role in the group that has handlers
      const withPending = group.some((g) => g.role.handlers?.length);
      ({ states, pending } = await probeTasks(
        group.flatMap((g) => g.plan.runnable),
        ctx,
        withPending,
      ));
    } catch {
      return undefined;
    }
    const later = new Map<Role, ProbedRole>();
    let at = 0;
    for (const { role: r, plan } of group) {
      later.set(r, { plan, states: states.slice(at, at + plan.runnable.length), pending });
      at += plan.runnable.length;
    }
    const result = later.get(role)!;
    later.delete(role);
    if (later.size) this.byHost.set(ctx.host.name, later);
    return result;
  }

  /** Drops what was gathered ahead for this host: something ran on it since. */
  forget(host: string): void {
    this.byHost.delete(host);
  }

  /** The probe-ahead roles right after `role` that will run on this host, planned with their own vars. */
  private async planFollowing(role: Role, ctx: HostContext): Promise<{ role: Role; plan: RolePlan }[]> {
    const planned: { role: Role; plan: RolePlan }[] = [];
    const own = ctx.vars;
    try {
      for (const next of this.roles.slice(this.roles.indexOf(role) + 1)) {
        // a role that may change the host, or does control-machine work first, ends the run
        if (!next.probeAhead || next.prepare) break;
        if (!next.appliesTo(ctx.host, this.inventory)) continue;
        ctx.vars = this.varsFor(next, ctx);
        let plan: RolePlan | null;
        try {
          plan = await planRole(next, ctx);
        } catch {
          break; // it reports that in its own turn
        }
        if (plan) planned.push({ role: next, plan });
      }
    } finally {
      ctx.vars = own;
    }
    return planned;
  }
}
