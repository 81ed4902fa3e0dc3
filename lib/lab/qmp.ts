// A minimal QEMU Machine Protocol client: newline-delimited JSON over a unix socket. The lab uses it
// to learn why a guest stopped (SHUTDOWN event: guest-reset vs guest-shutdown) and to quit QEMU.
import net from 'node:net';
import { sleep } from './proc.ts';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
}

export class QmpClient {
  private buffer = '';
  private pending: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  private closed = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly onEvent: (e: QmpEvent) => void,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('close', () => {
      this.closed = true;
      for (const p of this.pending.splice(0)) p.reject(new Error('QMP connection closed'));
    });
    socket.on('error', () => undefined);
  }

  /** Connects (retrying while QEMU creates the socket), negotiates capabilities. */
  static async connect(socketPath: string, onEvent: (e: QmpEvent) => void, timeoutMs = 10_000): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(socketPath);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const client = new QmpClient(socket, onEvent);
        // the greeting counts as the first reply
        await client.nextReply();
        await client.execute('qmp_capabilities');
        return client;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`QMP socket ${socketPath}: ${(err as Error).message}`);
        await sleep(100);
      }
    }
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('QMP connection closed'));
    const reply = this.nextReply();
    this.socket.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    return reply;
  }

  close(): void {
    this.socket.destroy();
  }

  private nextReply(): Promise<unknown> {
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof msg.event === 'string') {
        this.onEvent(msg as unknown as QmpEvent);
        continue;
      }
      const waiter = this.pending.shift();
      if (!waiter) continue;
      if (msg.error) waiter.reject(new Error(`QMP: ${JSON.stringify(msg.error)}`));
      else waiter.resolve(msg.return ?? msg.QMP);
    }
  }
}
