// Validate → install → make live → prove → roll back: the one way clusterseed changes a file that
// can lock it out of a host (sudoers, the sshd configuration, the nftables ruleset).
//   1. the candidate goes to a temp path the consumer ignores (sudo skips names with a dot, sshd
//      includes only *.conf, nft loads only the file it is given) and a validator checks it there
//      (visudo -cf, sshd -t -f, nft -c -f): refused → nothing was installed;
//   2. the install keeps the previous content (a rollback copy) and puts the candidate in place;
//   3. it is made live (reload, apply), unless the install already did;
//   4. a fresh SSH login proves the host still lets clusterseed in (lib/blocks/login-proof.ts,
//      which retries for a while: a connection right after an sshd reload can be reset);
//   5. proven → the rollback copy is dropped; not proven → the previous content goes back, live
//      again, and the change fails saying why the proof failed and whether the rollback worked.
// The role supplies the scripts of each step (they differ per tool); this block fixes their order
// and what a failure at each step means. A step may run in a task (install) and the rest in a
// handler (make live and prove: sshd reloads once for several changed files), hence the two halves.
import { randomBytes } from 'node:crypto';
import { NothingApplied, type HostContext } from '../runner/types.ts';
import type { ExecResult } from '../ssh/types.ts';
import { attempt } from './remote.ts';
import { proveOrRollBack, type LoginCheck, type ProvenChange } from './login-proof.ts';

export type { FreshLogin, LoginCheck, RollbackOutcome } from './login-proof.ts';

/** The exit code an install script uses for "the validator refused the candidate" (nothing installed). */
export const VALIDATOR_REFUSED = 65;

/** A fresh name beside `prefix` for one run's candidate: concurrent runs never install each other's file. */
export function candidatePath(prefix: string): string {
  return `${prefix}.${randomBytes(6).toString('hex')}`;
}

export interface Candidate {
  /** where the candidate is uploaded (candidatePath) */
  path: string;
  content: string | Buffer;
  mode: number;
  owner?: string;
  group?: string;
}

/**
 * Steps 1–2 (and 3 when the script also makes it live): uploads the candidate, then runs the
 * install script as root (it validates the candidate, keeps the previous content, moves the
 * candidate in and removes it on every exit path). Returns the script's result: what its exit
 * codes mean is the caller's (VALIDATOR_REFUSED by convention).
 */
export async function installCandidate(ctx: HostContext, candidate: Candidate, script: string, stdin?: string): Promise<ExecResult> {
  await ctx.conn.upload(candidate.path, candidate.content, {
    mode: candidate.mode,
    owner: candidate.owner ?? 'root',
    group: candidate.group ?? 'root',
    become: true,
  });
  return attempt(ctx, script, stdin === undefined ? {} : { stdin });
}

/**
 * Runs a root script that only validates or prepares (nothing is installed yet); a non-zero exit
 * becomes NothingApplied with `refused(result)` as its message.
 */
export async function validateCandidate(
  ctx: HostContext,
  script: string,
  refused: (res: ExecResult) => string,
  stdin?: string,
): Promise<ExecResult> {
  const res = await attempt(ctx, script, stdin === undefined ? {} : { stdin });
  if (res.code !== 0) throw new NothingApplied(refused(res));
  return res;
}

export interface LiveProof extends ProvenChange {
  /**
   * Step 3 when the install did not do it. A failure here is not rolled back: the rollback copy
   * stays and the next run makes it live and proves it again (the pending handler record says so).
   */
  makeLive?(ctx: HostContext): Promise<void>;
  /** after the proof: drops the rollback copy, disarms a revert timer */
  keep?(ctx: HostContext): Promise<void>;
}

/**
 * Steps 3–5: make live, prove every login, then keep; or roll back and throw
 * "<what>, <why the proof failed>; <what the rollback did>. This run's own connection was kept."
 */
export async function proveLive(ctx: HostContext, spec: LiveProof): Promise<void> {
  if (spec.makeLive) await spec.makeLive(ctx);
  await proveOrRollBack(ctx, spec);
  if (spec.keep) await spec.keep(ctx);
}

export interface GuardedInstall extends LiveProof {
  /** steps 1–2: validate the candidate and install it keeping the previous content; throws when refused */
  install(ctx: HostContext): Promise<void>;
}

/** The whole sequence in one task: install (a refusal throws before anything is live), then proveLive. */
export async function guardedInstall(ctx: HostContext, spec: GuardedInstall): Promise<void> {
  await spec.install(ctx);
  await proveLive(ctx, spec);
}

/**
 * A guarded change's `commands` (shown by --check -vv): its own steps, then the proof and what a
 * failed one does.
 */
export function guardedCommands(steps: string[], checks: LoginCheck[]): string[] {
  const who = checks.map((c) => `${c.user}${c.sudo ? ' (with sudo)' : ''}`).join(', ');
  return [...steps, `fresh SSH login as ${who}; on failure the previous content goes back, live again`];
}
