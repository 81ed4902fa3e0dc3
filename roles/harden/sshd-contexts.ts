// The connection contexts sshd's effective configuration is checked in. `sshd -T` applies Match
// blocks only for the one context given with -C, so a `Match User root` or `Match Address
// 192.168.1.0/24` block that turns passwords or root logins back on is invisible to a check made
// for one user from one address. Checked instead: every user that matters (the one that must keep
// logging in, the inventory's login user, root, and a user no Match block is likely to name), each
// from this run's own client address (SSH_CONNECTION: what a real login of ours looks like, on the
// local address and port it reached) and from loopback.
import { q } from '../../lib/blocks/shell.ts';
import { parseEffective } from './sshd.ts';

/** a user name that exists on Debian-like systems and that Match User blocks rarely name */
export const ANY_USER = 'nobody';

export function contextUsers(verifyUser: string, loginUser: string): string[] {
  return [...new Set([verifyUser, loginUser, 'root', ANY_USER])];
}

/**
 * sh printing `@@context user=U,addr=A` followed by `sshd -T` for that context, for every user and
 * each of loopback and the client address. `$SSHD` must name sshd; `config` is e.g. `-f FILE`.
 */
export function effectiveContextsScript(users: string[], config = ''): string {
  return [
    '# shellcheck disable=SC2086 # split into its four words on purpose',
    'set -- ${SSH_CONNECTION:-}; ca=${1:-127.0.0.1}; la=${3:-127.0.0.1}; lp=${4:-22}',
    'set -- 127.0.0.1; [ "$ca" = 127.0.0.1 ] || set -- 127.0.0.1 "$ca"',
    `for u in ${users.map(q).join(' ')}; do for a in "$@"; do`,
    '  echo "@@context user=$u,addr=$a"',
    `  "$SSHD" -T ${config} -C "user=$u,host=$a,addr=$a,laddr=$la,lport=$lp" 2>&1 || true`,
    'done; done',
  ].join('\n');
}

/** The script's output → context ("user=U,addr=A") → effective settings. */
export function parseEffectiveContexts(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  for (const chunk of text.split(/^@@context /m).slice(1)) {
    const nl = chunk.indexOf('\n');
    const name = (nl < 0 ? chunk : chunk.slice(0, nl)).trim();
    out.set(name, parseEffective(nl < 0 ? '' : chunk.slice(nl + 1)));
  }
  return out;
}

/** Problems of every context, each prefixed with the context it appears in; [] when all agree. */
export function contextMismatches(text: string, check: (effective: Map<string, string[]>) => string[]): string[] {
  const contexts = parseEffectiveContexts(text);
  if (contexts.size === 0) return check(parseEffective(text));
  const problems: string[] = [];
  for (const [name, effective] of contexts) {
    for (const p of check(effective)) problems.push(`${p} (for ${name})`);
  }
  return problems;
}
