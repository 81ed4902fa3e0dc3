// The few Kubernetes API calls registration needs (GET /version, GET/POST/PUT of ServiceAccounts,
// Secrets, ClusterRoles and ClusterRoleBindings), over plain node:https rather than
// @kubernetes/client-node: a handful of JSON requests do not justify its dependency tree, and here
// every request's TLS settings and timeout are visible in one place.
// TLS is always verified: against the kubeconfig's CA, or the system roots when it names none
// (as kubectl does). Errors name the kubeconfig and context, the method and path; never a credential.
import { request as httpsRequest } from 'node:https';
import type { ResolvedKubeconfig } from './kubeconfig.ts';

/** Bound of one request, connect to last byte. */
export const KUBE_REQUEST_TIMEOUT_MS = 15_000;

export interface KubeResponse {
  status: number;
  body: unknown;
}

/** TLS failures the server's certificate causes (openssl verify codes and node's host name check). */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** A client for one kubeconfig context. */
export class KubeApi {
  readonly where: string;
  constructor(
    readonly config: ResolvedKubeconfig,
    private readonly timeoutMs = KUBE_REQUEST_TIMEOUT_MS,
  ) {
    this.where = `${config.file} (context ${config.context})`;
  }

  /** One JSON request; resolves with any HTTP status, rejects on transport and TLS failures. */
  request(method: string, apiPath: string, body?: unknown): Promise<KubeResponse> {
    const { config } = this;
    const url = new URL(config.server + apiPath);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'clusterseed' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    if (config.credentials.token) headers.authorization = `Bearer ${config.credentials.token}`;
    const what = `${method} ${url.pathname}`;
    return new Promise<KubeResponse>((resolve, reject) => {
      const req = httpsRequest(
        {
          method,
          protocol: 'https:',
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port || 443,
          path: url.pathname + url.search,
          headers,
          ca: config.caPem,
          servername: config.tlsServerName,
          cert: config.credentials.clientCertPem,
          key: config.credentials.clientKeyPem,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => fail(err));
          res.on('end', () => {
            clearTimeout(timer);
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON (a proxy's HTML page): keep the text for the status message
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      const fail = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        req.destroy();
        reject(this.transportError(err, what));
      };
      const timer = setTimeout(() => fail(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), this.timeoutMs);
      req.on('error', fail);
      req.end(payload);
    });
  }

  private transportError(err: NodeJS.ErrnoException, what: string): KubeApiError {
    const server = this.config.server;
    if (err.code && TLS_VERIFY_CODES.has(err.code)) {
      const against = this.config.caPem ? "the kubeconfig's certificate-authority" : "the system's CA roots (the kubeconfig names no CA)";
      return new KubeApiError(
        `${this.where}: TLS: the API server ${server} presented a certificate that does not verify against ${against} (${err.code}: ${err.message})`,
      );
    }
    if (err.code === 'ETIMEDOUT')
      return new KubeApiError(`${this.where}: ${what} on ${server}: no answer within ${this.timeoutMs / 1000}s`);
    return new KubeApiError(`${this.where}: ${what} on ${server}: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' ').trim());
  }

  /** An error for an unexpected status, with the API's Status message (never a request body). */
  statusError(method: string, apiPath: string, res: KubeResponse): KubeApiError {
    const b = res.body as { message?: unknown; reason?: unknown } | undefined;
    const detail = typeof b?.message === 'string' ? b.message : typeof res.body === 'string' ? res.body.slice(0, 200) : '';
    let hint = '';
    if (res.status === 401)
      hint = ": the API server rejected the kubeconfig user's credentials (expired or revoked token, wrong certificate?)";
    if (res.status === 403)
      hint = ': the kubeconfig user may not do this; registration needs cluster-admin rights (it creates a ClusterRole)';
    return new KubeApiError(`${this.where}: ${method} ${apiPath} answered ${res.status}${hint}${detail ? ` (${detail})` : ''}`, res.status);
  }

  /** The object, or undefined on 404. */
  async get(apiPath: string): Promise<Record<string, unknown> | undefined> {
    const res = await this.request('GET', apiPath);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.statusError('GET', apiPath, res);
    return res.body as Record<string, unknown>;
  }

  async create(collectionPath: string, object: unknown): Promise<Record<string, unknown>> {
    const res = await this.request('POST', collectionPath, object);
    if (res.status !== 201 && res.status !== 200) throw this.statusError('POST', collectionPath, res);
    return res.body as Record<string, unknown>;
  }

  async replace(apiPath: string, object: unknown): Promise<Record<string, unknown>> {
    const res = await this.request('PUT', apiPath, object);
    if (res.status !== 200) throw this.statusError('PUT', apiPath, res);
    return res.body as Record<string, unknown>;
  }

  /** GET /version: proves the server answers, the TLS chain verifies and the credentials are accepted. */
  async version(): Promise<{ gitVersion?: string }> {
    const res = await this.request('GET', '/version');
    if (res.status !== 200) throw this.statusError('GET', '/version', res);
    return res.body as { gitVersion?: string };
  }
}

/** Where the API keeps an object of the kinds registration writes: collection and object paths. */
export function resourcePaths(object: { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } }): {
  collection: string;
  item: string;
} {
  const name = String(object.metadata?.name ?? '');
  const ns = object.metadata?.namespace ? String(object.metadata.namespace) : undefined;
  const plural: Record<string, string> = {
    ServiceAccount: 'serviceaccounts',
    Secret: 'secrets',
    ClusterRole: 'clusterroles',
    ClusterRoleBinding: 'clusterrolebindings',
  };
  const resource = plural[String(object.kind)];
  if (!resource || !name) throw new Error(`resourcePaths: unsupported object ${String(object.kind)} ${name}`);
  const apiVersion = String(object.apiVersion);
  const base = apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}`;
  const collection = ns ? `${base}/namespaces/${ns}/${resource}` : `${base}/${resource}`;
  return { collection, item: `${collection}/${name}` };
}
