// Publishing to any git remote (Gitea, GitLab, a bare repository on disk...) with the `git` CLI.
// A private bare cache under <workDir>/.clusterseed/publish-cache/ holds the fetched head; the new
// tree and commit are written there as objects (no checkout, no index) and pushed without force,
// so the remote itself enforces fast-forward only.
import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { basicAuthEnv, git, GitCommandError } from './git-cli.ts';
import { writeObjects, type FileMode, type TreeFile } from './git-objects.ts';
import { loadDesiredFiles, type DesiredFile } from './files.ts';
import { PublishConflictError, reconcile, toPlan, type BranchHead, type PublishPlan, type Reconciled } from './plan.ts';
import { maskSecrets, redactUrl, urlSecrets } from '../report/mask.ts';
import { loadPublishedState, savePublishedState, STATE_DIR } from './state.ts';
import { DEFAULT_AUTHOR, DEFAULT_BRANCH, DEFAULT_MESSAGE, silentLogger, type PublishCommon, type PublishResult } from './types.ts';

export interface RemotePublishOptions extends PublishCommon {
  /** anything `git push` accepts: https://..., ssh://..., git@host:path, /path/to/bare.git */
  url: string;
  /** https basic auth (a token as password) for fetch and push, sent in a header (credentials.ts) */
  auth?: { username: string; password: string };
}

/** The default target when neither a token nor a remote is configured: no account needed. */
export function localBareRepoPath(workDir: string): string {
  return path.join(path.resolve(workDir), STATE_DIR, 'gitops.git');
}

/** Creates the local bare repository if missing; true when it was created now. */
export async function ensureLocalBareRepo(workDir: string, branch = DEFAULT_BRANCH): Promise<boolean> {
  const dir = localBareRepoPath(workDir);
  if (await isDir(path.join(dir, 'objects'))) return false;
  await mkdir(path.dirname(dir), { recursive: true });
  await git(['init', '--bare', '-q', '--initial-branch', branch, dir]);
  return true;
}

export async function publishToRemote(opts: RemotePublishOptions): Promise<PublishResult> {
  return publishRemote(opts, false);
}

/** Publishes to the local bare repository under the working folder, creating it if needed. */
export async function publishToLocalBare(opts: PublishCommon): Promise<PublishResult> {
  const created = await ensureLocalBareRepo(opts.workDir, opts.branch ?? DEFAULT_BRANCH);
  return publishRemote({ ...opts, url: localBareRepoPath(opts.workDir) }, created);
}

/** What a publish would do, without pushing or recording anything (the cache may be refreshed). */
export async function planRemotePublish(opts: RemotePublishOptions): Promise<PublishPlan> {
  const desired = await loadDesiredFiles(opts.files);
  const ctx = remoteContext(opts);
  const head = await readRemoteHead(ctx);
  return toPlan(reconcile({ desired, head, last: await loadPublishedState(opts.workDir, ctx.target) }));
}

export async function planLocalBarePublish(opts: PublishCommon): Promise<PublishPlan> {
  const url = localBareRepoPath(opts.workDir);
  if (!(await isDir(path.join(url, 'objects')))) {
    const desired = await loadDesiredFiles(opts.files);
    return toPlan(reconcile({ desired, head: null, last: null }));
  }
  return planRemotePublish({ ...opts, url });
}

interface RemoteContext {
  url: string;
  branch: string;
  /** the key of this target in the state file, free of credentials */
  target: string;
  cacheDir: string;
  secrets: string[];
  /** git's environment for commands that talk to the remote (auth header) */
  env: Record<string, string>;
  authenticated: boolean;
  authorEmail: string;
  workDir: string;
}

function remoteContext(opts: RemotePublishOptions): RemoteContext {
  const branch = opts.branch ?? DEFAULT_BRANCH;
  const shown = redactUrl(opts.url);
  const target = `git:${shown}#${branch}`;
  const cacheKey = createHash('sha256').update(target).digest('hex').slice(0, 16);
  const auth = opts.auth ? basicAuthEnv(opts.auth) : { env: {}, secrets: [] };
  return {
    url: opts.url,
    branch,
    target,
    cacheDir: path.join(path.resolve(opts.workDir), STATE_DIR, 'publish-cache', `${cacheKey}.git`),
    secrets: [...urlSecrets(opts.url), ...auth.secrets],
    env: auth.env,
    authenticated: !!opts.auth,
    authorEmail: (opts.author ?? DEFAULT_AUTHOR).email,
    workDir: opts.workDir,
  };
}

async function publishRemote(opts: RemotePublishOptions, created: boolean): Promise<PublishResult> {
  const log = opts.log ?? silentLogger;
  const desired = await loadDesiredFiles(opts.files);
  const ctx = remoteContext(opts);
  const shown = redactUrl(opts.url);
  const remote = isUrl(opts.url) ? shown : pathToFileURL(path.resolve(opts.url)).href;
  const last = await loadPublishedState(opts.workDir, ctx.target);

  // Two attempts: a push rejected as non-fast-forward means the branch moved while we worked;
  // re-read it, re-check someone else's changes, and rebuild on top once.
  for (let attempt = 1; ; attempt++) {
    const head = await readRemoteHead(ctx);
    const plan = reconcile({ desired, head, last });
    if (plan.conflicts.length && !opts.force) throw new PublishConflictError(shown, plan.conflicts, plan.foreignChanges);
    if (plan.foreignChanges.length) log.warn(`${shown}: changed by someone else since the last publish: ${plan.foreignChanges.join(', ')}`);
    const overwritten = opts.force ? plan.conflicts : [];

    if (plan.unchanged && head) {
      await savePublishedState(opts.workDir, ctx.target, head, desired);
      log.verbose(`${shown} ${ctx.branch}: unchanged (${head.commit.slice(0, 12)})`);
      return {
        commit: head.commit,
        created,
        unchanged: true,
        foreignChanges: plan.foreignChanges,
        overwritten,
        remote,
        added: [],
        changed: [],
        removed: [],
      };
    }

    const commit = await writeCommit(ctx, plan, desired, head, opts);
    const pushed = await push(ctx, commit);
    if (pushed) {
      await savePublishedState(opts.workDir, ctx.target, { commit, tree: plan.treeSha }, desired);
      log.info(
        `${shown} ${ctx.branch}: committed ${commit.slice(0, 12)} (+${plan.added.length} ~${plan.changed.length} -${plan.removed.length})`,
      );
      const { added, changed, removed } = plan;
      return { commit, created, unchanged: false, foreignChanges: plan.foreignChanges, overwritten, remote, added, changed, removed };
    }
    if (attempt >= 2)
      throw new Error(`publish to ${shown} ${ctx.branch}: the branch keeps moving (push rejected twice as non-fast-forward)`);
    log.warn(`${shown} ${ctx.branch}: moved during the publish; rebuilding on the new head`);
  }
}

async function ensureCache(ctx: RemoteContext): Promise<void> {
  if (await isDir(path.join(ctx.cacheDir, 'objects'))) return;
  await mkdir(path.dirname(ctx.cacheDir), { recursive: true });
  await git(['init', '--bare', '-q', ctx.cacheDir]);
}

/** The remote branch's head, fetched into the cache; null when the branch does not exist. */
async function readRemoteHead(ctx: RemoteContext): Promise<BranchHead | null> {
  const ref = `refs/heads/${ctx.branch}`;
  const ls = await git(['ls-remote', '--exit-code', ctx.url, ref], { env: ctx.env, secrets: ctx.secrets, okCodes: [2] }).catch((e) => {
    // with a token, git's own words for a 401 ("could not read Username ... terminal prompts disabled") mislead
    if (ctx.authenticated && e instanceof GitCommandError && /could not read Username|Authentication failed|\b401\b/.test(e.stderr)) {
      throw new GitCommandError(
        `${redactUrl(ctx.url)} refused the token (HTTP 401): check that it is valid and may read and push this repository`,
        e.code,
        e.stderr,
      );
    }
    throw e;
  });
  if (ls.code === 2) return null;
  const commit = ls.stdout.split('\t')[0].trim();
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error(`git ls-remote ${redactUrl(ctx.url)}: unexpected answer`);
  await ensureCache(ctx);
  const have = await git(['cat-file', '-e', `${commit}^{commit}`], { gitDir: ctx.cacheDir, okCodes: [1, 128] });
  if (have.code !== 0) {
    await git(['fetch', '-q', '--no-tags', ctx.url, `+${ref}:refs/clusterseed/head`], {
      gitDir: ctx.cacheDir,
      env: ctx.env,
      secrets: ctx.secrets,
    });
  }
  // the raw commit object: no user config (signatures, formats) can change what we parse
  const raw = (await git(['cat-file', 'commit', commit], { gitDir: ctx.cacheDir })).stdout;
  const headers = raw.slice(0, raw.indexOf('\n\n')).split('\n');
  const tree = headers.find((h) => h.startsWith('tree '))!.slice(5);
  const email = /^author .* <([^>]*)> \d+ [+-]\d{4}$/.exec(headers.find((h) => h.startsWith('author ')) ?? '')?.[1];
  return { commit, tree, files: await listTree(ctx.cacheDir, commit), authoredByUs: email === ctx.authorEmail };
}

async function listTree(gitDir: string, commit: string): Promise<Map<string, TreeFile>> {
  const out = await git(['ls-tree', '-r', '-z', '--full-tree', commit], { gitDir });
  const files = new Map<string, TreeFile>();
  for (const rec of out.stdout.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, , sha] = rec.slice(0, tab).split(' ');
    files.set(rec.slice(tab + 1), { mode: mode as FileMode, sha });
  }
  return files;
}

async function writeCommit(
  ctx: RemoteContext,
  plan: Reconciled,
  desired: Map<string, DesiredFile>,
  head: BranchHead | null,
  opts: RemotePublishOptions,
): Promise<string> {
  await ensureCache(ctx);
  const { tree } = await writeObjects(
    ctx.cacheDir,
    plan.files,
    [...desired.values()].map((f) => f.content),
  );
  const who = opts.author ?? DEFAULT_AUTHOR;
  const env = {
    GIT_AUTHOR_NAME: who.name,
    GIT_AUTHOR_EMAIL: who.email,
    GIT_COMMITTER_NAME: who.name,
    GIT_COMMITTER_EMAIL: who.email,
  };
  const parents = head ? ['-p', head.commit] : [];
  const out = await git(['commit-tree', '--no-gpg-sign', tree, ...parents, '-F', '-'], {
    gitDir: ctx.cacheDir,
    env,
    input: (opts.message ?? DEFAULT_MESSAGE) + '\n',
  });
  return out.stdout.trim();
}

/** Pushes without force. false when rejected as not a fast-forward; other failures throw. */
async function push(ctx: RemoteContext, commit: string): Promise<boolean> {
  const args = ['push', '--porcelain', ctx.url, `${commit}:refs/heads/${ctx.branch}`];
  const res = await git(args, { gitDir: ctx.cacheDir, env: ctx.env, secrets: ctx.secrets, okCodes: [1] });
  if (res.code === 0) return true;
  // porcelain status line "!<TAB>src:dst<TAB>[rejected] (fetch first|non-fast-forward)": the remote
  // had moved before our push began; "cannot lock ref ... is at X but expected Y": it moved while
  // the push was in flight. Both mean "re-read and rebuild".
  const rejected = res.stdout.split('\n').some((l) => l.startsWith('!') && /\[rejected\].*(fetch first|non-fast-forward)/.test(l));
  const raced = /cannot lock ref '[^']+': is at [0-9a-f]+ but expected/.test(res.stderr);
  if (rejected || raced) return false;
  const why = maskSecrets(`${res.stderr}\n${res.stdout}`.trim(), ctx.secrets);
  throw new GitCommandError(`git push to ${redactUrl(ctx.url)} failed: ${why}`, res.code, res.stderr);
}

function isUrl(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || /^[^/]+@[^/:]+:/.test(s);
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}
