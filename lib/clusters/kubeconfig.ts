// Reads the kubeconfig of an adopted cluster (one clusterseed does not build: LKE/GKE/EKS, k3d) the
// way kubectl does: the named context or the current-context, its cluster (server, CA, TLS server
// name) and its user (token, token file, client certificate and key, or an `exec` credential plugin).
// Relative paths resolve from the kubeconfig's directory, like client-go's ResolvePaths.
// Every credential read is registered as a secret (lib/report/mask.ts) and no error quotes one: an
// error names the kubeconfig, the context and the field, never the value.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { run, type RunResult } from '../process/index.ts';
import { LineCounter, parseDocument } from 'yaml';
import { registerSecret } from '../report/mask.ts';

export interface KubeCredentials {
  /** bearer token (static, from tokenFile or from an exec plugin) */
  token?: string;
  /** client certificate and key, PEM */
  clientCertPem?: string;
  clientKeyPem?: string;
}

export interface ResolvedKubeconfig {
  /** absolute path of the kubeconfig, for messages */
  file: string;
  /** the context used */
  context: string;
  /** the cluster's API server URL as the kubeconfig names it */
  server: string;
  /** PEM CA bundle the server's certificate must chain to; absent: the system's roots, as kubectl */
  caPem?: string;
  /** the name checked against the server certificate instead of the URL's host */
  tlsServerName?: string;
  credentials: KubeCredentials;
}

/** How long an exec credential plugin may run (client-go has no bound; a run must have one). */
export const EXEC_PLUGIN_TIMEOUT_MS = 60_000;

const EXEC_API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

/** Error naming where in the kubeconfig the problem is; callers never put a credential in `what`. */
class KubeconfigError extends Error {}

function named(doc: Obj, list: 'contexts' | 'clusters' | 'users', name: string, where: string): Obj {
  const entries = Array.isArray(doc[list]) ? (doc[list] as unknown[]) : [];
  const found = entries.find((e) => isObj(e) && e.name === name) as Obj | undefined;
  const singular = list.slice(0, -1);
  if (!found) {
    const names =
      entries
        .filter(isObj)
        .map((e) => String(e.name))
        .join(', ') || 'none';
    throw new KubeconfigError(`${where}: no ${singular} named "${name}" in ${list} (there: ${names})`);
  }
  const body = found[singular];
  if (!isObj(body)) throw new KubeconfigError(`${where}: ${list} entry "${name}" has no ${singular} mapping`);
  return body;
}

function str(body: Obj, key: string, where: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new KubeconfigError(`${where}: ${key} must be a string`);
  return v;
}

function decodeBase64Field(body: Obj, key: string, where: string): string | undefined {
  const v = str(body, key, where);
  if (v === undefined) return undefined;
  if (!/^[A-Za-z0-9+/=\s]+$/.test(v)) throw new KubeconfigError(`${where}: ${key} is not base64`);
  return Buffer.from(v, 'base64').toString('utf8');
}

async function readReferenced(dir: string, file: string, key: string, where: string): Promise<string> {
  const full = path.resolve(dir, file);
  try {
    return await fs.readFile(full, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`${where}: ${key} ${full}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** `-data` inline (base64) or the file the plain key names (relative to the kubeconfig). */
async function dataOrFile(body: Obj, key: string, dir: string, where: string): Promise<string | undefined> {
  const inline = decodeBase64Field(body, `${key}-data`, where);
  if (inline !== undefined) return inline;
  const file = str(body, key, where);
  return file === undefined ? undefined : readReferenced(dir, file, key, where);
}

function parseYaml(text: string, file: string): Obj {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  if (doc.errors.length) {
    // The parser's own message may quote the offending line, which can hold a token: position only.
    const err = doc.errors[0];
    const at = lineCounter.linePos(err.pos[0]);
    throw new KubeconfigError(`${file}${at ? `:${at.line}:${at.col}` : ''}: not valid YAML (${err.code})`);
  }
  const value = doc.toJS() as unknown;
  if (!isObj(value)) throw new KubeconfigError(`${file}: not a kubeconfig (expected a mapping with clusters, contexts and users)`);
  return value;
}

/**
 * The context's server, CA and credentials; runs its exec plugin when it has one.
 * `file` should be absolute (the inventory resolves it); relative paths inside resolve from its directory.
 */
export async function loadKubeconfig(file: string, context?: string): Promise<ResolvedKubeconfig> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`${file}: cannot read the kubeconfig (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const doc = parseYaml(text, file);
  const dir = path.dirname(path.resolve(file));
  const contextName = context ?? (typeof doc['current-context'] === 'string' ? doc['current-context'] : '');
  if (!contextName) throw new KubeconfigError(`${file}: no context given and no current-context set; name one (clusters.<name>.context)`);
  const where = `${file} (context ${contextName})`;

  const ctx = named(doc, 'contexts', contextName, where);
  const clusterName = str(ctx, 'cluster', `${where}: context`);
  const userName = str(ctx, 'user', `${where}: context`);
  if (!clusterName) throw new KubeconfigError(`${where}: the context names no cluster`);
  if (!userName) throw new KubeconfigError(`${where}: the context names no user`);

  const cluster = named(doc, 'clusters', clusterName, where);
  const cWhere = `${where}: cluster "${clusterName}"`;
  const server = str(cluster, 'server', cWhere);
  if (!server) throw new KubeconfigError(`${cWhere}: server is missing`);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new KubeconfigError(`${cWhere}: server "${server}" is not a URL`);
  }
  if (url.protocol !== 'https:')
    throw new KubeconfigError(`${cWhere}: server "${server}" is not https; Argo CD needs a TLS API server with a CA`);
  if (cluster['insecure-skip-tls-verify'] === true) {
    throw new KubeconfigError(
      `${cWhere}: insecure-skip-tls-verify is set; clusterseed verifies the API server and Argo CD would get no CA: set certificate-authority(-data) instead`,
    );
  }
  if (str(cluster, 'proxy-url', cWhere))
    throw new KubeconfigError(`${cWhere}: proxy-url is not supported; reach the API server directly or through the site link`);
  const caPem = await dataOrFile(cluster, 'certificate-authority', dir, cWhere);
  if (caPem !== undefined && !caPem.includes('-----BEGIN CERTIFICATE-----'))
    throw new KubeconfigError(`${cWhere}: certificate-authority holds no PEM certificate`);
  const tlsServerName = str(cluster, 'tls-server-name', cWhere);

  const user = named(doc, 'users', userName, where);
  const uWhere = `${where}: user "${userName}"`;
  const credentials = await userCredentials(user, dir, uWhere, { server, caPem, tlsServerName, extensions: cluster.extensions });
  return { file, context: contextName, server: server.replace(/\/+$/, ''), caPem, tlsServerName, credentials };
}

interface ClusterInfo {
  server: string;
  caPem?: string;
  tlsServerName?: string;
  extensions: unknown;
}

async function userCredentials(user: Obj, dir: string, where: string, cluster: ClusterInfo): Promise<KubeCredentials> {
  if (user['auth-provider'] !== undefined) {
    throw new KubeconfigError(
      `${where}: auth-provider plugins were removed from kubectl; use an exec plugin (e.g. gke-gcloud-auth-plugin, kubelogin)`,
    );
  }
  if (user.username !== undefined || user.password !== undefined) {
    throw new KubeconfigError(`${where}: basic authentication (username/password) is not supported; use a token or a client certificate`);
  }
  if (isObj(user.exec)) return execCredentials(user.exec, dir, where, cluster);
  if (user.exec !== undefined) throw new KubeconfigError(`${where}: exec must be a mapping`);

  let token = str(user, 'token', where);
  const tokenFile = str(user, 'tokenFile', where);
  if (!token && tokenFile) token = (await readReferenced(dir, tokenFile, 'tokenFile', where)).trim();
  const clientCertPem = await dataOrFile(user, 'client-certificate', dir, where);
  const clientKeyPem = await dataOrFile(user, 'client-key', dir, where);
  registerSecret(token);
  registerSecret(clientKeyPem);
  if (!!clientCertPem !== !!clientKeyPem) {
    throw new KubeconfigError(
      `${where}: client-certificate and client-key go together; only ${clientCertPem ? 'the certificate' : 'the key'} is set`,
    );
  }
  if (!token && !clientCertPem)
    throw new KubeconfigError(`${where}: no credentials (token, tokenFile, client-certificate/client-key or exec)`);
  return { token: token || undefined, clientCertPem, clientKeyPem };
}

/** Runs a client.authentication.k8s.io exec plugin non-interactively and reads its ExecCredential. */
async function execCredentials(exec: Obj, dir: string, where: string, cluster: ClusterInfo): Promise<KubeCredentials> {
  const eWhere = `${where}: exec`;
  const apiVersion = str(exec, 'apiVersion', eWhere);
  if (!apiVersion || !EXEC_API_VERSIONS.includes(apiVersion)) {
    throw new KubeconfigError(`${eWhere}: apiVersion must be one of ${EXEC_API_VERSIONS.join(', ')} (got ${apiVersion ?? 'none'})`);
  }
  const command = str(exec, 'command', eWhere);
  if (!command) throw new KubeconfigError(`${eWhere}: command is missing`);
  if (exec.interactiveMode === 'Always')
    throw new KubeconfigError(`${eWhere}: interactiveMode Always needs a terminal; clusterseed runs plugins non-interactively`);
  const args = exec.args === undefined || exec.args === null ? [] : exec.args;
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string'))
    throw new KubeconfigError(`${eWhere}: args must be a list of strings`);
  const extraEnv: Record<string, string> = {};
  for (const e of Array.isArray(exec.env) ? exec.env : exec.env ? [null] : []) {
    if (!isObj(e) || typeof e.name !== 'string' || typeof e.value !== 'string')
      throw new KubeconfigError(`${eWhere}: env entries must be {name, value} strings`);
    extraEnv[e.name] = e.value;
  }
  // client-go: a command with a path separator is relative to the kubeconfig; a bare name is looked up in PATH.
  const program = command.includes('/') ? path.resolve(dir, command) : command;
  const spec: Obj = { interactive: false };
  if (exec.provideClusterInfo === true) {
    const extensions = Array.isArray(cluster.extensions) ? (cluster.extensions as unknown[]) : [];
    const config = extensions.find((x) => isObj(x) && x.name === 'client.authentication.k8s.io/exec') as Obj | undefined;
    spec.cluster = {
      server: cluster.server,
      ...(cluster.tlsServerName ? { 'tls-server-name': cluster.tlsServerName } : {}),
      ...(cluster.caPem ? { 'certificate-authority-data': Buffer.from(cluster.caPem).toString('base64') } : {}),
      ...(config ? { config: config.extension } : {}),
    };
  }
  const env = { ...process.env, ...extraEnv, KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion, kind: 'ExecCredential', spec }) };

  const hint = typeof exec.installHint === 'string' ? ` (${exec.installHint.trim()})` : '';
  const notFound = () => new KubeconfigError(`${eWhere}: command "${command}" not found${hint}`);
  let res: RunResult;
  try {
    res = await run([program, ...(args as string[])], { env, cwd: dir, timeoutMs: EXEC_PLUGIN_TIMEOUT_MS });
  } catch (err) {
    if (/ not found$/.test((err as Error).message)) throw notFound();
    throw new KubeconfigError(`${eWhere}: "${command}" could not be started: ${(err as Error).message}`);
  }
  // a path that does not exist (bash's exec: "No such file or directory", exit 127) is not found either
  if (res.code === 127 && /No such file or directory\n?$/.test(res.stderr)) throw notFound();
  if (res.timedOut) throw new KubeconfigError(`${eWhere}: "${command}" did not finish within ${EXEC_PLUGIN_TIMEOUT_MS / 1000}s`);
  if (res.code !== 0) {
    // stderr is the plugin's diagnosis (e.g. "not logged in"); stdout may carry a credential and is never shown.
    const tail = res.stderr.trim().split('\n').slice(-3).join(' | ');
    throw new KubeconfigError(`${eWhere}: "${command}" failed (exit ${res.code})${tail ? `: ${tail}` : ''}`);
  }
  const stdout = res.stdout;

  let cred: unknown;
  try {
    cred = JSON.parse(stdout);
  } catch {
    throw new KubeconfigError(`${eWhere}: "${command}" did not print an ExecCredential (not JSON)`);
  }
  if (!isObj(cred) || cred.kind !== 'ExecCredential') throw new KubeconfigError(`${eWhere}: "${command}" printed no ExecCredential`);
  if (cred.apiVersion !== apiVersion)
    throw new KubeconfigError(
      `${eWhere}: "${command}" answered apiVersion ${String(cred.apiVersion)}, the kubeconfig asked for ${apiVersion}`,
    );
  const status = isObj(cred.status) ? cred.status : {};
  const token = typeof status.token === 'string' && status.token ? status.token : undefined;
  const clientCertPem =
    typeof status.clientCertificateData === 'string' && status.clientCertificateData ? status.clientCertificateData : undefined;
  const clientKeyPem = typeof status.clientKeyData === 'string' && status.clientKeyData ? status.clientKeyData : undefined;
  registerSecret(token);
  registerSecret(clientKeyPem);
  if (!!clientCertPem !== !!clientKeyPem)
    throw new KubeconfigError(`${eWhere}: "${command}" returned clientCertificateData without clientKeyData or the reverse`);
  if (!token && !clientCertPem) throw new KubeconfigError(`${eWhere}: "${command}" returned neither status.token nor a client certificate`);
  return { token, clientCertPem, clientKeyPem };
}
