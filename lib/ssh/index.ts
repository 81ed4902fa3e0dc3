// Entry point of the SSH transport: createTransport() for each host, closeAll() at the end of a run.
import type { HostSpec } from '../inventory/model.ts';
import { SshTransport } from './connection.ts';
import type { TransportOptions } from './options.ts';

export { SshTransport } from './connection.ts';
export { RemoteFileNotFound } from './errors.ts';
export type { TransportOptions } from './options.ts';
export { shQuote, shJoin } from './shell.ts';
export { TransportError } from './types.ts';
export type { ExecOptions, ExecResult, Transport, UploadOptions } from './types.ts';

const open = new Set<SshTransport>();

/** A transport for one host; it connects on first use (or on connect()). */
export function createTransport(host: HostSpec, opts: TransportOptions): SshTransport {
  const transport = new SshTransport(host, opts, (t) => open.delete(t));
  open.add(transport);
  return transport;
}

/** Close every transport created here and not closed yet. */
export async function closeAll(): Promise<void> {
  await Promise.all([...open].map((t) => t.close()));
}
