// Long-lived shells on one connection. A new SSH session per command costs the host an sshd
// session, the login shell, `sudo` (PAM, sudoers, a journal entry) and a new `sh`; a persistent
// shell pays that once and then runs each command in a subshell of its own. Measured on the test
// hosts this is most of what a no-op probe batch costs on top of its own processes.
//
// Commands see the login's SSH_CONNECTION also through sudo (which resets the environment).
//
// Protocol (the shell's stdin): a header line `<id> <script bytes> <stdin bytes | ->`, then the
// script, then the command's stdin. `head -c` reads exactly that many bytes (it never reads ahead),
// so the next header starts where the previous command's input ended. The shell answers with the
// command's output followed by `\n@@<id> <exit status>@@\n` on stdout and `\n@@<id>@@\n` on stderr;
// the id is random per command, so nothing a command prints can end its frame early.
//
// A command runs in `( eval "$script" )`: `exit`, `cd`, `set -e`, traps and variables stay in that
// subshell. Its stdin is /dev/null or a pipe from `head -c` that is drained after it finished (a
// command that reads less than it was given must not leave bytes that would be taken for the next
// header). `$$` is the shell's own PID: a command that kills it ends this shell, and the result is
// reported the way a one-off session reports it (exit status or signal); the pool opens another.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { ClientChannel } from 'ssh2';
import type { RawResult } from './channel.ts';
import { TransportError } from './types.ts';

/**
 * The loop (started as `sh -c LOOP sh "$SSH_CONNECTION"`: sudo drops the login's environment, and
 * the port this connection reached sshd on is what the firewall must keep open, see lib/facts).
 */
export const SHELL_LOOP = [
  'SSH_CONNECTION=${1-}; export SSH_CONNECTION; shift $#',
  'while IFS=" " read -r __cs_id __cs_n __cs_m; do',
  '  __cs_s=$(head -c "$__cs_n")',
  '  if [ "$__cs_m" = - ]; then',
  '    ( eval "$__cs_s" ) </dev/null',
  '  else',
  '    head -c "$__cs_m" | { ( eval "$__cs_s" ); __cs_rc=$?; cat >/dev/null; exit $__cs_rc; }',
  '  fi',
  '  __cs_rc=$?',
  `  printf '\\n@@%s %s@@\\n' "$__cs_id" "$__cs_rc"`,
  `  printf '\\n@@%s@@\\n' "$__cs_id" >&2`,
  'done',
].join('\n');

/** What one command on a persistent shell produced; `shellExited` when it ended the shell itself. */
export interface ShellResult extends RawResult {
  shellExited?: boolean;
}

/** Finds the end marker in a stream that arrives in chunks, without rescanning what came before. */
class FrameCollector {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  /** the last bytes seen: a marker can be split across chunks */
  private tail: Buffer = Buffer.alloc(0);
  /** bytes before the marker, once it has been seen with its closing `@@\n` */
  body?: Buffer;
  /** the text between the marker and its closing `@@` (on stdout: the exit status) */
  detail?: string;

  constructor(private readonly marker: Buffer) {}

  push(chunk: Buffer): void {
    if (this.body) return; // output after the frame (a background process): belongs to no command
    this.chunks.push(chunk);
    this.length += chunk.length;
    const window = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    const windowStart = this.length - window.length;
    const at = window.indexOf(this.marker);
    const close = at < 0 ? -1 : window.indexOf('@@\n', at + this.marker.length);
    if (close >= 0) {
      this.body = Buffer.concat(this.chunks, this.length).subarray(0, windowStart + at);
      this.detail = window.subarray(at + this.marker.length, close).toString('latin1');
      return;
    }
    // keep the marker seen so far (its end is still to come), or as much as could start one
    this.tail = at >= 0 ? window.subarray(at) : window.subarray(Math.max(0, window.length - this.marker.length - 16));
  }

  everything(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

interface Pending {
  out: FrameCollector;
  err: FrameCollector;
  resolve(r: ShellResult): void;
  reject(e: Error): void;
}

export class PersistentShell {
  private pending?: Pending;
  private exit?: { code: number | null; signal?: string };
  private closed = false;

  constructor(
    private readonly channel: ClientChannel,
    private readonly label: string,
    stdinPrefix?: Buffer,
  ) {
    channel.on('data', (d: Buffer) => this.take(d, 'out'));
    channel.stderr.on('data', (d: Buffer) => this.take(d, 'err'));
    channel.on('exit', (code: number | null, signal?: string) => {
      this.exit = { code, signal: signal ?? undefined };
    });
    channel.on('error', () => {
      // reported through 'close'
    });
    channel.stdin?.on?.('error', () => {});
    channel.on('close', () => this.onClose());
    if (stdinPrefix) channel.write(stdinPrefix);
  }

  /** false once the shell has ended (it exited, or the connection went away) */
  get alive(): boolean {
    return !this.closed && !this.exit;
  }

  run(script: Buffer, stdin?: Buffer): Promise<ShellResult> {
    if (!this.alive) return Promise.reject(new Error('persistent shell already closed'));
    if (this.pending) return Promise.reject(new Error('persistent shell is busy'));
    const id = `cs-${randomBytes(12).toString('hex')}`;
    return new Promise<ShellResult>((resolve, reject) => {
      this.pending = {
        out: new FrameCollector(Buffer.from(`\n@@${id} `)),
        err: new FrameCollector(Buffer.from(`\n@@${id}`)),
        resolve,
        reject,
      };
      const header = Buffer.from(`${id} ${script.length} ${stdin ? stdin.length : '-'}\n`);
      this.channel.write(Buffer.concat(stdin ? [header, script, stdin] : [header, script]));
    });
  }

  /** end the shell: EOF on its stdin ends the loop */
  close(): void {
    if (this.closed) return;
    try {
      this.channel.end();
    } catch {
      // already gone
    }
  }

  private take(data: Buffer, stream: 'out' | 'err'): void {
    const p = this.pending;
    if (!p) return;
    p[stream].push(data);
    if (!p.out.body || !p.err.body) return;
    this.pending = undefined;
    p.resolve({ code: Number(p.out.detail), stdout: p.out.body, stderr: p.err.body });
  }

  private onClose(): void {
    this.closed = true;
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    if (p.out.body && p.err.body) {
      p.resolve({ code: Number(p.out.detail), stdout: p.out.body, stderr: p.err.body });
    } else if (this.exit) {
      // the command ended the shell (or the shell never started, e.g. sudo refused): report it as
      // a one-off session reports a command that ended its own shell
      const { code, signal } = this.exit;
      p.resolve({
        code: code ?? 128 + (signalNumber(signal) ?? 0),
        ...(signal ? { signal } : {}),
        stdout: p.out.body ?? p.out.everything(),
        stderr: p.err.body ?? p.err.everything(),
        shellExited: true,
      });
    } else {
      p.reject(new TransportError(`${this.label}: connection lost while a command was running`, 'unreachable'));
    }
  }
}

/**
 * Idle shells by kind (through sudo or as the login user), opened on demand up to `max` in all;
 * callers beyond that wait for one to be free. Commands on one shell run one after the other.
 */
export class ShellPool {
  private readonly idle = new Map<string, PersistentShell[]>();
  private open = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number) {}

  async run(kind: string, start: () => Promise<PersistentShell>, script: Buffer, stdin?: Buffer): Promise<ShellResult> {
    const shell = await this.acquire(kind, start);
    try {
      return await shell.run(script, stdin);
    } finally {
      this.release(kind, shell);
    }
  }

  /** close every idle shell (busy ones end with their connection) */
  closeAll(): void {
    for (const shells of this.idle.values()) for (const s of shells) s.close();
    this.idle.clear();
  }

  private async acquire(kind: string, start: () => Promise<PersistentShell>): Promise<PersistentShell> {
    for (;;) {
      const shells = this.idle.get(kind) ?? [];
      for (let s = shells.pop(); s; s = shells.pop()) {
        if (s.alive) return s;
        this.open--;
      }
      if (this.open < this.max) break;
      // all shells are busy, or idle ones are of the other kind: end one of those to make room
      const other = [...this.idle.values()].find((list) => list.length > 0)?.pop();
      if (other) {
        other.close();
        this.open--;
        break;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.open++;
    try {
      return await start();
    } catch (err) {
      this.open--;
      this.waiting.shift()?.();
      throw err;
    }
  }

  private release(kind: string, shell: PersistentShell): void {
    if (shell.alive) {
      const list = this.idle.get(kind) ?? [];
      list.push(shell);
      this.idle.set(kind, list);
    } else {
      this.open--;
    }
    this.waiting.shift()?.();
  }
}

function signalNumber(name: string | undefined): number | undefined {
  if (!name) return undefined;
  const key = (name.startsWith('SIG') ? name : `SIG${name}`) as keyof typeof os.constants.signals;
  return os.constants.signals[key];
}
