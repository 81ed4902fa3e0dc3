// A thin wrapper over the `git` binary: no shell, bounded time, never prompts, and output masked
// before it can reach an error message (a remote URL may carry credentials).
import { run } from '../process/index.ts';
import { maskSecrets } from '../report/mask.ts';

export interface GitRunOptions {
  /** the repository (GIT_DIR) to run in; omitted for commands that need none (ls-remote, init) */
  gitDir?: string;
  input?: string | Buffer;
  env?: Record<string, string>;
  /** secrets to mask in error messages */
  secrets?: readonly string[];
  timeoutMs?: number;
  /** exit codes that are not an error (their result is returned) */
  okCodes?: number[];
}

export interface GitResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class GitCommandError extends Error {
  readonly code: number;
  readonly stderr: string;
  constructor(message: string, code: number, stderr: string) {
    super(message);
    this.name = 'GitCommandError';
    this.code = code;
    this.stderr = stderr;
  }
}

export async function git(args: string[], opts: GitRunOptions = {}): Promise<GitResult> {
  const secrets = opts.secrets ?? [];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // never wait for a password: no terminal prompt from git, and (detached below) no
    // controlling terminal for ssh to ask a passphrase or a host-key question on
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
    ...opts.env,
  };
  if (opts.gitDir) env.GIT_DIR = opts.gitDir;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  // detached: git is a process group leader, so a timeout kills its ssh/helper children with it
  const r = await run(['git', ...args], { env, input: opts.input, timeoutMs, detached: true, secrets });
  const code = r.signal ? -1 : r.code;
  const result = { stdout: r.stdout, stderr: maskSecrets(r.stderr, secrets), code };
  if (code !== 0 && !(opts.okCodes ?? []).includes(code)) {
    const what = maskSecrets(`git ${args.join(' ')}`, secrets);
    const why = code === -1 ? `killed after ${timeoutMs} ms` : `exit ${code}`;
    throw new GitCommandError(
      `${what}: ${why}: ${result.stderr.trim() || maskSecrets(result.stdout.trim(), secrets)}`,
      code,
      result.stderr,
    );
  }
  return result;
}

/**
 * HTTP basic auth for every request of one git command, passed through git's environment config
 * (GIT_CONFIG_COUNT/KEY/VALUE, git >= 2.31): the token is in neither argv (visible to every user
 * in /proc/<pid>/cmdline) nor the remote URL nor any file. Entries the caller's environment
 * already holds are kept. Returns the env to add and the strings to mask.
 */
export function basicAuthEnv(
  auth: { username: string; password: string },
  base: NodeJS.ProcessEnv = process.env,
): { env: Record<string, string>; secrets: string[] } {
  const n = Number.parseInt(base.GIT_CONFIG_COUNT ?? '0', 10) || 0;
  const encoded = Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64');
  return {
    env: {
      GIT_CONFIG_COUNT: String(n + 1),
      [`GIT_CONFIG_KEY_${n}`]: 'http.extraHeader',
      [`GIT_CONFIG_VALUE_${n}`]: `Authorization: Basic ${encoded}`,
    },
    secrets: [auth.password, encoded],
  };
}
