// The repository Argo CD is told to read, as the bootstrap wrote it on the first server (the root
// Application's repoURL and targetRevision), and git commands run where that repository lives:
// on the control machine for file:// URLs (the local default), on the lab host the URL names for
// ssh://user@host[:port]/path or user@host:path (a repository hosted on the cluster).
import { runOk } from '../../lib/process/index.ts';
import YAML from 'yaml';
import type { TestLab } from '../harness/hosts.ts';

export const MANIFESTS = '/var/lib/rancher/k3s/server/manifests';

export interface RepoRef {
  url: string;
  branch: string;
}

/** repoURL and targetRevision of the root Application in the bootstrap's argocd-apps HelmChart. */
export async function bootstrapRepo(lab: Pick<TestLab, 'sh'>, server: string): Promise<RepoRef> {
  const file = `${MANIFESTS}/clusterseed-argocd-root.yaml`;
  const r = await lab.sh(server, `cat ${file}`);
  if (r.code !== 0) throw new Error(`${server}: no ${file} (${r.stderr.trim()})`);
  const chart = YAML.parse(r.stdout) as { spec: { valuesContent: string } };
  const apps = (
    YAML.parse(chart.spec.valuesContent) as { applications: Record<string, { source: { repoURL: string; targetRevision: string } }> }
  ).applications;
  const roots = Object.values(apps);
  if (roots.length !== 1) throw new Error(`${file}: expected one Application, found ${roots.length}`);
  return { url: roots[0].source.repoURL, branch: roots[0].source.targetRevision };
}

type Where = { local: string } | { host: string; path: string };

/** Where a repository URL points: a local path, or a path on one of the lab's hosts. */
export function locateRepo(lab: Pick<TestLab, 'hosts'>, url: string): Where {
  if (url.startsWith('file://')) return { local: decodeURIComponent(new URL(url).pathname) };
  let host: string;
  let repoPath: string;
  if (url.startsWith('ssh://')) {
    const u = new URL(url);
    host = u.hostname;
    repoPath = decodeURIComponent(u.pathname);
  } else {
    const m = url.includes('://') ? null : /^(?:[^@/]+@)?([^:/]+):(.+)$/.exec(url);
    if (!m) throw new Error(`repository URL ${url}: neither file://, ssh:// nor user@host:path`);
    [, host, repoPath] = m;
  }
  const h = lab.hosts.find((x) => x.address === host || x.lanAddress === host || x.name === host);
  if (!h) throw new Error(`repository URL ${url}: ${host} is no host of this lab`);
  return { host: h.name, path: repoPath };
}

/** Runs `git --git-dir=<repo> ARGS` where the repository lives; stdout. */
export async function gitIn(lab: Pick<TestLab, 'hosts' | 'sh'>, url: string, args: string[]): Promise<string> {
  const where = locateRepo(lab, url);
  if ('local' in where) return runOk(['git', `--git-dir=${where.local}`, ...args]);
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  // as root on a repository a service user owns: git refuses such a repository without safe.directory
  const r = await lab.sh(where.host, ['git', '-c', 'safe.directory=*', `--git-dir=${where.path}`, ...args].map(quote).join(' '));
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} in ${where.host}:${where.path} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The branch head of the repository Argo CD reads ('' when the branch does not exist). */
export async function repoHead(lab: Pick<TestLab, 'hosts' | 'sh'>, repo: RepoRef): Promise<string> {
  try {
    return (await gitIn(lab, repo.url, ['rev-parse', '--verify', '-q', `refs/heads/${repo.branch}`])).trim();
  } catch {
    return '';
  }
}

/** path → content of every file of the branch head (text files: the rendered repository). */
export async function repoFiles(lab: Pick<TestLab, 'hosts' | 'sh'>, repo: RepoRef): Promise<Map<string, string>> {
  const ref = `refs/heads/${repo.branch}`;
  const names = (await gitIn(lab, repo.url, ['ls-tree', '-r', '--name-only', ref])).split('\n').filter(Boolean);
  const files = new Map<string, string>();
  for (const n of names) files.set(n, await gitIn(lab, repo.url, ['show', `${ref}:${n}`]));
  return files;
}
