// One command over a fresh ssh2 connection, for callers outside a Transport (the lab's VMs, the
// harness's own checks): connect, exec, collect, close. The caller's ConnectConfig decides host key
// checking and login.
import ssh2 from 'ssh2';

export interface RemoteResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function execOnce(
  config: ssh2.ConnectConfig,
  command: string,
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<RemoteResult> {
  const at = `ssh ${config.host}:${config.port}`;
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    const finish = (err: Error | null, result?: RemoteResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end();
      if (err) reject(err);
      else resolve(result!);
    };
    const timer = setTimeout(() => finish(new Error(`${at}: "${command}" timed out`)), opts.timeoutMs ?? 180_000);
    client.on('ready', () => {
      client.exec(command, (err, stream) => {
        if (err) return finish(err);
        let stdout = '';
        let stderr = '';
        stream.on('data', (d: Buffer) => (stdout += d));
        stream.stderr.on('data', (d: Buffer) => (stderr += d));
        stream.on('close', (code: number | null) => finish(null, { code: code ?? -1, stdout, stderr }));
        if (opts.input !== undefined) stream.end(opts.input);
      });
    });
    client.on('error', (err) => finish(err));
    client.on('close', () => finish(new Error(`${at}: connection closed`)));
    client.connect(config);
  });
}
