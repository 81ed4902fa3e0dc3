// An adopted cluster's kubeconfig, read as far as loading the inventory needs: that the file is
// there, is a kubeconfig, has the context (or a current-context), and that context's cluster has a
// server (the URL Argo CD reaches it at unless the inventory says `server:`). Its credentials are
// neither read nor ever quoted: a message names the file, the context and the cluster, no more.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { isPlainObject } from './merge.ts';
import { didYouMean } from './suggest.ts';

export interface KubeconfigTarget {
  /** the context used: the one asked for, else the current-context */
  context: string;
  cluster: string;
  server: string;
}

/** What went wrong, and whether it is the `context:` the inventory names that is missing. */
export interface KubeconfigProblem {
  problem: string;
  at: 'kubeconfig' | 'context';
}

/** The context's cluster and server, or the problem (one sentence naming `file`). */
export function readKubeconfigTarget(file: string, context?: string): KubeconfigTarget | KubeconfigProblem {
  const fail = (problem: string, at: KubeconfigProblem['at'] = 'kubeconfig'): KubeconfigProblem => ({ problem, at });
  let text: string;
  try {
    if (!statSync(file).isFile()) return fail(`kubeconfig ${file} is not a file`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail(`kubeconfig file does not exist: ${file}`);
    if (code === 'EACCES') return fail(`kubeconfig file is not readable (permission denied): ${file}`);
    return fail(`kubeconfig file cannot be read (${code ?? (err as Error).message}): ${file}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length) {
    // the parser's own message quotes the text around the error: the file holds credentials
    const { line, col } = lines.linePos(doc.errors[0].pos[0]);
    return fail(`kubeconfig ${file} is not valid YAML (line ${line}, column ${col})`);
  }
  const data: unknown = doc.toJS();
  if (!isPlainObject(data) || !Array.isArray(data.contexts) || !Array.isArray(data.clusters)) {
    return fail(`${file} is not a kubeconfig: it needs clusters: and contexts: lists (as kubectl config view prints them)`);
  }
  const named = (list: unknown[]) =>
    list.filter(isPlainObject).filter((e) => typeof e.name === 'string') as Array<Record<string, unknown> & { name: string }>;
  const contexts = named(data.contexts);
  const names = contexts.map((c) => c.name);
  const wanted =
    context ?? (typeof data['current-context'] === 'string' && data['current-context'] !== '' ? data['current-context'] : undefined);
  if (wanted === undefined) {
    return fail(`kubeconfig ${file} has no current-context: set context: to one of ${names.join(', ') || '(it has no contexts)'}`);
  }
  const entry = contexts.find((c) => c.name === wanted);
  if (!entry) {
    const which = context === undefined ? `its current-context "${wanted}"` : `context "${wanted}"`;
    return fail(
      `kubeconfig ${file} has no ${which}${didYouMean(wanted, names)}; contexts: ${names.join(', ') || 'none'}`,
      context === undefined ? 'kubeconfig' : 'context',
    );
  }
  const clusterName = isPlainObject(entry.context) ? entry.context.cluster : undefined;
  if (typeof clusterName !== 'string' || clusterName === '') return fail(`kubeconfig ${file}: context "${wanted}" names no cluster`);
  const cluster = named(data.clusters).find((c) => c.name === clusterName);
  if (!cluster) return fail(`kubeconfig ${file}: context "${wanted}" names cluster "${clusterName}", which is not in its clusters: list`);
  const server = isPlainObject(cluster.cluster) ? cluster.cluster.server : undefined;
  if (typeof server !== 'string' || server === '')
    return fail(`kubeconfig ${file}: cluster "${clusterName}" (context "${wanted}") has no server`);
  if (!/^https:\/\/[^\s/]+/.test(server)) {
    return fail(
      `kubeconfig ${file}: the server of cluster "${clusterName}" is not an https:// URL; Argo CD reaches API servers over TLS only`,
    );
  }
  return { context: wanted, cluster: clusterName, server };
}

/** A kubeconfig others may read holds credentials anyone on this machine can use: say so (a warning). */
export function kubeconfigModeProblem(file: string): string | undefined {
  let st;
  try {
    st = statSync(file);
  } catch {
    return undefined; // reported by readKubeconfigTarget
  }
  const mode = st.mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  return `kubeconfig ${file} has mode ${mode.toString(8).padStart(4, '0')}: it holds the cluster's credentials and is open to group or others on this machine; run chmod 600 ${file}`;
}

/**
 * What registering through the kubeconfig needs besides a server, checked before any host is
 * contacted: the context's user has a credential clusterseed can present (a token, a token file,
 * a client certificate and key, or an exec plugin), the files the kubeconfig names exist (relative
 * to its own directory, as kubectl reads them), and TLS is verified. Undefined when usable.
 */
export function kubeconfigCredentialProblem(file: string, context?: string): string | undefined {
  const target = readKubeconfigTarget(file, context);
  if ('problem' in target) return target.problem;
  const data = parseDocument(readFileSync(file, 'utf8'), { uniqueKeys: false }).toJS() as Record<string, unknown>;
  const find = (list: unknown, name: string) =>
    (Array.isArray(list) ? list : []).find((e) => isPlainObject(e) && e.name === name) as Record<string, unknown> | undefined;
  const where = `kubeconfig ${file}, context "${target.context}"`;
  const cluster = (find(data.clusters, target.cluster)?.cluster ?? {}) as Record<string, unknown>;
  if (cluster['insecure-skip-tls-verify'] === true) {
    return `${where}: cluster "${target.cluster}" sets insecure-skip-tls-verify; Argo CD would have no CA to verify the API server with: give certificate-authority-data`;
  }
  const contextEntry = find(data.contexts, target.context)?.context as Record<string, unknown>;
  const userName = contextEntry.user;
  if (typeof userName !== 'string' || userName === '')
    return `${where} names no user: clusterseed needs credentials to register the cluster`;
  const user = find(data.users, userName)?.user;
  if (!isPlainObject(user)) return `${where} names user "${userName}", which is not in its users: list`;
  if (user['auth-provider'] !== undefined) {
    return `${where}: user "${userName}" authenticates with auth-provider, which clusterseed does not support; use an exec plugin (e.g. gke-gcloud-auth-plugin) or a token`;
  }
  const hasCert = (k: string) => user[`${k}-data`] !== undefined || user[k] !== undefined;
  const usable =
    user.token !== undefined ||
    user.tokenFile !== undefined ||
    user.exec !== undefined ||
    (hasCert('client-certificate') && hasCert('client-key'));
  if (!usable)
    return `${where}: user "${userName}" has no credential clusterseed can use (token, tokenFile, client-certificate with client-key, or exec)`;
  const base = path.dirname(file);
  const named: Array<[string, unknown]> = [
    ['certificate-authority', cluster['certificate-authority']],
    ['client-certificate', user['client-certificate']],
    ['client-key', user['client-key']],
    ['tokenFile', user.tokenFile],
  ];
  for (const [key, value] of named) {
    if (typeof value !== 'string') continue;
    const target = path.resolve(base, value);
    try {
      accessSync(target, constants.R_OK);
    } catch (err) {
      return `${where}: ${key} ${target} cannot be read (${(err as NodeJS.ErrnoException).code})`;
    }
  }
  return undefined;
}
