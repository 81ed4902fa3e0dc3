// A Transport that runs scripts on this machine with sh: lets runner tests execute real probes
// and changes in a temp directory without SSH. Counts round trips like the SSH transport.
import { mkdirSync, readFileSync, renameSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../lib/process/index.ts';
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
    return run(['sh', '-c', script], { input: opts.stdin ?? '' }).then(({ code, stdout, stderr }) => ({ code, stdout, stderr }));
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
