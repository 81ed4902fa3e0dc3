// A local stand-in for the GitHub REST endpoints clusterseed's publish uses, on 127.0.0.1 with a
// random port. Every repository is a REAL bare git repository on disk, written with git's own
// plumbing (hash-object, update-index/write-tree, commit-tree, update-ref), so a test can check the
// result with `git clone file://...` and push "someone else's" commits straight into it.
//
// Documented GitHub behaviours reproduced here:
//   * 401 "Bad credentials" without a known token (`Authorization: token X` or `Bearer X`);
//   * 409 "Git Repository is empty." from every /git/ endpoint until the repository has a commit
//     (the contents API works on an empty repository and is how the first commit gets in);
//   * 404 on a new repository's endpoints for the first N requests after creation (`notReadyAfterCreate`);
//   * 422 "Update is not a fast forward" on PATCH .../git/refs/... without force;
//   * injected faults (`inject`): e.g. 403 secondary rate limit with retry-after, 5xx.
// Tests must change repositories on disk directly (git push to repoPath), not through this server
// from inside a hook: requests are handled one at a time.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../lib/process/index.ts';

/** A request's JSON body: the handlers read it field by field, unchecked, as the tests send it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON of many shapes; typing each route's body would restate GitHub's API here
type RequestBody = any;
export interface GitHubServerOptions {
  /** token → login of the user it authenticates */
  tokens: Record<string, string>;
  /** organisation → logins of its members */
  orgs?: Record<string, string[]>;
  /** a new repository answers 404 to this many requests after its creation */
  notReadyAfterCreate?: number;
  /** where the bare repositories live; a temporary folder (removed on close) by default */
  dataDir?: string;
}

export interface Fault {
  method?: string;
  /** matched against the request path (no query): substring or RegExp */
  path?: string | RegExp;
  status: number;
  message?: string;
  headers?: Record<string, string>;
  /** how many matching requests get the fault (default 1) */
  times?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
}

interface DeployKey {
  id: number;
  title: string;
  key: string;
  read_only: boolean;
  created_at: string;
}

interface RepoMeta {
  id: number;
  owner: string;
  ownerType: 'User' | 'Organization';
  name: string;
  private: boolean;
  description: string | null;
  defaultBranch: string;
  notReadyLeft: number;
  keys: DeployKey[];
  dir: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const EMPTY = 'Git Repository is empty.';
const SHA_RE = /^[0-9a-f]{40}$/;

interface GitOut {
  stdout: string;
  code: number;
  stderr: string;
}

async function runGit(
  gitDir: string,
  args: string[],
  opts: { input?: string | Buffer; env?: Record<string, string>; ok?: number[] } = {},
): Promise<GitOut> {
  const env = { ...process.env, GIT_DIR: gitDir, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', ...opts.env };
  const r = await run(['git', ...args], { env, input: opts.input });
  if (r.code !== 0 && !(opts.ok ?? []).includes(r.code)) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr, code: r.code };
}

async function gitBuffer(gitDir: string, args: string[]): Promise<Buffer> {
  const r = await run(['git', ...args], { env: { ...process.env, GIT_DIR: gitDir }, noStdin: true, check: true });
  return r.stdoutBytes;
}

interface Identity {
  name: string;
  email: string;
  date: string;
}

function parseIdentity(line: string): Identity {
  const m = /^(.*) <([^>]*)> (\d+) ([+-]\d{4})$/.exec(line);
  if (!m) return { name: line, email: '', date: '' };
  return { name: m[1], email: m[2], date: new Date(Number(m[3]) * 1000).toISOString().replace('.000Z', 'Z') };
}

export class GitHubServer {
  readonly requests: RecordedRequest[] = [];
  /** called before a PATCH of a ref is checked: lets a test move the branch "concurrently" */
  beforeRefUpdate?: (repo: { owner: string; name: string; dir: string }, ref: string) => void | Promise<void>;
  private faults: Fault[] = [];
  private repos = new Map<string, RepoMeta>();
  private nextId = 1000;
  private queue: Promise<unknown> = Promise.resolve();
  private server!: Server;
  private ownsDataDir: boolean;
  readonly dataDir: string;
  url = '';

  private constructor(private opts: GitHubServerOptions) {
    this.ownsDataDir = !opts.dataDir;
    this.dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'clusterseed-ghserver-'));
  }

  static async start(opts: GitHubServerOptions): Promise<GitHubServer> {
    const s = new GitHubServer(opts);
    s.server = createServer((req, res) => {
      // one request at a time: ref updates and tree writes never interleave
      s.queue = s.queue.then(() => s.handle(req, res)).catch(() => {});
    });
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections?.();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  inject(fault: Fault): void {
    if (fault.times !== undefined && fault.times < 1) throw new Error('inject: times must be at least 1');
    this.faults.push({ times: 1, ...fault });
  }

  /** path of the bare repository behind owner/name */
  repoPath(owner: string, name: string): string {
    return path.join(this.dataDir, owner.toLowerCase(), `${name.toLowerCase()}.git`);
  }

  hasRepo(owner: string, name: string): boolean {
    return this.repos.has(`${owner}/${name}`.toLowerCase());
  }

  deployKeys(owner: string, name: string): DeployKey[] {
    return [...(this.repos.get(`${owner}/${name}`.toLowerCase())?.keys ?? [])];
  }

  /** how many recorded requests match method and path */
  count(method: string, pathRe: RegExp): number {
    return this.requests.filter((r) => r.method === method && pathRe.test(r.path)).length;
  }

  /** creates a repository directly (a pre-existing one), optionally with an initial README commit */
  async createRepo(owner: string, name: string, opts: { autoInit?: boolean; private?: boolean } = {}): Promise<string> {
    const ownerType = this.opts.orgs?.[owner] ? 'Organization' : 'User';
    const meta = await this.makeRepo(
      owner,
      ownerType,
      name,
      { private: opts.private ?? true, auto_init: opts.autoInit ?? false },
      owner,
      0,
    );
    return meta.dir;
  }

  // ---------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    let status = 500;
    try {
      const body = await readBody(req);
      const login = this.authenticate(req);
      this.applyFault(method, url.pathname);
      const out = await this.route(method, url, body, login);
      status = out.status;
      send(res, out.status, out.body, out.headers);
    } catch (e) {
      const err = e instanceof HttpError ? e : new HttpError(500, `stand-in server error: ${(e as Error).message}`);
      status = err.status;
      send(res, err.status, { message: err.message, ...err.extra }, err.headers);
    } finally {
      this.requests.push({ method, path: safeDecode(url.pathname), status });
    }
  }

  private authenticate(req: IncomingMessage): string {
    const header = req.headers.authorization ?? '';
    const m = /^(?:token|bearer)\s+(\S+)$/i.exec(header);
    if (!m) throw new HttpError(401, 'Requires authentication');
    const login = this.opts.tokens[m[1]];
    if (!login) throw new HttpError(401, 'Bad credentials');
    return login;
  }

  private applyFault(method: string, pathname: string): void {
    const i = this.faults.findIndex(
      (f) =>
        (!f.method || f.method.toUpperCase() === method) &&
        (!f.path || (typeof f.path === 'string' ? pathname.includes(f.path) : f.path.test(pathname))),
    );
    if (i < 0) return;
    const f = this.faults[i];
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) this.faults.splice(i, 1);
    throw new HttpError(f.status, f.message ?? `injected ${f.status}`, {}, f.headers ?? {});
  }

  private async route(method: string, url: URL, body: RequestBody, login: string): Promise<Reply> {
    const p = url.pathname.replace(/\/+$/, '');
    let m: RegExpExecArray | null;
    if (method === 'GET' && p === '/user') return ok({ login, id: idOf(login), type: 'User' });
    if (method === 'GET' && (m = /^\/users\/([^/]+)$/.exec(p))) return this.getOwner(decodeURIComponent(m[1]));
    if (method === 'POST' && p === '/user/repos') return this.createRepoRoute(login, 'User', login, body);
    if (method === 'POST' && (m = /^\/orgs\/([^/]+)\/repos$/.exec(p))) {
      const org = decodeURIComponent(m[1]);
      const members = this.opts.orgs?.[org];
      if (!members) throw new HttpError(404, 'Not Found');
      if (!members.includes(login)) throw new HttpError(403, 'You need admin access to the organization before adding a repository to it.');
      return this.createRepoRoute(org, 'Organization', login, body);
    }
    if ((m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(p))) {
      const repo = this.repoFor(decodeURIComponent(m[1]), decodeURIComponent(m[2]), login);
      return this.repoRoute(method, repo, m[3] ?? '', url, body, login);
    }
    throw new HttpError(404, 'Not Found');
  }

  private getOwner(name: string): Reply {
    const org = Object.keys(this.opts.orgs ?? {}).find((o) => o.toLowerCase() === name.toLowerCase());
    if (org) return ok({ login: org, id: idOf(org), type: 'Organization' });
    const user = Object.values(this.opts.tokens).find((u) => u.toLowerCase() === name.toLowerCase());
    if (user) return ok({ login: user, id: idOf(user), type: 'User' });
    throw new HttpError(404, 'Not Found');
  }

  private repoFor(owner: string, name: string, login: string): RepoMeta {
    const repo = this.repos.get(`${owner}/${name}`.toLowerCase());
    if (!repo) throw new HttpError(404, 'Not Found');
    const allowed = repo.owner === login || (this.opts.orgs?.[repo.owner] ?? []).includes(login) || !repo.private;
    if (!allowed) throw new HttpError(404, 'Not Found');
    // GitHub's replication lag right after creation
    if (repo.notReadyLeft > 0) {
      repo.notReadyLeft--;
      throw new HttpError(404, 'Not Found');
    }
    return repo;
  }

  private async createRepoRoute(owner: string, ownerType: RepoMeta['ownerType'], login: string, body: RequestBody): Promise<Reply> {
    const name = String(body?.name ?? '');
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(name) || name === '.' || name === '..') {
      throw new HttpError(422, 'Repository creation failed.', {
        errors: [{ resource: 'Repository', code: 'custom', field: 'name', message: 'name is invalid' }],
      });
    }
    if (this.repos.has(`${owner}/${name}`.toLowerCase())) {
      throw new HttpError(422, 'Repository creation failed.', {
        errors: [{ resource: 'Repository', code: 'custom', field: 'name', message: 'name already exists on this account' }],
      });
    }
    const meta = await this.makeRepo(owner, ownerType, name, body ?? {}, login, this.opts.notReadyAfterCreate ?? 0);
    return { status: 201, body: this.repoJson(meta) };
  }

  private async makeRepo(
    owner: string,
    ownerType: RepoMeta['ownerType'],
    name: string,
    body: RequestBody,
    login: string,
    notReady: number,
  ): Promise<RepoMeta> {
    const dir = this.repoPath(owner, name);
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    mkdirSync(path.dirname(dir), { recursive: true });
    const defaultBranch = 'main';
    await runGit(dir, ['init', '--bare', '-q', '--initial-branch', defaultBranch, dir]);
    const meta: RepoMeta = {
      id: this.nextId++,
      owner,
      ownerType,
      name,
      // GitHub's own default is public; callers say what they want
      private: body.private === true || body.visibility === 'private',
      description: body.description ?? null,
      defaultBranch,
      notReadyLeft: notReady,
      keys: [],
      dir,
    };
    this.repos.set(`${owner}/${name}`.toLowerCase(), meta);
    if (body.auto_init) {
      const blob = await this.writeBlob(meta, Buffer.from(`# ${name}\n`));
      const tree = await this.writeTree(meta, null, [{ path: 'README.md', mode: '100644', sha: blob }]);
      const commit = await this.commitTree(meta, tree, [], 'Initial commit', { name: login, email: `${login}@users.noreply.localhost` });
      await runGit(dir, ['update-ref', `refs/heads/${defaultBranch}`, commit]);
    }
    return meta;
  }

  private repoJson(r: RepoMeta) {
    return {
      id: r.id,
      name: r.name,
      full_name: `${r.owner}/${r.name}`,
      private: r.private,
      visibility: r.private ? 'private' : 'public',
      description: r.description,
      owner: { login: r.owner, id: idOf(r.owner), type: r.ownerType },
      default_branch: r.defaultBranch,
      html_url: `${this.url}/${r.owner}/${r.name}`,
      clone_url: `${this.url}/${r.owner}/${r.name}.git`,
      ssh_url: `git@127.0.0.1:${r.owner}/${r.name}.git`,
    };
  }

  private async isEmpty(r: RepoMeta): Promise<boolean> {
    const refs = await runGit(r.dir, ['for-each-ref', '--count=1', '--format=%(refname)']);
    return refs.stdout.trim() === '';
  }

  private async repoRoute(method: string, r: RepoMeta, rest: string, url: URL, body: RequestBody, login: string): Promise<Reply> {
    let m: RegExpExecArray | null;
    if (rest === '' && method === 'GET') return ok(this.repoJson(r));
    if (rest === '/keys' && method === 'GET') return this.listKeys(r, url);
    if (rest === '/keys' && method === 'POST') return this.addKey(r, body);
    if ((m = /^\/keys\/(\d+)$/.exec(rest)) && method === 'DELETE') {
      const i = r.keys.findIndex((k) => k.id === Number(m![1]));
      if (i < 0) throw new HttpError(404, 'Not Found');
      r.keys.splice(i, 1);
      return { status: 204, body: null };
    }
    if ((m = /^\/contents\/(.+)$/.exec(rest)) && method === 'PUT') return this.putContents(r, decodeURIComponent(m[1]), body, login);
    if (rest.startsWith('/git/')) {
      if (await this.isEmpty(r)) throw new HttpError(409, EMPTY);
      return this.gitRoute(method, r, rest.slice(4), url, body, login);
    }
    throw new HttpError(404, 'Not Found');
  }

  private async gitRoute(method: string, r: RepoMeta, rest: string, url: URL, body: RequestBody, login: string): Promise<Reply> {
    let m: RegExpExecArray | null;
    if (rest === '/blobs' && method === 'POST') {
      if (typeof body?.content !== 'string') throw new HttpError(422, 'Invalid request.\n\n"content" wasn\'t supplied.');
      const enc = body.encoding ?? 'utf-8';
      if (enc !== 'utf-8' && enc !== 'base64') throw new HttpError(422, `encoding must be utf-8 or base64`);
      const sha = await this.writeBlob(r, Buffer.from(body.content, enc === 'base64' ? 'base64' : 'utf8'));
      return { status: 201, body: { sha, url: `${this.url}/repos/${r.owner}/${r.name}/git/blobs/${sha}` } };
    }
    if ((m = /^\/blobs\/([0-9a-f]{40})$/.exec(rest)) && method === 'GET') {
      await this.expectType(r, m[1], 'blob', 404);
      const content = await gitBuffer(r.dir, ['cat-file', 'blob', m[1]]);
      return ok({ sha: m[1], size: content.length, encoding: 'base64', content: content.toString('base64') });
    }
    if (rest === '/trees' && method === 'POST') return this.createTree(r, body);
    if ((m = /^\/trees\/(.+)$/.exec(rest)) && method === 'GET')
      return this.getTree(r, decodeURIComponent(m[1]), url.searchParams.get('recursive'));
    if (rest === '/commits' && method === 'POST') return this.createCommit(r, body, login);
    if ((m = /^\/commits\/([0-9a-f]{40})$/.exec(rest)) && method === 'GET') return ok(await this.commitJson(r, m[1]));
    if ((m = /^\/ref\/(.+)$/.exec(rest)) && method === 'GET') return ok(await this.refJson(r, `refs/${decodeURIComponent(m[1])}`));
    if (rest === '/refs' && method === 'POST') return this.createRef(r, body);
    if ((m = /^\/refs\/(.+)$/.exec(rest)) && method === 'PATCH') return this.updateRef(r, `refs/${decodeURIComponent(m[1])}`, body);
    throw new HttpError(404, 'Not Found');
  }

  // --- objects ----------------------------------------------------------------------------------

  private async writeBlob(r: RepoMeta, content: Buffer): Promise<string> {
    return (await runGit(r.dir, ['hash-object', '-w', '--stdin'], { input: content })).stdout.trim();
  }

  private async objectType(r: RepoMeta, sha: string): Promise<string | null> {
    if (!SHA_RE.test(sha)) return null;
    const out = await runGit(r.dir, ['cat-file', '-t', sha], { ok: [128, 1] });
    return out.code === 0 ? out.stdout.trim() : null;
  }

  private async expectType(r: RepoMeta, sha: string, type: string, status: number, message = 'Not Found'): Promise<void> {
    if ((await this.objectType(r, sha)) !== type) throw new HttpError(status, message);
  }

  /** Builds a tree from an optional base tree and entries (GitHub's create-tree semantics). */
  private async writeTree(
    r: RepoMeta,
    baseTree: string | null,
    entries: { path: string; mode: string; sha: string | null; type?: string }[],
  ): Promise<string> {
    const index = path.join(this.dataDir, `index-${randomUUID()}`);
    const env = { GIT_INDEX_FILE: index };
    try {
      await runGit(r.dir, baseTree ? ['read-tree', baseTree] : ['read-tree', '--empty'], { env });
      const present = new Set((await runGit(r.dir, ['ls-files', '-z'], { env })).stdout.split('\0').filter(Boolean));
      const lines: string[] = [];
      const removeUnder = (p: string) => {
        for (const f of present)
          if (f === p || f.startsWith(`${p}/`)) {
            lines.push(`0 ${'0'.repeat(40)}\t${f}`);
            present.delete(f);
          }
      };
      for (const e of entries) {
        if (e.sha === null) {
          const had = [...present].some((f) => f === e.path || f.startsWith(`${e.path}/`));
          if (!had) throw new HttpError(422, `GitRPC::BadObjectState: cannot delete ${e.path}: it does not exist`);
          removeUnder(e.path);
        } else if (e.mode === '040000' || e.type === 'tree') {
          removeUnder(e.path);
          const sub = await runGit(r.dir, ['ls-tree', '-r', '-z', e.sha]);
          for (const rec of sub.stdout.split('\0').filter(Boolean)) {
            const tab = rec.indexOf('\t');
            const [mode, , sha] = rec.slice(0, tab).split(' ');
            lines.push(`${mode} ${sha}\t${e.path}/${rec.slice(tab + 1)}`);
          }
        } else {
          removeUnder(e.path);
          lines.push(`${e.mode} ${e.sha}\t${e.path}`);
          present.add(e.path);
        }
      }
      if (lines.length)
        await runGit(r.dir, ['update-index', '--add', '--replace', '--index-info'], { env, input: lines.join('\n') + '\n' });
      return (await runGit(r.dir, ['write-tree'], { env })).stdout.trim();
    } finally {
      rmSync(index, { force: true });
    }
  }

  private async createTree(r: RepoMeta, body: RequestBody): Promise<Reply> {
    if (!Array.isArray(body?.tree)) throw new HttpError(422, 'Invalid request.\n\n"tree" wasn\'t supplied.');
    const base: string | null = body.base_tree ?? null;
    if (base !== null) await this.expectType(r, base, 'tree', 422, 'Invalid request: base_tree is not a valid tree');
    const entries = [];
    for (const e of body.tree) {
      const p = String(e?.path ?? '');
      if (!p || p.startsWith('/') || p.endsWith('/') || p.split('/').some((s) => s === '' || s === '.' || s === '..' || s === '.git')) {
        throw new HttpError(422, `GitRPC::BadObjectState: invalid path "${p}"`);
      }
      if (!['100644', '100755', '040000', '160000', '120000'].includes(e.mode))
        throw new HttpError(422, `Invalid tree info: mode ${e.mode}`);
      const hasContent = typeof e.content === 'string';
      if (hasContent && 'sha' in e) throw new HttpError(422, 'Invalid tree info: use either "sha" or "content"');
      let sha: string | null;
      if (hasContent) sha = await this.writeBlob(r, Buffer.from(e.content, 'utf8'));
      else if (e.sha === null) sha = null;
      else {
        sha = String(e.sha);
        const want = e.mode === '160000' ? null : e.mode === '040000' ? 'tree' : 'blob';
        if (want && (await this.objectType(r, sha)) !== want)
          throw new HttpError(422, `GitRPC::BadObjectState: tree.sha ${sha} is not a valid ${want}`);
      }
      entries.push({ path: p, mode: e.mode, sha, type: e.type });
    }
    const sha = await this.writeTree(r, base, entries);
    return { status: 201, body: await this.treeJson(r, sha, false) };
  }

  private async treeJson(r: RepoMeta, sha: string, recursive: boolean) {
    const args = recursive ? ['ls-tree', '-r', '-t', '-l', '-z', sha] : ['ls-tree', '-l', '-z', sha];
    const out = await runGit(r.dir, args);
    const tree = out.stdout
      .split('\0')
      .filter(Boolean)
      .map((rec) => {
        const tab = rec.indexOf('\t');
        const [mode, type, objSha, size] = rec.slice(0, tab).split(/\s+/);
        const entry: Record<string, unknown> = { path: rec.slice(tab + 1), mode, type, sha: objSha };
        if (type === 'blob') entry.size = Number(size);
        return entry;
      });
    return { sha, url: `${this.url}/repos/${r.owner}/${r.name}/git/trees/${sha}`, tree, truncated: false };
  }

  private async getTree(r: RepoMeta, ref: string, recursive: string | null): Promise<Reply> {
    const resolved = await runGit(r.dir, ['rev-parse', '--verify', '-q', `${ref}^{tree}`], { ok: [1, 128] });
    if (resolved.code !== 0) throw new HttpError(404, 'Not Found');
    return ok(await this.treeJson(r, resolved.stdout.trim(), recursive !== null && recursive !== '0' && recursive !== 'false'));
  }

  private async commitTree(
    r: RepoMeta,
    tree: string,
    parents: string[],
    message: string,
    author: Partial<Identity>,
    committer?: Partial<Identity>,
  ): Promise<string> {
    const c = committer ?? author;
    const env: Record<string, string> = {
      GIT_AUTHOR_NAME: author.name ?? '',
      GIT_AUTHOR_EMAIL: author.email ?? '',
      GIT_COMMITTER_NAME: c.name ?? '',
      GIT_COMMITTER_EMAIL: c.email ?? '',
    };
    if (author.date) env.GIT_AUTHOR_DATE = author.date;
    if (c.date) env.GIT_COMMITTER_DATE = c.date;
    const args = ['commit-tree', '--no-gpg-sign', tree, ...parents.flatMap((p) => ['-p', p]), '-F', '-'];
    return (await runGit(r.dir, args, { env, input: message })).stdout.trim();
  }

  private async createCommit(r: RepoMeta, body: RequestBody, login: string): Promise<Reply> {
    if (typeof body?.message !== 'string') throw new HttpError(422, 'Invalid request.\n\n"message" wasn\'t supplied.');
    await this.expectType(r, String(body.tree), 'tree', 422, 'Tree SHA does not exist');
    const parents: string[] = Array.isArray(body.parents) ? body.parents.map(String) : [];
    for (const p of parents) await this.expectType(r, p, 'commit', 422, 'Parent SHA does not exist or is not a commit object');
    const fallback = { name: login, email: `${login}@users.noreply.localhost` };
    const author = body.author ?? fallback;
    const sha = await this.commitTree(r, body.tree, parents, body.message, author, body.committer ?? author);
    return { status: 201, body: await this.commitJson(r, sha) };
  }

  private async commitJson(r: RepoMeta, sha: string) {
    await this.expectType(r, sha, 'commit', 404);
    const raw = (await runGit(r.dir, ['cat-file', 'commit', sha])).stdout;
    const split = raw.indexOf('\n\n');
    const headers = raw.slice(0, split).split('\n');
    const field = (k: string) => headers.filter((h) => h.startsWith(`${k} `)).map((h) => h.slice(k.length + 1));
    return {
      sha,
      url: `${this.url}/repos/${r.owner}/${r.name}/git/commits/${sha}`,
      tree: { sha: field('tree')[0] },
      parents: field('parent').map((p) => ({ sha: p })),
      author: parseIdentity(field('author')[0] ?? ''),
      committer: parseIdentity(field('committer')[0] ?? ''),
      message: raw.slice(split + 2),
    };
  }

  // --- refs -------------------------------------------------------------------------------------

  private async readRef(r: RepoMeta, ref: string): Promise<string | null> {
    const out = await runGit(r.dir, ['rev-parse', '--verify', '-q', ref], { ok: [1, 128] });
    return out.code === 0 ? out.stdout.trim() : null;
  }

  private async refJson(r: RepoMeta, ref: string) {
    const sha = await this.readRef(r, ref);
    if (!sha || !ref.startsWith('refs/')) throw new HttpError(404, 'Not Found');
    return { ref, url: `${this.url}/repos/${r.owner}/${r.name}/git/${ref}`, object: { sha, type: 'commit' } };
  }

  private async createRef(r: RepoMeta, body: RequestBody): Promise<Reply> {
    const ref = String(body?.ref ?? '');
    if (!/^refs\/[^/]+\/.+/.test(ref)) throw new HttpError(422, 'Reference name is invalid');
    await this.expectType(r, String(body.sha), 'commit', 422, 'Object does not exist');
    const res = await runGit(r.dir, ['update-ref', ref, body.sha, '0'.repeat(40)], { ok: [128, 1] });
    if (res.code !== 0) throw new HttpError(422, 'Reference already exists');
    return { status: 201, body: await this.refJson(r, ref) };
  }

  private async updateRef(r: RepoMeta, ref: string, body: RequestBody): Promise<Reply> {
    await this.beforeRefUpdate?.({ owner: r.owner, name: r.name, dir: r.dir }, ref);
    const current = await this.readRef(r, ref);
    if (!current) throw new HttpError(422, 'Reference does not exist');
    const sha = String(body?.sha ?? '');
    await this.expectType(r, sha, 'commit', 422, 'Object does not exist');
    if (body.force !== true) {
      const ff = await runGit(r.dir, ['merge-base', '--is-ancestor', current, sha], { ok: [1] });
      if (ff.code !== 0) throw new HttpError(422, 'Update is not a fast forward');
    }
    const res = await runGit(r.dir, ['update-ref', ref, sha, current], { ok: [128, 1] });
    if (res.code !== 0) throw new HttpError(422, 'Update is not a fast forward');
    return ok(await this.refJson(r, ref));
  }

  // --- contents ---------------------------------------------------------------------------------

  private async putContents(r: RepoMeta, filePath: string, body: RequestBody, login: string): Promise<Reply> {
    if (typeof body?.message !== 'string') throw new HttpError(422, 'Invalid request.\n\n"message" wasn\'t supplied.');
    if (typeof body?.content !== 'string') throw new HttpError(422, 'Invalid request.\n\n"content" wasn\'t supplied.');
    const empty = await this.isEmpty(r);
    const branch: string = body.branch ?? r.defaultBranch;
    const head = await this.readRef(r, `refs/heads/${branch}`);
    if (!head && !empty) throw new HttpError(404, `Branch ${branch} not found`);
    const existing = head ? await runGit(r.dir, ['rev-parse', '--verify', '-q', `${head}:${filePath}`], { ok: [1, 128] }) : null;
    const existingSha = existing && existing.code === 0 ? existing.stdout.trim() : null;
    if (existingSha && !body.sha) throw new HttpError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.');
    if (existingSha && body.sha !== existingSha) throw new HttpError(409, `${filePath} does not match ${body.sha}`);
    const blob = await this.writeBlob(r, Buffer.from(body.content, 'base64'));
    const baseTree = head ? (await runGit(r.dir, ['rev-parse', `${head}^{tree}`])).stdout.trim() : null;
    const tree = await this.writeTree(r, baseTree, [{ path: filePath, mode: '100644', sha: blob }]);
    const fallback = { name: login, email: `${login}@users.noreply.localhost` };
    const author = body.author ?? body.committer ?? fallback;
    const commit = await this.commitTree(r, tree, head ? [head] : [], body.message, author, body.committer ?? author);
    const upd = await runGit(r.dir, ['update-ref', `refs/heads/${branch}`, commit, head ?? '0'.repeat(40)], { ok: [1, 128] });
    if (upd.code !== 0) throw new HttpError(409, `${filePath} does not match`);
    if (empty && branch !== r.defaultBranch) {
      // the first branch of an empty repository becomes its default
      r.defaultBranch = branch;
      await runGit(r.dir, ['symbolic-ref', 'HEAD', `refs/heads/${branch}`]);
    }
    return {
      status: existingSha ? 200 : 201,
      body: {
        content: { name: path.posix.basename(filePath), path: filePath, sha: blob, type: 'file' },
        commit: await this.commitJson(r, commit),
      },
    };
  }

  // --- deploy keys ------------------------------------------------------------------------------

  private listKeys(r: RepoMeta, url: URL): Reply {
    const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30) || 30, 100);
    const page = Math.max(Number(url.searchParams.get('page') ?? 1) || 1, 1);
    const slice = r.keys.slice((page - 1) * perPage, page * perPage);
    const headers: Record<string, string> = {};
    if (page * perPage < r.keys.length) {
      headers.link = `<${this.url}/repos/${r.owner}/${r.name}/keys?per_page=${perPage}&page=${page + 1}>; rel="next"`;
    }
    return { status: 200, body: slice.map((k) => this.keyJson(r, k)), headers };
  }

  private keyJson(r: RepoMeta, k: DeployKey) {
    return { ...k, url: `${this.url}/repos/${r.owner}/${r.name}/keys/${k.id}`, verified: true, added_by: r.owner, last_used: null };
  }

  private addKey(r: RepoMeta, body: RequestBody): Reply {
    const m = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com) ([A-Za-z0-9+/]+={0,2})(?: .*)?$/.exec(
      String(body?.key ?? '').trim(),
    );
    if (!m)
      throw new HttpError(422, 'Validation Failed', {
        errors: [
          {
            resource: 'PublicKey',
            code: 'custom',
            field: 'key',
            message: 'key is invalid. You must supply a key in OpenSSH public key format',
          },
        ],
      });
    const key = `${m[1]} ${m[2]}`;
    if (r.keys.some((k) => k.key === key)) {
      throw new HttpError(422, 'Validation Failed', {
        errors: [{ resource: 'PublicKey', code: 'custom', field: 'key', message: 'key is already in use' }],
      });
    }
    const k: DeployKey = {
      id: this.nextId++,
      title: String(body.title ?? ''),
      key,
      read_only: body.read_only !== false,
      created_at: new Date().toISOString(),
    };
    r.keys.push(k);
    return { status: 201, body: this.keyJson(r, k) };
  }
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

function safeDecode(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

function ok(body: unknown): Reply {
  return { status: 200, body };
}

function idOf(login: string): number {
  let h = 7;
  for (const c of login.toLowerCase()) h = (h * 31 + c.charCodeAt(0)) % 1_000_000;
  return h;
}

async function readBody(req: IncomingMessage): Promise<RequestBody> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (!chunks.length) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'Problems parsing JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (status === 204 || body === null) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
