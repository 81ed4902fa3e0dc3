// What the read key may do on the host: one forced command that serves git-upload-pack of one
// repository and refuses everything else. The user's login shell is git-shell, which runs a
// forced command only when it is a program in ~/git-shell-commands/ (git's shell.c), so the
// script lives there, owned by root; `restrict` turns off every forwarding, the pty and ~/.ssh/rc.
import { q } from '../../lib/blocks/shell.ts';

/** The forced command's name, as git-shell finds it in ~/git-shell-commands/. */
export const SERVE_COMMAND = 'clusterseed-read-only';

/**
 * The forced command: SSH_ORIGINAL_COMMAND is what the client asked for. Git clients send
 * `git-upload-pack '<path>'` (OpenSSH git, go-git); `git upload-pack` is accepted as git-shell does.
 */
export function forcedCommandScript(repoPath: string): string {
  const quoted = q(repoPath);
  return [
    '#!/bin/sh',
    '# Written by clusterseed (role gitops-repo): the only command the Argo CD read key may run.',
    `repo=${quoted}`,
    'case "${SSH_ORIGINAL_COMMAND:-}" in',
    `  "git-upload-pack '$repo'" | "git upload-pack '$repo'")`,
    '    exec git-upload-pack --strict -- "$repo" ;;',
    'esac',
    'echo "clusterseed: this key may only read $repo (git-upload-pack); refused: ${SSH_ORIGINAL_COMMAND:-an interactive login}" >&2',
    'exit 1',
    '',
  ].join('\n');
}

/** One authorized_keys line: the public key, restricted to the forced command. */
export function authorizedKeysLine(publicKey: string): string {
  const [type, blob, ...comment] = publicKey.trim().split(/\s+/);
  if (type !== 'ssh-ed25519' || !blob || !/^[A-Za-z0-9+/]+=*$/.test(blob))
    throw new Error(`gitops-repo: not an ssh-ed25519 public key: ${publicKey.slice(0, 40)}`);
  return `restrict,command="${SERVE_COMMAND}" ${type} ${blob}${comment.length ? ` ${comment.join(' ')}` : ''}\n`;
}
