// The plain transport operations roles need besides the declarative blocks, so that roles call
// blocks and blocks call the transport: a file's text (for a diff), a file written whole (atomic:
// the transport's upload writes a temp file and renames it), and a root command whose exit code is
// an answer rather than a failure (a status query, a restore script that says what it found).
import type { HostContext } from '../runner/types.ts';
import type { ExecResult } from '../ssh/types.ts';

/** The text of a file on the host, read as root. */
export async function readText(ctx: HostContext, path: string): Promise<string> {
  return (await ctx.conn.download(path, { become: true })).toString('utf8');
}

/** Runs `script` as root and returns its result whatever the exit code (lib/blocks/shell.ts `run` throws instead). */
export function attempt(ctx: HostContext, script: string, opts: { stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<ExecResult> {
  return ctx.conn.exec(script, { become: true, ...opts });
}

export interface PutOptions {
  mode: number;
  /** default root */
  owner?: string;
  /** default root */
  group?: string;
}

/** Writes `content` to `path` as root, atomically, with the given mode and owner. */
export function putFile(ctx: HostContext, path: string, content: string | Buffer, opts: PutOptions): Promise<void> {
  return ctx.conn.upload(path, content, { mode: opts.mode, owner: opts.owner ?? 'root', group: opts.group ?? 'root', become: true });
}
