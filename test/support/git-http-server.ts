// A git smart-HTTP server on 127.0.0.1 for tests: node's http server in front of
// `git http-backend` (CGI), with HTTP basic auth checked against one user and token. Pushes are
// allowed for that user (REMOTE_USER set enables receive-pack). It records every request line and
// whether its credentials were right, so tests can show a token never travelled in a URL.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { start } from '../../lib/process/index.ts';

export interface GitHttpServer {
  /** base URL, e.g. http://127.0.0.1:PORT (repositories are <url>/<name>.git) */
  url: string;
  /** every request: method, URL and the outcome of the auth check */
  requests: { method: string; url: string; auth: 'ok' | 'missing' | 'wrong' }[];
  close(): Promise<void>;
}

export async function startGitHttpServer(opts: { root: string; username: string; token: string }): Promise<GitHttpServer> {
  const requests: GitHttpServer['requests'] = [];
  const expected = 'Basic ' + Buffer.from(`${opts.username}:${opts.token}`).toString('base64');
  const server = http.createServer((req, res) => {
    const header = req.headers.authorization;
    const auth = !header ? 'missing' : header === expected ? 'ok' : 'wrong';
    requests.push({ method: req.method ?? '', url: req.url ?? '', auth });
    if (auth !== 'ok') {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end('authentication required\n');
      return;
    }
    const u = new URL(req.url ?? '/', 'http://localhost');
    const { child: cgi, done } = start(['git', 'http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: opts.root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.replace(/^\?/, ''),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        REMOTE_USER: opts.username,
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const stdin = cgi.stdin!;
    const stdout = cgi.stdout!;
    req.pipe(stdin);
    stdin.on('error', () => {});
    // CGI answer: headers (Status: ..., Content-Type: ...) up to a blank line, then the body
    let head = Buffer.alloc(0);
    let started = false;
    stdout.on('data', (chunk: Buffer) => {
      if (started) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      started = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const i = line.indexOf(':');
        const [k, v] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
        if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    const finish = () => {
      if (!started) res.writeHead(500).end('http-backend gave no answer\n');
      else res.end();
    };
    // a git that cannot start gets the same answer as one that says nothing
    done.then(finish, finish);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
