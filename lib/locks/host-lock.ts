// One run at a time per host: an flock on /run/clusterseed/run.lock, held for as long as this run's
// SSH connection lives, so a second run from another control machine (another state dir) is refused
// for that host. Taken in the facts probe, so it costs no round trip of its own.
//
// The probe runs in a subshell of the persistent shell and must return at once, so the lock is
// held by a small background process that inherits the locked descriptor: `tail --pid` on the
// connection's sshd process (found by walking up from the shell), which ends when the connection
// does, whatever ends it (the run finished, was killed, or the link dropped). A holder whose
// connection is ending lets go within moments (sshd's teardown, then 0.2 s), so a run finding the
// lock held waits up to 3 s for it before refusing: back-to-back runs (idempotency.mjs) never trip
// over the previous run's holder, and a live holder is refused after those 3 s.
import { shQuote } from '../ssh/shell.ts';

export const HOST_LOCK_FILE = '/run/clusterseed/run.lock';

/** The run taking the lock, as the lock file on the host names it. */
export interface HostLockOwner {
  pid: number;
  /** the control machine's host name */
  host: string;
  command: string;
  startedAt: string;
}

export class HostLockHeldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostLockHeldError';
  }
}

/** sh (as root) taking the lock; prints runLock=ok|held|error and, when held, the holder's file. */
export function hostLockProbe(owner: HostLockOwner): string {
  const json = JSON.stringify({ pid: owner.pid, host: owner.host, command: owner.command, startedAt: owner.startedAt });
  const prefix = json.slice(0, -1); // the host adds its own fields before the closing brace
  return [
    `f=${HOST_LOCK_FILE}`,
    'if ! { mkdir -p /run/clusterseed && chmod 0700 /run/clusterseed; }; then echo "runLock=error cannot create /run/clusterseed"; exit 0; fi',
    // the sshd process of this connection (OpenSSH >= 9.8 names it sshd-session): the lock lives as long as it
    'p=$$',
    'while [ "$p" -gt 1 ]; do',
    '  c=; IFS= read -r c <"/proc/$p/comm" || break',
    '  case $c in sshd|sshd-session) break ;; esac',
    '  s=$(cat "/proc/$p/stat") || break',
    // after "(comm) " come the state and the parent's pid
    '  s=${s##*") "}',
    '  s=${s#* }',
    '  p=${s%% *}',
    'done',
    '[ "$p" -gt 1 ] || p=$$',
    'if ! exec 9>>"$f"; then echo "runLock=error cannot open $f"; exit 0; fi',
    // a run that just ended lets go within moments (its connection's teardown): wait that long, no longer
    'if ! flock -w 3 9; then',
    '  echo "runLock=held"',
    '  echo "runLockHolder=$(base64 -w0 <"$f")"',
    '  exit 0',
    'fi',
    'setsid tail -s 0.2 --pid="$p" -f /dev/null </dev/null >/dev/null 2>&1 &',
    `if ! printf '%s,"watch":%s,"holder":%s,"since":"%s"}\\n' ${shQuote(prefix)} "$p" "$!" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$f"; then`,
    '  echo "runLock=error cannot write $f"; exit 0',
    'fi',
    'echo "runLock=ok"',
  ].join('\n');
}

export type HostLockState = { state: 'ok' } | { state: 'held'; holder: string } | { state: 'error'; message: string };

export function parseHostLock(stdout: string): HostLockState {
  const line = (key: string) =>
    stdout
      .split('\n')
      .find((l) => l.startsWith(`${key}=`))
      ?.slice(key.length + 1);
  const state = line('runLock');
  if (state === 'ok') return { state: 'ok' };
  if (state === 'held') {
    const raw = Buffer.from(line('runLockHolder') ?? '', 'base64')
      .toString('utf8')
      .trim();
    return { state: 'held', holder: describeHostHolder(raw) };
  }
  return { state: 'error', message: state?.replace(/^error\s*/, '') || 'the lock probe printed nothing' };
}

/** "pid 123 on ctl, "site.mjs ...", started T (N s ago); on the host since T2, its sshd pid W" */
export function describeHostHolder(raw: string, now = Date.now()): string {
  try {
    const h = JSON.parse(raw) as HostLockOwner & { watch?: number; since?: string };
    const age = Math.max(0, Math.round((now - Date.parse(h.startedAt)) / 1000));
    return (
      `pid ${h.pid} on ${h.host}, "${h.command}", started ${h.startedAt} (${age} s ago)` +
      (h.watch ? `; it holds the lock through its SSH connection (sshd pid ${h.watch} on this host)` : '')
    );
  } catch {
    return raw ? `lock file says: ${raw}` : 'its lock file is empty';
  }
}
