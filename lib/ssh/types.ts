import type { HostSpec } from '../inventory/model.ts';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** set when the remote process was killed by a signal */
  signal?: string;
}

export interface ExecOptions {
  /** run through sudo; defaults to the host's `become` setting */
  become?: boolean;
  /** data written to the command's stdin (the way to pass secrets: never argv) */
  stdin?: string | Buffer;
  /** kill the command after this long */
  timeoutMs?: number;
}

export interface UploadOptions {
  mode?: number;
  owner?: string;
  group?: string;
  /** write as root through sudo (default: host.become) */
  become?: boolean;
}

/** One SSH connection to one host, reused for every command. */
export interface Transport {
  readonly host: HostSpec;
  /** number of SSH round trips (exec requests + SFTP operations batches) so far */
  readonly roundTrips: number;
  connect(): Promise<void>;
  /** run a POSIX sh script on the host */
  exec(script: string, opts?: ExecOptions): Promise<ExecResult>;
  /** write a file atomically: temp file in the same directory, fsync, mode/owner, rename */
  upload(path: string, content: string | Buffer, opts?: UploadOptions): Promise<void>;
  /** read a file (through sudo when become) */
  download(path: string, opts?: { become?: boolean }): Promise<Buffer>;
  /** drop the connection and connect again until `deadlineMs` from now (after a reboot or sshd restart) */
  reconnect(deadlineMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Errors the transport raises; `kind` lets the runner tell unreachable hosts from failed tasks. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly kind: 'unreachable' | 'hostkey-unknown' | 'hostkey-changed' | 'auth' | 'timeout' | 'exec',
  ) {
    super(message);
    this.name = 'TransportError';
  }
}
