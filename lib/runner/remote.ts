// The remote commands of the runner and of every block (lib/blocks/shell.ts re-exports it): run as
// root, a failure thrown with the command's last lines.
import type { HostContext } from './types.ts';

export async function run(ctx: HostContext, script: string, what: string, stdin?: string | Buffer): Promise<string> {
  const res = await ctx.conn.exec(script, { become: true, stdin });
  if (res.code !== 0) {
    const detail = (res.stderr || res.stdout).trim().split('\n').slice(-5).join('\n');
    throw new Error(`${what} failed (exit ${res.code}): ${detail}`);
  }
  return res.stdout;
}
