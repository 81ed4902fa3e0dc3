// One exec request on an open connection: write stdin, collect stdout/stderr as bytes, wait for the
// exit status. A channel that closes without an exit status means the connection was lost.
import os from 'node:os';
import type { Client, ClientChannel } from 'ssh2';
import { TransportError } from './types.ts';

/** The server refused a new channel: the command never started, so trying again is safe. */
export class ChannelOpenError extends TransportError {
  constructor(message: string) {
    super(message, 'unreachable');
  }
}

export interface RawResult {
  code: number;
  signal?: string;
  stdout: Buffer;
  stderr: Buffer;
}

export interface RunOptions {
  /** written to stdin, then EOF (without it stdin is closed at once) */
  stdin?: Buffer;
  /** close the channel after this long and reject with kind 'timeout' */
  timeoutMs?: number;
  /** label for error messages */
  label: string;
}

/** Start a command and hand over its channel (for a long-lived one, e.g. a persistent shell). */
export function openChannel(client: Client, command: string, label: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.exec(command, (err, channel) => {
        if (err) reject(new ChannelOpenError(`${label}: cannot start a command: ${err.message}`));
        else resolve(channel);
      });
    } catch (err) {
      reject(new TransportError(`${label}: cannot start a command: ${(err as Error).message}`, 'unreachable'));
    }
  });
}

export function runCommand(client: Client, command: string, opts: RunOptions): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const fail = (err: TransportError) => {
      clearTimeout(timer);
      reject(err);
    };
    try {
      client.exec(command, (err, channel) => {
        if (err) {
          fail(new ChannelOpenError(`${opts.label}: cannot start a command: ${err.message}`));
          return;
        }
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let exit: { code: number | null; signal?: string } | undefined;
        let timedOut = false;
        channel.on('data', (d: Buffer) => stdout.push(d));
        channel.stderr.on('data', (d: Buffer) => stderr.push(d));
        channel.on('exit', (code: number | null, signal?: string) => {
          exit = { code, signal: signal ?? undefined };
        });
        channel.on('error', () => {
          // reported through 'close' without an exit status
        });
        channel.on('close', () => {
          clearTimeout(timer);
          if (timedOut) {
            reject(new TransportError(`${opts.label}: command timed out after ${opts.timeoutMs} ms`, 'timeout'));
          } else if (!exit) {
            reject(new TransportError(`${opts.label}: connection lost while a command was running`, 'unreachable'));
          } else {
            resolve({
              // killed by a signal: report it the way a shell would (128 + signal number)
              code: exit.code ?? 128 + (signalNumber(exit.signal) ?? 0),
              signal: exit.signal,
              stdout: Buffer.concat(stdout),
              stderr: Buffer.concat(stderr),
            });
          }
        });
        if (opts.timeoutMs !== undefined) {
          timer = setTimeout(() => {
            timedOut = true;
            try {
              channel.signal('KILL');
            } catch {
              // servers may not support signals; closing the channel is enough for us
            }
            channel.close();
          }, opts.timeoutMs);
        }
        // a remote command that does not read stdin may close first: ignore EPIPE-like errors
        channel.stdin?.on?.('error', () => {});
        if (opts.stdin && opts.stdin.length > 0) channel.end(opts.stdin);
        else channel.end();
      });
    } catch (err) {
      fail(new TransportError(`${opts.label}: cannot start a command: ${(err as Error).message}`, 'unreachable'));
    }
  });
}

function signalNumber(name: string | undefined): number | undefined {
  if (!name) return undefined;
  const key = (name.startsWith('SIG') ? name : `SIG${name}`) as keyof typeof os.constants.signals;
  return os.constants.signals[key];
}
