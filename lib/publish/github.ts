// Publishing the rendered repository to GitHub through its REST API (@octokit/rest), as ONE commit
// per publish: the whole tree is sent without base_tree (so files we stopped rendering disappear),
// committed on top of the branch head and the ref moved without force (fast-forward only).
//
// GitHub specifics handled here:
//   * the repository is created when missing, for a user or an organisation, private by default;
//   * a new repository's endpoints answer 404 for a moment (bounded retry, see github-api.ts);
//   * an empty repository answers 409 "Git Repository is empty." to every git-data endpoint: the
//     first file goes in through the contents API, then the real tree is committed WITHOUT parent
//     and the ref forced onto it, so the history starts with exactly one commit of ours;
//   * a 422 on the ref update (not a fast-forward: someone pushed meanwhile) re-reads the head,
//     re-checks their changes and retries once.
import { registerSecret } from '../report/mask.ts';
import type { Logger } from '../runner/types.ts';
import { ensureDeployKey, type DeployKeyResult } from './deploy-key.ts';
import { isUtf8Text, loadDesiredFiles, type DesiredFile } from './files.ts';
import { treeSha, type FileMode, type TreeFile } from './git-objects.ts';
import { RepoApi, type ReadinessOptions } from './github-api.ts';
import { createGitHubClient, GitHubApiError, type GitHubClientOptions } from './github-client.ts';
import { PublishConflictError, reconcile, toPlan, type BranchHead, type PublishPlan, type Reconciled } from './plan.ts';
import { loadPublishedState, savePublishedState } from './state.ts';
import { DEFAULT_AUTHOR, DEFAULT_BRANCH, DEFAULT_MESSAGE, silentLogger, type PublishCommon, type PublishResult } from './types.ts';

export interface GitHubPublishOptions extends PublishCommon {
  owner: string;
  repo: string;
  /** true: owner is an organisation; false: the token's user; unset: asked from GET /users/{owner} */
  org?: boolean;
  /** visibility of a repository we create (default true) */
  private?: boolean;
  description?: string;
  /** default: GITHUB_TOKEN from the environment */
  token?: string;
  /** API root (GitHub Enterprise, or a local stand-in in tests) */
  baseUrl?: string;
  /** register a read-only deploy key with this title (default "clusterseed-argocd"); false: none */
  deployKey?: { title?: string } | false;
  /** retry/throttle tuning (tests shrink the delays) */
  client?: Omit<GitHubClientOptions, 'token' | 'baseUrl' | 'log'>;
  readiness?: ReadinessOptions;
}

export interface GitHubPublishResult extends PublishResult {
  deployKey?: DeployKeyResult;
  /** https clone URL, for humans and tokens; `remote` is the ssh URL the deploy key works with */
  cloneUrl: string;
}

export const DEFAULT_DEPLOY_KEY_TITLE = 'clusterseed-argocd';

interface Session {
  api: RepoApi;
  branch: string;
  target: string;
  log: Logger;
  author: { name: string; email: string };
}

function tokenOf(opts: { token?: string }): string {
  const token = opts.token ?? process.env.GITHUB_TOKEN ?? '';
  if (!token) throw new Error('publish to GitHub: no token (set GITHUB_TOKEN, or publish to a git remote instead)');
  registerSecret(token); // the run-wide logger and report mask it too
  return token;
}

function openSession(opts: GitHubPublishOptions, token: string): Session {
  const log = opts.log ?? silentLogger;
  const octokit = createGitHubClient({ token, baseUrl: opts.baseUrl, log, ...opts.client });
  const branch = opts.branch ?? DEFAULT_BRANCH;
  return {
    api: new RepoApi(octokit, opts.owner, opts.repo, token, log, opts.readiness),
    branch,
    target: `github:${opts.owner}/${opts.repo}#${branch}`.toLowerCase(),
    log,
    author: opts.author ?? DEFAULT_AUTHOR,
  };
}

interface RepoInfo {
  sshUrl: string;
  cloneUrl: string;
  private: boolean;
}

async function getRepo(s: Session): Promise<RepoInfo | null> {
  const { api } = s;
  try {
    const { data } = await api.call('get repository', () => api.octokit.rest.repos.get({ owner: api.owner, repo: api.repo }));
    return { sshUrl: data.ssh_url, cloneUrl: data.clone_url, private: data.private };
  } catch (e) {
    if (e instanceof GitHubApiError && e.status === 404) return null;
    throw e;
  }
}

/** Creates the repository under a user or an organisation. */
async function createRepo(s: Session, opts: GitHubPublishOptions): Promise<RepoInfo> {
  const { api } = s;
  const octokit = api.octokit;
  let isOrg = opts.org;
  if (isOrg === undefined) {
    const owner = await api.call(`look up owner ${api.owner}`, () => octokit.rest.users.getByUsername({ username: api.owner }));
    isOrg = owner.data.type === 'Organization';
  }
  const params = { name: api.repo, private: opts.private ?? true, description: opts.description, auto_init: false };
  try {
    const { data } = isOrg
      ? await api.call('create repository', () => octokit.rest.repos.createInOrg({ org: api.owner, ...params }))
      : await createForUser(s, params);
    s.log.info(`created ${data.private ? 'private' : 'public'} repository ${data.full_name}`);
    api.fresh = true;
    return { sshUrl: data.ssh_url, cloneUrl: data.clone_url, private: data.private };
  } catch (e) {
    // created by someone else between our check and our create
    if (e instanceof GitHubApiError && e.status === 422 && /already exists/.test(e.message)) {
      const repo = await getRepo(s);
      if (repo) return repo;
    }
    throw e;
  }
}

async function createForUser(s: Session, params: { name: string; private: boolean; description?: string; auto_init: boolean }) {
  const { api } = s;
  const me = await api.call('get authenticated user', () => api.octokit.rest.users.getAuthenticated());
  if (me.data.login.toLowerCase() !== api.owner.toLowerCase()) {
    throw new Error(
      `publish to GitHub: ${api.fullName} does not exist and cannot be created: the token belongs to ${me.data.login}, ` +
        `not ${api.owner} (for an organisation, set org: true or check the owner's name)`,
    );
  }
  return api.call('create repository', () => api.octokit.rest.repos.createForAuthenticatedUser(params));
}

type Head = { kind: 'empty' } | { kind: 'missing' } | { kind: 'branch'; head: BranchHead };

/** Reads the branch head; only fetches the full tree when it can differ from the render. */
async function readHead(s: Session, desiredTree: string): Promise<Head> {
  const { api } = s;
  const octokit = api.octokit;
  let commitSha: string;
  try {
    const ref = await api.call(`read branch ${s.branch}`, () =>
      octokit.rest.git.getRef({ owner: api.owner, repo: api.repo, ref: `heads/${s.branch}` }),
    );
    commitSha = ref.data.object.sha;
  } catch (e) {
    if (e instanceof GitHubApiError && e.status === 409) return { kind: 'empty' };
    if (e instanceof GitHubApiError && e.status === 404) return { kind: 'missing' };
    throw e;
  }
  const commit = await api.call('read head commit', () =>
    octokit.rest.git.getCommit({ owner: api.owner, repo: api.repo, commit_sha: commitSha }),
  );
  const tree = commit.data.tree.sha;
  const authoredByUs = commit.data.author?.email === s.author.email;
  if (tree === desiredTree) return { kind: 'branch', head: { commit: commitSha, tree, files: new Map(), authoredByUs } };
  const listing = await api.call('read head tree', () =>
    octokit.rest.git.getTree({ owner: api.owner, repo: api.repo, tree_sha: tree, recursive: 'true' }),
  );
  if (listing.data.truncated)
    throw new Error(`publish to GitHub: the tree of ${api.fullName} ${s.branch} is too large to list in one response`);
  const files = new Map<string, TreeFile>();
  for (const e of listing.data.tree) {
    if (e.type === 'tree' || !e.path || !e.sha || !e.mode) continue;
    files.set(e.path, { mode: e.mode as FileMode, sha: e.sha });
  }
  return { kind: 'branch', head: { commit: commitSha, tree, files, authoredByUs } };
}

async function headCommit(s: Session): Promise<string | null> {
  const { api } = s;
  try {
    const ref = await api.call(`read branch ${s.branch}`, () =>
      api.octokit.rest.git.getRef({ owner: api.owner, repo: api.repo, ref: `heads/${s.branch}` }),
    );
    return ref.data.object.sha;
  } catch (e) {
    if (e instanceof GitHubApiError && (e.status === 404 || e.status === 409)) return null;
    throw e;
  }
}

/** With the head's tree equal to the render, its files are the render's (nothing was listed). */
function withFiles(h: Head, desired: Map<string, DesiredFile>): BranchHead | null {
  if (h.kind !== 'branch') return null;
  if (h.head.files.size > 0 || h.head.tree !== treeSha(desired)) return h.head;
  return { ...h.head, files: new Map([...desired].map(([p, f]) => [p, { mode: f.mode, sha: f.sha }])) };
}

/** The empty-repository bootstrap: one real file through the contents API, so git data works. */
async function bootstrapEmptyRepo(s: Session, desired: Map<string, DesiredFile>): Promise<string> {
  const { api } = s;
  const [firstPath, first] = desired.entries().next().value as [string, DesiredFile];
  const who = { name: s.author.name, email: s.author.email };
  const res = await api.call('create first file (empty repository)', () =>
    api.octokit.rest.repos.createOrUpdateFileContents({
      owner: api.owner,
      repo: api.repo,
      path: firstPath,
      message: 'clusterseed: initialise repository',
      content: first.content.toString('base64'),
      branch: s.branch,
      author: who,
      committer: who,
    }),
  );
  const sha = res.data.commit.sha;
  if (!sha) throw new Error(`publish to GitHub: the contents API did not return a commit for ${api.fullName}`);
  s.log.verbose(`${api.fullName} was empty: initialised with ${firstPath}`);
  return sha;
}

/** Sends the complete tree; reuses blobs the head already has, uploads only binary content apart. */
async function createTree(s: Session, plan: Reconciled, desired: Map<string, DesiredFile>, head: BranchHead | null): Promise<string> {
  const { api } = s;
  const octokit = api.octokit;
  type Entry = { path: string; mode: FileMode; type: 'blob' | 'commit'; sha?: string; content?: string };
  const entries: Entry[] = [];
  for (const [p, f] of plan.files) {
    const type = f.mode === '160000' ? 'commit' : 'blob';
    const known = head?.files.get(p);
    const d = desired.get(p);
    if ((known && known.sha === f.sha) || !d) {
      entries.push({ path: p, mode: f.mode, type, sha: f.sha });
    } else if (isUtf8Text(d.content)) {
      entries.push({ path: p, mode: f.mode, type, content: d.content.toString('utf8') });
    } else {
      const blob = await api.call(`upload ${p}`, () =>
        octokit.rest.git.createBlob({ owner: api.owner, repo: api.repo, content: d.content.toString('base64'), encoding: 'base64' }),
      );
      if (blob.data.sha !== f.sha) throw new Error(`publish to GitHub: blob of ${p} came back as ${blob.data.sha}, expected ${f.sha}`);
      entries.push({ path: p, mode: f.mode, type, sha: f.sha });
    }
  }
  const res = await api.call('create tree', () => octokit.rest.git.createTree({ owner: api.owner, repo: api.repo, tree: entries }));
  if (res.data.sha !== plan.treeSha) {
    throw new Error(
      `publish to GitHub: ${api.fullName} built tree ${res.data.sha}, expected ${plan.treeSha}; content was altered in transit`,
    );
  }
  return res.data.sha;
}

async function createCommit(s: Session, tree: string, parents: string[], message: string): Promise<string> {
  const { api } = s;
  const author = { name: s.author.name, email: s.author.email, date: new Date().toISOString() };
  const res = await api.call('create commit', () =>
    api.octokit.rest.git.createCommit({ owner: api.owner, repo: api.repo, message, tree, parents, author, committer: author }),
  );
  return res.data.sha;
}

type RefOutcome = 'updated' | 'moved';

async function moveBranch(s: Session, commit: string, how: 'fast-forward' | 'create' | 'force'): Promise<RefOutcome> {
  const { api } = s;
  const octokit = api.octokit;
  try {
    if (how === 'create') {
      await api.call(`create branch ${s.branch}`, () =>
        octokit.rest.git.createRef({ owner: api.owner, repo: api.repo, ref: `refs/heads/${s.branch}`, sha: commit }),
      );
    } else {
      await api.call(`update branch ${s.branch}`, () =>
        octokit.rest.git.updateRef({ owner: api.owner, repo: api.repo, ref: `heads/${s.branch}`, sha: commit, force: how === 'force' }),
      );
    }
    return 'updated';
  } catch (e) {
    // 422: "Update is not a fast forward" / "Reference already exists": the branch moved under us
    if (e instanceof GitHubApiError && e.status === 422 && how !== 'force') return 'moved';
    throw e;
  }
}

export async function publishToGitHub(opts: GitHubPublishOptions): Promise<GitHubPublishResult> {
  const token = tokenOf(opts);
  const s = openSession(opts, token);
  const { api, log } = s;
  const desired = await loadDesiredFiles(opts.files);
  const desiredTree = treeSha(desired);

  let repo = await getRepo(s);
  const created = !repo;
  if (!repo) repo = await createRepo(s, opts);
  else if (!repo.private && opts.private !== false) log.warn(`${api.fullName} is public: the GitOps repository may hold cluster details`);

  const last = await loadPublishedState(opts.workDir, s.target);
  const message = opts.message ?? DEFAULT_MESSAGE;
  const finish = async (commit: string | undefined, plan: Reconciled, unchanged: boolean): Promise<GitHubPublishResult> => {
    let deployKey: DeployKeyResult | undefined;
    if (opts.deployKey !== false) {
      try {
        deployKey = await ensureDeployKey({ api, workDir: opts.workDir, title: opts.deployKey?.title ?? DEFAULT_DEPLOY_KEY_TITLE, log });
      } catch (e) {
        const done = unchanged ? `${api.fullName} is up to date` : `published ${commit}`;
        throw new Error(`${done}, but the deploy key could not be set up: ${(e as Error).message}`);
      }
    }
    return {
      commit,
      created,
      unchanged,
      foreignChanges: plan.foreignChanges,
      overwritten: opts.force ? plan.conflicts : [],
      added: unchanged ? [] : plan.added,
      changed: unchanged ? [] : plan.changed,
      removed: unchanged ? [] : plan.removed,
      remote: repo.sshUrl,
      cloneUrl: repo.cloneUrl,
      deployKey,
    };
  };

  for (let attempt = 1; ; attempt++) {
    const state = await readHead(s, desiredTree);
    const head = withFiles(state, desired);
    const plan = reconcile({ desired, head, last });
    if (plan.conflicts.length && !opts.force) throw new PublishConflictError(api.fullName, plan.conflicts, plan.foreignChanges);
    if (plan.foreignChanges.length)
      log.warn(`${api.fullName}: changed by someone else since the last publish: ${plan.foreignChanges.join(', ')}`);

    if (plan.unchanged && head) {
      await savePublishedState(opts.workDir, s.target, head, desired);
      log.verbose(`${api.fullName} ${s.branch}: unchanged (${head.commit.slice(0, 12)})`);
      return finish(head.commit, plan, true);
    }

    let outcome: RefOutcome;
    let commit: string;
    if (state.kind === 'empty') {
      const bootstrap = await bootstrapEmptyRepo(s, desired);
      const tree = await createTree(s, plan, desired, null);
      commit = await createCommit(s, tree, [], message);
      // Force only over our own bootstrap commit: anything else on the branch means someone raced us.
      outcome = (await headCommit(s)) === bootstrap ? await moveBranch(s, commit, 'force') : 'moved';
    } else {
      const tree = await createTree(s, plan, desired, head);
      commit = await createCommit(s, tree, head ? [head.commit] : [], message);
      outcome = await moveBranch(s, commit, head ? 'fast-forward' : 'create');
    }
    if (outcome === 'updated') {
      await savePublishedState(opts.workDir, s.target, { commit, tree: plan.treeSha }, desired);
      log.info(
        `${api.fullName} ${s.branch}: committed ${commit.slice(0, 12)} (+${plan.added.length} ~${plan.changed.length} -${plan.removed.length})`,
      );
      return finish(commit, plan, false);
    }
    if (attempt >= 2)
      throw new Error(`publish to ${api.fullName} ${s.branch}: the branch keeps moving (ref update refused twice as not a fast-forward)`);
    log.warn(`${api.fullName} ${s.branch}: moved during the publish; rebuilding on the new head`);
  }
}

export interface GitHubPlan extends PublishPlan {
  /** false when the repository does not exist yet (the publish would create it) */
  repoExists: boolean;
}

/** What publishToGitHub would do, with read-only calls and nothing recorded. */
export async function planGitHubPublish(opts: GitHubPublishOptions): Promise<GitHubPlan> {
  const token = tokenOf(opts);
  const s = openSession(opts, token);
  const desired = await loadDesiredFiles(opts.files);
  const repo = await getRepo(s);
  const last = await loadPublishedState(opts.workDir, s.target);
  if (!repo) return { ...toPlan(reconcile({ desired, head: null, last })), repoExists: false };
  const head = withFiles(await readHead(s, treeSha(desired)), desired);
  return { ...toPlan(reconcile({ desired, head, last })), repoExists: true };
}
