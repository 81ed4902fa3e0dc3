// Brings the repository on the cluster (roles/gitops-repo) to the head of the local mirror, over
// the run's own SSH connection (no `ssh` binary, no push access for anyone): probe the host's head
// as the git user; when it differs, bundle what the host lacks, upload the bundle over SFTP to a
// unique temporary path, fetch it fast-forward-only into the bare repository as the git user, and
// remove the bundle. The same head: nothing is uploaded or touched. The other way round, a lost
// (missing or empty) local mirror is restored from the host before anything is published to it.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Transport } from '../ssh/types.ts';
import type { Logger } from '../runner/types.ts';
import { q } from '../blocks/shell.ts';
import { git } from './git-cli.ts';
import { UserError } from '../report/user-error.ts';

export interface HostRepoTarget {
  conn: Transport;
  /** the system user owning the repository */
  user: string;
  /** its home (git reads $HOME/.gitconfig: root's is not readable to it) */
  home: string;
  repoPath: string;
  branch: string;
}

export class HostRepoDivergedError extends UserError {}

/** What the host needs, from its head and what the local mirror knows of it. */
export type SyncPlan =
  | { action: 'none' }
  /** the host has no branch yet: the whole history */
  | { action: 'full' }
  /** the host has an ancestor of the local head: only the commits after it */
  | { action: 'range'; since: string };

/**
 * `hostKnown`: the host's head is a commit of the local mirror; `hostIsAncestor`: it is an
 * ancestor of the local head. Anything else means someone wrote to the host's repository.
 */
export function syncPlan(
  local: string,
  host: string,
  hostKnown: boolean,
  hostIsAncestor: boolean,
): SyncPlan | { action: 'refuse'; reason: string } {
  if (!local) throw new Error('the local mirror has no head to publish');
  if (host === local) return { action: 'none' };
  if (!host) return { action: 'full' };
  if (!hostKnown)
    return { action: 'refuse', reason: `its head ${host.slice(0, 12)} is no commit of the local mirror (someone pushed there)` };
  if (!hostIsAncestor)
    return { action: 'refuse', reason: `its head ${host.slice(0, 12)} is ahead of or diverged from the local head ${local.slice(0, 12)}` };
  return { action: 'range', since: host };
}

/** `git bundle create` arguments for a plan: the branch, minus what the host has. */
export function bundleArgs(file: string, branch: string, plan: SyncPlan): string[] {
  if (plan.action === 'none') throw new Error('nothing to bundle');
  return ['bundle', 'create', '-q', file, `refs/heads/${branch}`, ...(plan.action === 'range' ? [`^${plan.since}`] : [])];
}

const asUser = (t: HostRepoTarget, args: string) => `runuser -u ${q(t.user)} -- env HOME=${q(t.home)} git -C ${q(t.repoPath)} ${args}`;

/** The host's head ('' for none), or undefined when the repository is not there (role gitops-repo has not run). */
async function hostHead(t: HostRepoTarget): Promise<string | undefined> {
  const script = `if ! id -u ${q(t.user)} >/dev/null 2>&1 || [ ! -f ${q(`${t.repoPath}/HEAD`)} ]; then echo '!missing'; exit 0; fi; ${asUser(t, `rev-parse --verify -q ${q(`refs/heads/${t.branch}^{commit}`)}`)} || true`;
  const res = await t.conn.exec(script, { become: true, timeoutMs: 60_000 });
  if (res.code !== 0) throw new Error(`reading the head of ${t.repoPath} on ${t.conn.host.name} failed: ${res.stderr.trim()}`);
  const out = res.stdout.trim();
  return out === '!missing' ? undefined : out;
}

async function localFacts(localRepo: string, branch: string, host: string): Promise<{ local: string; known: boolean; ancestor: boolean }> {
  const local = (
    await git(['rev-parse', '--verify', '-q', `refs/heads/${branch}^{commit}`], { gitDir: localRepo, okCodes: [1] })
  ).stdout.trim();
  if (!host || host === local) return { local, known: false, ancestor: false };
  const known = (await git(['cat-file', '-e', `${host}^{commit}`], { gitDir: localRepo, okCodes: [1, 128] })).code === 0;
  const ancestor = known && (await git(['merge-base', '--is-ancestor', host, local], { gitDir: localRepo, okCodes: [1] })).code === 0;
  return { local, known, ancestor };
}

export interface HostSyncResult {
  /** the host's head before, '' when it had none */
  before: string;
  head: string;
  /** the host was (check: would be) updated */
  changed: boolean;
}

export async function syncHostRepo(opts: {
  localRepo: string;
  target: HostRepoTarget;
  check: boolean;
  log: Logger;
}): Promise<HostSyncResult> {
  const { target: t, log } = opts;
  const where = `${t.conn.host.name}:${t.repoPath}`;
  const found = await hostHead(t);
  if (found === undefined) {
    // check mode before the first run: the role would create it, the publish would fill it
    if (opts.check) return { before: '', head: '', changed: true };
    throw new Error(
      `the repository ${where} does not exist (user ${t.user} or ${t.repoPath}/HEAD missing): run site.mjs without --tags/--limit once, its role gitops-repo creates it`,
    );
  }
  const before = found;
  const f = await localFacts(opts.localRepo, t.branch, before);
  const plan = syncPlan(f.local, before, f.known, f.ancestor);
  if (plan.action === 'refuse') {
    throw new HostRepoDivergedError(
      `refusing to update the repository on ${where}: ${plan.reason}. Only clusterseed writes there (Argo CD's key is read-only); ` +
        `move the extra commits into the local mirror ${opts.localRepo} or remove ${t.repoPath} on the host to have it re-created. ` +
        `If the local mirror was lost and made anew, move it away (mv ${opts.localRepo} ${opts.localRepo}.old) and rerun: an empty mirror is restored from the host`,
    );
  }
  if (plan.action === 'none') return { before, head: before, changed: false };
  if (opts.check) return { before, head: f.local, changed: true };
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'clusterseed-bundle-'));
  try {
    const local = path.join(tmp, 'gitops.bundle');
    await git(bundleArgs(local, t.branch, plan), { gitDir: opts.localRepo });
    const remote = `${t.home}/.clusterseed-${randomBytes(8).toString('hex')}.bundle`;
    await t.conn.upload(remote, await readFile(local), { mode: 0o600, owner: t.user, group: t.user, become: true });
    // no `+` in the refspec: git refuses anything but a fast-forward
    const fetch = `${asUser(t, `fetch -q ${q(remote)} ${q(`refs/heads/${t.branch}:refs/heads/${t.branch}`)}`)}; rc=$?; rm -f ${q(remote)}; exit $rc`;
    const res = await t.conn.exec(fetch, { become: true, timeoutMs: 300_000 });
    if (res.code !== 0)
      throw new Error(`fetching the bundle into ${where} failed (exit ${res.code}): ${res.stderr.trim().split('\n').slice(-3).join(' ')}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const head = (await hostHead(t)) ?? '';
  if (head !== f.local)
    throw new Error(`${where} is at ${head.slice(0, 12) || 'no commit'} after the update, not at ${f.local.slice(0, 12)}`);
  log.info(`gitops: ${where} now at ${head.slice(0, 12)}${before ? ` (was ${before.slice(0, 12)})` : ''}`);
  return { before, head, changed: true };
}

export interface MirrorRestoreResult {
  /** restored: the mirror was filled from the host; would-restore: check mode */
  action: 'none' | 'restored' | 'would-restore';
  /** the host's head, when restored or to be restored */
  head?: string;
}

/** The mirror's head on the branch; '' when the mirror is missing or has no commit there. */
async function mirrorHead(localRepo: string, branch: string): Promise<string> {
  if (!existsSync(path.join(localRepo, 'objects'))) return '';
  return (
    await git(['rev-parse', '--verify', '-q', `refs/heads/${branch}^{commit}`], { gitDir: localRepo, okCodes: [1, 128] })
  ).stdout.trim();
}

/**
 * A local mirror that was lost (new control machine, `.clusterseed/` deleted) while the host's
 * repository survives would otherwise get a new root commit and the host would refuse it: fill it
 * from the host first (a bundle made there as the git user, downloaded over SFTP, removed there,
 * fetched here). Only a mirror with no commit on the branch is restored; one with history is left
 * to syncHostRepo (which refuses a host head it does not know).
 */
export async function restoreMirror(opts: {
  localRepo: string;
  target: HostRepoTarget;
  check: boolean;
  log: Logger;
}): Promise<MirrorRestoreResult> {
  const { target: t, log } = opts;
  if (await mirrorHead(opts.localRepo, t.branch)) return { action: 'none' };
  const host = await hostHead(t);
  if (!host) return { action: 'none' };
  const where = `${t.conn.host.name}:${t.repoPath}`;
  if (opts.check) {
    log.info(
      `gitops: would restore the local mirror ${opts.localRepo} from ${where} at ${host.slice(0, 12)} (check mode: nothing changed)`,
    );
    return { action: 'would-restore', head: host };
  }
  const remote = `${t.home}/.clusterseed-${randomBytes(8).toString('hex')}.bundle`;
  let bundle: Buffer;
  try {
    const made = await t.conn.exec(`umask 077; ${asUser(t, `bundle create -q ${q(remote)} ${q(`refs/heads/${t.branch}`)}`)}`, {
      become: true,
      timeoutMs: 300_000,
    });
    if (made.code !== 0)
      throw new Error(
        `bundling ${where} for the local mirror failed (exit ${made.code}): ${made.stderr.trim().split('\n').slice(-3).join(' ')}`,
      );
    bundle = await t.conn.download(remote, { become: true });
  } finally {
    await t.conn.exec(`rm -f ${q(remote)}`, { become: true, timeoutMs: 60_000 });
  }
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'clusterseed-restore-'));
  try {
    const file = path.join(tmp, 'gitops.bundle');
    await writeFile(file, bundle, { mode: 0o600 });
    if (!existsSync(path.join(opts.localRepo, 'objects'))) {
      await mkdir(path.dirname(opts.localRepo), { recursive: true });
      await git(['init', '--bare', '-q', '--initial-branch', t.branch, opts.localRepo]);
    }
    const ref = `refs/heads/${t.branch}`;
    await git(['fetch', '-q', file, `${ref}:${ref}`], { gitDir: opts.localRepo, timeoutMs: 300_000 });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const head = await mirrorHead(opts.localRepo, t.branch);
  if (head !== host)
    throw new Error(
      `the local mirror ${opts.localRepo} is at ${head.slice(0, 12) || 'no commit'} after restoring it from ${where}, not at ${host.slice(0, 12)}`,
    );
  log.info(`gitops: restored the local mirror from ${where} at ${head.slice(0, 12)}`);
  return { action: 'restored', head };
}
