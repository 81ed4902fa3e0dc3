// A Transport that hands everything to a real one and keeps every script sent to `exec`: lets a
// host test collect exactly what clusterseed runs on a host (probes, changes, handlers).
import type { ExecOptions, ExecResult, Transport, UploadOptions } from '../../lib/ssh/types.ts';

export interface RecordedScript {
  host: string;
  script: string;
}

export class RecordingTransport implements Transport {
  constructor(
    private readonly inner: Transport,
    private readonly sink: RecordedScript[],
  ) {}
  get host() {
    return this.inner.host;
  }
  get roundTrips() {
    return this.inner.roundTrips;
  }
  connect(): Promise<void> {
    return this.inner.connect();
  }
  exec(script: string, opts?: ExecOptions): Promise<ExecResult> {
    this.sink.push({ host: this.inner.host.name, script });
    return this.inner.exec(script, opts);
  }
  upload(path: string, content: string | Buffer, opts?: UploadOptions): Promise<void> {
    return this.inner.upload(path, content, opts);
  }
  download(path: string, opts?: { become?: boolean }): Promise<Buffer> {
    return this.inner.download(path, opts);
  }
  reconnect(deadlineMs: number): Promise<void> {
    return this.inner.reconnect(deadlineMs);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
