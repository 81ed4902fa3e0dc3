// The two helpers every block and role uses to talk to a host's shell, defined below the blocks:
// the one POSIX quoter (lib/ssh/shell.ts, always quoted) and the runner's run-as-root-or-throw.

/** POSIX single-quote a word for sh. */
export { shSingleQuote as q } from '../ssh/shell.ts';

/** Run a remote command as root and throw a readable error (the last lines of its output) when it fails. */
export { run } from '../runner/remote.ts';
