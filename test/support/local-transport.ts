// A Transport that runs scripts on this machine with sh: lets runner tests execute real probes
// and changes in a temp directory without SSH. Counts round trips like the SSH transport.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import type { HostSpec } from '../../lib/inventory/model.ts';
import type { ExecOptions, ExecResult, Transport, UploadOptions } from '../../lib/ssh/types.ts';

export class LocalTransport implements Transport {
  roundTrips = 0;
  scripts: string[] = [];
  constructor(readonly host: HostSpec) {}
  async connect() {}
  exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.roundTrips++;
    this.scripts.push(script);
    return new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
      child.stdin.on('error', () => undefined); // a script that never reads stdin closes it early
      child.stdin.end(opts.stdin ?? '');
    });
  }
  async upload(p: string, content: string | Buffer, opts: UploadOptions = {}) {
    this.roundTrips++;
    mkdirSync(path.dirname(p), { recursive: true });
    const tmp = `${p}.tmp-${process.pid}`;
    writeFileSync(tmp, content);
    if (opts.mode !== undefined) chmodSync(tmp, opts.mode);
    renameSync(tmp, p);
  }
  async download(p: string) {
    this.roundTrips++;
    return readFileSync(p);
  }
  async reconnect() {}
  async close() {}
}

export function localHost(name = 'local'): HostSpec {
  return {
    name,
    address: '127.0.0.1',
    port: 22,
    user: 'root',
    become: false,
    cluster: 'test',
    groups: ['servers'],
    labels: {},
    taints: [],
    vars: {},
  };
}
