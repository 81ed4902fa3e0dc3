/** POSIX single-quote a word for sh: the one quoter of lib/ssh/shell.ts (always quoted). */
export { shSingleQuote as q } from '../ssh/shell.ts';

/** Run a remote command as root and throw a readable error when it fails. */
import type { HostContext } from '../runner/types.ts';
export async function run(ctx: HostContext, script: string, what: string, stdin?: string | Buffer): Promise<string> {
  const res = await ctx.conn.exec(script, { become: true, stdin });
  if (res.code !== 0) {
    const detail = (res.stderr || res.stdout).trim().split('\n').slice(-5).join('\n');
    throw new Error(`${what} failed (exit ${res.code}): ${detail}`);
  }
  return res.stdout;
}
