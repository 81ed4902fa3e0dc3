// A local stand-in for the Kubernetes API endpoints adopted-cluster registration uses, on 127.0.0.1
// with a random port and REAL TLS: a CA, a server certificate for 127.0.0.1/localhost and an admin
// client certificate, all made by openssl per server. What it reproduces of kube-apiserver:
//   * authentication: the admin bearer token, the admin client certificate (O=system:masters,
//     verified against the CA), or a ServiceAccount token that a service-account-token Secret
//     holds (legacy tokens die with their Secret); anything else 401 with a Status body;
//   * authorization of ServiceAccount tokens: accepted on GET /version only when the ServiceAccount
//     is bound by a ClusterRoleBinding to a ClusterRole allowing * on * in * (403 otherwise, and on
//     every other path: the stand-in only checks that much RBAC);
//   * GET/POST/PUT of ServiceAccounts and Secrets (namespaced) and ClusterRoles/ClusterRoleBindings,
//     GET of a Secret list with a `labelSelector=key=value`; 404/409 (AlreadyExists, resourceVersion
//     Conflict)/422 (Secret type, roleRef immutable) as Status objects;
//   * the token controller: after `tokenDelayMs` it fills a kubernetes.io/service-account-token
//     Secret (token, ca.crt, namespace) once its ServiceAccount exists.
// Requests are recorded (method, path, status) so tests can prove a rerun writes nothing.
import { runOkSync } from '../../lib/process/index.ts';
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- stored API objects: JSON of any kind, read and patched by path
type Obj = Record<string, any>;

export interface TlsMaterial {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** admin client certificate (O=system:masters) and key */
  clientCertPem: string;
  clientKeyPem: string;
}

/** A fresh CA with a server certificate for 127.0.0.1/localhost and an admin client certificate (EC P-256: fast). */
export function generateTlsMaterial(): TlsMaterial {
  const dir = mkdtempSync(path.join(tmpdir(), 'kube-tls-'));
  const ssl = (...args: string[]) => runOkSync(['openssl', ...args], { cwd: dir, noStdin: true, timeoutMs: 30_000 });
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=kube-api-stand-in-ca');
    writeFileSync(
      path.join(dir, 'server.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default\nextendedKeyUsage=serverAuth\n',
    );
    ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver');
    ssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'server.ext',
      '-out',
      'server.crt',
    );
    writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    ssl('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/O=system:masters/CN=admin');
    ssl(
      'x509',
      '-req',
      '-in',
      'client.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'client.ext',
      '-out',
      'client.crt',
    );
    const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
    return {
      caPem: read('ca.crt'),
      serverCertPem: read('server.crt'),
      serverKeyPem: read('server.key'),
      clientCertPem: read('client.crt'),
      clientKeyPem: read('client.key'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface KubeApiServerOptions {
  /** the admin bearer token (default: random) */
  adminToken?: string;
  /** how long the token controller takes to fill a token Secret (default 150 ms) */
  tokenDelayMs?: number;
  tls?: TlsMaterial;
}

export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
}

const SAT = 'kubernetes.io/service-account-token';
const SA_ANNOTATION = 'kubernetes.io/service-account.name';

class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

interface Route {
  /** store key prefix: the collection path */
  collection: string;
  kind: string;
  apiVersion: string;
  namespace?: string;
  name?: string;
}

function route(pathname: string): Route | undefined {
  let m = /^\/api\/v1\/namespaces\/([a-z0-9-]+)\/(serviceaccounts|secrets)(?:\/([a-z0-9.-]+))?$/.exec(pathname);
  if (m)
    return {
      collection: `/api/v1/namespaces/${m[1]}/${m[2]}`,
      kind: m[2] === 'secrets' ? 'Secret' : 'ServiceAccount',
      apiVersion: 'v1',
      namespace: m[1],
      name: m[3],
    };
  m = /^\/apis\/rbac\.authorization\.k8s\.io\/v1\/(clusterroles|clusterrolebindings)(?:\/([a-z0-9.:-]+))?$/.exec(pathname);
  if (m)
    return {
      collection: `/apis/rbac.authorization.k8s.io/v1/${m[1]}`,
      kind: m[1] === 'clusterroles' ? 'ClusterRole' : 'ClusterRoleBinding',
      apiVersion: 'rbac.authorization.k8s.io/v1',
      name: m[2],
    };
  return undefined;
}

export class KubeApiServer {
  readonly requests: RecordedRequest[] = [];
  /** objects by item path (collection/name) */
  readonly store = new Map<string, Obj>();
  private resourceVersion = 1;
  private timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly tls: TlsMaterial,
    readonly adminToken: string,
    private readonly tokenDelayMs: number,
  ) {}

  static async start(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
    const tls = opts.tls ?? generateTlsMaterial();
    // requestCert + rejectUnauthorized:false on the SERVER side only makes the client certificate
    // optional (bearer tokens need none); a presented one counts only when socket.authorized, i.e.
    // verified against the CA. Clients of this server always verify it.
    const server = createServer({
      key: tls.serverKeyPem,
      cert: tls.serverCertPem,
      ca: tls.caPem,
      requestCert: true,
      rejectUnauthorized: false,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const s = new KubeApiServer(
      server,
      `https://127.0.0.1:${port}`,
      tls,
      opts.adminToken ?? `admin-${randomBytes(16).toString('hex')}`,
      opts.tokenDelayMs ?? 150,
    );
    server.on('request', (req, res) => void s.handle(req, res));
    return s;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Requests that changed something (POST/PUT/DELETE). */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  /** Stores an object as if someone else had created it (e.g. a foreign sealing key). */
  seed(object: Obj): void {
    const r = route(this.itemPathOf(object));
    if (!r) throw new Error(`seed: unsupported ${object.kind}`);
    this.save(`${r.collection}/${object.metadata.name}`, structuredClone(object));
  }

  get(kind: string, name: string, namespace?: string): Obj | undefined {
    return this.store.get(this.itemPathOf({ kind, metadata: { name, namespace } }));
  }

  /** Deletes a token Secret and recreates it unfilled, as `kubectl delete` + re-apply would: a new token follows. */
  rotateToken(namespace: string, name: string): void {
    const key = this.itemPathOf({ kind: 'Secret', metadata: { name, namespace } });
    const old = this.store.get(key);
    if (!old) throw new Error(`rotateToken: no Secret ${namespace}/${name}`);
    this.store.delete(key);
    const annotations = { ...old.metadata.annotations };
    delete annotations['kubernetes.io/service-account.uid'];
    this.save(key, { apiVersion: 'v1', kind: 'Secret', type: old.type, metadata: { name, namespace, annotations } });
    this.scheduleTokenController(key);
  }

  /** The identity a bearer token authenticates as, as the server decides it: 'admin', 'sa:<ns>/<name>' or undefined. */
  authenticate(token: string): string | undefined {
    if (token === this.adminToken) return 'admin';
    const b64 = Buffer.from(token).toString('base64');
    for (const o of this.store.values()) {
      if (o.kind !== 'Secret' || o.type !== SAT || o.data?.token !== b64) continue;
      const ns = o.metadata.namespace;
      const sa = o.metadata.annotations?.[SA_ANNOTATION];
      if (sa && this.get('ServiceAccount', sa, ns)) return `sa:${ns}/${sa}`;
    }
    return undefined;
  }

  /** Whether a ServiceAccount is bound to a ClusterRole allowing every verb on every resource of every group. */
  saIsClusterAdmin(namespace: string, name: string): boolean {
    for (const b of this.store.values()) {
      if (b.kind !== 'ClusterRoleBinding' || b.roleRef?.kind !== 'ClusterRole') continue;
      const subject = (b.subjects ?? []).some((s: Obj) => s.kind === 'ServiceAccount' && s.name === name && s.namespace === namespace);
      if (!subject) continue;
      const role = this.get('ClusterRole', b.roleRef.name);
      const all = (role?.rules ?? []).some((r: Obj) => ['apiGroups', 'resources', 'verbs'].every((k) => (r[k] ?? []).includes('*')));
      if (all) return true;
    }
    return false;
  }

  private itemPathOf(object: Obj): string {
    const { kind, metadata } = object;
    const paths: Record<string, string> = {
      ServiceAccount: `/api/v1/namespaces/${metadata.namespace}/serviceaccounts`,
      Secret: `/api/v1/namespaces/${metadata.namespace}/secrets`,
      ClusterRole: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
      ClusterRoleBinding: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
    };
    if (!paths[kind]) throw new Error(`unsupported kind ${kind}`);
    return `${paths[kind]}/${metadata.name}`;
  }

  private save(key: string, object: Obj): Obj {
    const previous = this.store.get(key);
    object.metadata = {
      ...object.metadata,
      uid: previous?.metadata?.uid ?? randomUUID(),
      creationTimestamp: previous?.metadata?.creationTimestamp ?? new Date().toISOString(),
      resourceVersion: String(++this.resourceVersion),
    };
    this.store.set(key, object);
    return object;
  }

  private scheduleTokenController(key: string): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const secret = this.store.get(key);
      if (!secret || secret.type !== SAT || secret.data?.token) return;
      const ns = secret.metadata.namespace;
      const sa = this.get('ServiceAccount', secret.metadata.annotations?.[SA_ANNOTATION] ?? '', ns);
      if (!sa) return this.scheduleTokenController(key); // the controller fills it once the ServiceAccount exists
      const token = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(24).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      secret.data = { ...(secret.data ?? {}), token: b64(token), 'ca.crt': b64(this.tls.caPem), namespace: b64(ns) };
      secret.metadata.annotations = { ...secret.metadata.annotations, 'kubernetes.io/service-account.uid': sa.metadata.uid };
      this.save(key, secret);
    }, this.tokenDelayMs);
    timer.unref();
    this.timers.add(timer);
  }

  private identity(req: IncomingMessage): string | undefined {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) return this.authenticate(auth.slice('Bearer '.length));
    const socket = req.socket as TLSSocket;
    if (socket.authorized) {
      const peer = socket.getPeerX509Certificate?.() as X509Certificate | undefined;
      if (peer && /(^|\n)O=system:masters(\n|$)/.test(peer.subject)) return 'admin';
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let status = 200;
    let body: unknown;
    try {
      body = this.dispatch(req, url, Buffer.concat(chunks).toString('utf8'));
      if (req.method === 'POST') status = 201;
    } catch (err) {
      const e = err instanceof StatusError ? err : new StatusError(500, 'InternalError', `stand-in bug: ${(err as Error).message}`);
      status = e.code;
      body = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: e.message, reason: e.reason, code: e.code };
    }
    this.requests.push({ method: req.method ?? '', path: url.pathname + url.search, status });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private dispatch(req: IncomingMessage, url: URL, text: string): unknown {
    const who = this.identity(req);
    if (!who) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
    if (who.startsWith('sa:')) {
      const [ns, name] = who.slice(3).split('/');
      if (req.method === 'GET' && url.pathname === '/version' && this.saIsClusterAdmin(ns, name)) return this.versionBody();
      throw new StatusError(
        403,
        'Forbidden',
        `forbidden: User "system:serviceaccount:${ns}:${name}" cannot ${req.method} path "${url.pathname}"`,
      );
    }
    if (url.pathname === '/version' && req.method === 'GET') return this.versionBody();
    const r = route(url.pathname);
    if (!r) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    const plural = r.collection.split('/').pop();
    if (req.method === 'GET' && !r.name) return this.list(r, url.searchParams.get('labelSelector'));
    if (req.method === 'GET') {
      const o = this.store.get(`${r.collection}/${r.name}`);
      if (!o) throw new StatusError(404, 'NotFound', `${plural} "${r.name}" not found`);
      return o;
    }
    let object: Obj;
    try {
      object = JSON.parse(text) as Obj;
    } catch {
      throw new StatusError(400, 'BadRequest', 'the body is not JSON');
    }
    if (object.kind !== r.kind || object.apiVersion !== r.apiVersion)
      throw new StatusError(400, 'BadRequest', `body is ${object.kind} ${object.apiVersion}, the path wants ${r.kind} ${r.apiVersion}`);
    const name = object.metadata?.name;
    if (r.namespace && object.metadata?.namespace && object.metadata.namespace !== r.namespace)
      throw new StatusError(400, 'BadRequest', 'the namespace of the object does not match the path');
    if (req.method === 'POST' && !r.name) {
      const key = `${r.collection}/${name}`;
      if (this.store.has(key)) throw new StatusError(409, 'AlreadyExists', `${plural} "${name}" already exists`);
      const saved = this.save(key, { ...object, metadata: { ...object.metadata, ...(r.namespace ? { namespace: r.namespace } : {}) } });
      if (saved.kind === 'Secret' && saved.type === SAT && !saved.data?.token) this.scheduleTokenController(key);
      return saved;
    }
    if (req.method === 'PUT' && r.name) {
      const key = `${r.collection}/${r.name}`;
      const live = this.store.get(key);
      if (!live) throw new StatusError(404, 'NotFound', `${plural} "${r.name}" not found`);
      if (name !== r.name) throw new StatusError(400, 'BadRequest', 'the name of the object does not match the path');
      const rv = object.metadata?.resourceVersion;
      if (rv && rv !== live.metadata.resourceVersion)
        throw new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${plural} "${name}": the object has been modified`);
      if (r.kind === 'Secret' && (object.type ?? 'Opaque') !== (live.type ?? 'Opaque'))
        throw new StatusError(422, 'Invalid', `Secret "${name}" is invalid: type: Invalid value: field is immutable`);
      if (r.kind === 'ClusterRoleBinding' && JSON.stringify(object.roleRef) !== JSON.stringify(live.roleRef))
        throw new StatusError(422, 'Invalid', `ClusterRoleBinding "${name}" is invalid: roleRef: Invalid value: cannot change roleRef`);
      const saved = this.save(key, { ...object, metadata: { ...object.metadata, ...(r.namespace ? { namespace: r.namespace } : {}) } });
      if (saved.kind === 'Secret' && saved.type === SAT && !saved.data?.token) this.scheduleTokenController(key);
      return saved;
    }
    throw new StatusError(405, 'MethodNotAllowed', `${req.method} is not supported here`);
  }

  private list(r: Route, selector: string | null): unknown {
    let match = (_o: Obj) => true;
    if (selector) {
      const [k, v] = selector.split('=');
      match = (o) => o.metadata?.labels?.[k] === v;
    }
    const items = [...this.store.entries()].filter(([key, o]) => key.startsWith(`${r.collection}/`) && match(o)).map(([, o]) => o);
    return { kind: `${r.kind}List`, apiVersion: r.apiVersion, metadata: { resourceVersion: String(this.resourceVersion) }, items };
  }

  private versionBody() {
    return { major: '1', minor: '31', gitVersion: 'v1.31.4', platform: 'linux/amd64' };
  }
}
