// The transport calls a role needs besides changing state, so that roles call blocks and blocks
// call the transport: a file's text (for a diff), and a root command whose exit code is an answer
// rather than a failure (a status query, a restore script that says what it found).
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
