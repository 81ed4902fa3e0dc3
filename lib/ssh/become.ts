// How a script is launched on the host: the remote command line (what `ps` shows, so it must never
// hold a secret) and the bytes written to the channel's stdin ahead of the caller's own stdin.
//
//   no become:        [timeout ...] sh -c '<script>'
//   sudo, no password: sudo -n -- [timeout ...] sh -c '<script>'
//   sudo, password:    sudo -k -S -p '' -- [timeout ...] sh -c '<prelude><script>'
//                      stdin: <password>\n<sentinel>\n<caller's stdin>
//
// With a password, sudo -S reads it from stdin one byte at a time up to the newline, so the rest of
// stdin reaches the script intact. If the sudoers rule turns out to be NOPASSWD, sudo reads nothing
// and the password line would reach the script: the prelude reads up to the per-call sentinel line
// so the caller's stdin starts at the same place in both cases.
import { randomBytes } from 'node:crypto';
import { shQuote } from './shell.ts';

export interface LaunchOptions {
  /** run through sudo */
  sudo: boolean;
  /** sudo password (from the host's becomePasswordEnv); undefined: sudo -n */
  password?: string;
  /** kill the script on the host after this many ms (coreutils timeout) */
  timeoutMs?: number;
}

export interface Launch {
  /** the remote command line: visible in `ps`, no secrets */
  command: string;
  /** bytes to write to stdin before the caller's stdin (secret: holds the password) */
  stdinPrefix?: Buffer;
}

/** Exit code GNU timeout uses when it killed the command. */
export const TIMEOUT_EXIT_CODE = 124;

/** Build the launch of a POSIX sh script (`body` is the script text or `. /path/to/script`). */
export function buildLaunch(body: string, opts: LaunchOptions): Launch {
  const words: string[] = [];
  let prelude = '';
  let stdinPrefix: Buffer | undefined;
  if (opts.sudo && opts.password !== undefined) {
    if (/[\r\n\0]/.test(opts.password)) throw new Error('a sudo password cannot contain a newline or NUL');
    const sentinel = `clusterseed-${randomBytes(12).toString('hex')}`;
    words.push("sudo -k -S -p '' --");
    prelude = `IFS= read -r __cs_l || exit 125\n` + `[ "$__cs_l" = ${sentinel} ] || IFS= read -r __cs_l || exit 125\n` + `unset __cs_l\n`;
    stdinPrefix = Buffer.from(`${opts.password}\n${sentinel}\n`);
  } else if (opts.sudo) {
    words.push('sudo -n --');
  }
  if (opts.timeoutMs !== undefined) {
    // -k: SIGKILL if TERM is ignored; timeout signals its whole process group
    words.push(`timeout -k 5 ${Math.max(1, Math.ceil(opts.timeoutMs / 1000))}`);
  }
  words.push('sh -c', shQuote(prelude + body));
  return { command: words.join(' '), stdinPrefix };
}

/** Messages sudo prints on stderr when it refuses to run the command at all. */
const SUDO_REFUSALS = [
  /^sudo: a password is required/,
  /^sudo: \d+ incorrect password attempts?/,
  /^sudo: no password was provided/,
  /^sudo: a terminal is required/,
  /is not in the sudoers file/,
  /^Sorry, user \S+ may not run sudo/,
];

/**
 * When sudo itself refused (exit 1 and its message among the first stderr lines, before anything
 * the script could print), that message; else undefined.
 */
export function sudoRefusal(code: number, stderr: string): string | undefined {
  if (code !== 1) return undefined;
  const head = stderr.split('\n', 5);
  return head.find((line) => SUDO_REFUSALS.some((re) => re.test(line)))?.trim();
}
