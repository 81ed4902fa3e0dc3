// The sshd of the machine running the tests: unit tests check what roles/harden renders with its
// `sshd -t/-T`, and its version decides the algorithms.
import { runCollectSync } from '../../lib/process/index.ts';
import { mkdirSync } from 'node:fs';

/** OpenSSH version of this machine's sshd ("9.2"); throws when openssh-server is missing. */
export function localSshdVersion(): string {
  let out = '';
  try {
    const r = runCollectSync(['sshd', '-V'], { noStdin: true });
    out = `${r.stderr}${r.stdout}`;
  } catch {
    // no sshd: the message below
  }
  const m = /OpenSSH_(\d+\.\d+)/.exec(out);
  if (!m) throw new Error('these tests need sshd (openssh-server) on the machine that runs them');
  // sshd -t/-T insist on the privilege separation directory, which only the ssh unit creates
  // (RuntimeDirectory=sshd): where no sshd ever ran (CI installs it without starting it), make it
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  return m[1];
}
