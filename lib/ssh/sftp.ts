// Promise forms of the SFTP requests the transport uses (ssh2's SFTPWrapper is callback based).
import type { OpenMode, SFTPWrapper, Stats } from 'ssh2';

export type SftpError = Error & { code?: number };
/** SFTP status codes (draft-ietf-secsh-filexfer-02) */
export const SFTP_NO_SUCH_FILE = 2;
export const SFTP_PERMISSION_DENIED = 3;

const WRITE_CHUNK = 32 * 1024;
const WRITES_IN_FLIGHT = 32;

/** Message of the error every request gets once its session is gone. */
export const SESSION_CLOSED = 'SFTP session closed: connection lost';

interface SessionState {
  closed: boolean;
  pending: Set<(err: Error) => void>;
}
const sessions = new WeakMap<SFTPWrapper, SessionState>();

// ssh2 fails the requests in flight when the connection dies, but a request made afterwards (a
// cleanup close/unlink, say) would wait forever: track the session and fail those at once.
function stateOf(s: SFTPWrapper): SessionState {
  let state = sessions.get(s);
  if (!state) {
    const st: SessionState = { closed: false, pending: new Set() };
    const end = () => {
      st.closed = true;
      for (const fail of st.pending) fail(new Error(SESSION_CLOSED));
      st.pending.clear();
    };
    s.once('end', end);
    s.once('close', end);
    sessions.set(s, st);
    state = st;
  }
  return state;
}

function call<T>(s: SFTPWrapper, fn: (cb: (err: SftpError | null | undefined, value?: T) => void) => void): Promise<T> {
  const state = stateOf(s);
  return new Promise<T>((resolve, reject) => {
    if (state.closed) {
      reject(new Error(SESSION_CLOSED));
      return;
    }
    state.pending.add(reject);
    const settle = (err: SftpError | null | undefined, value?: T) => {
      state.pending.delete(reject);
      if (err) reject(err);
      else resolve(value as T);
    };
    try {
      fn(settle);
    } catch (err) {
      settle(err as SftpError);
    }
  });
}

export const sftpOps = {
  realpath: (s: SFTPWrapper, p: string) => call<string>(s, (cb) => s.realpath(p, cb)),
  stat: (s: SFTPWrapper, p: string) => call<Stats>(s, (cb) => s.stat(p, cb)),
  lstat: (s: SFTPWrapper, p: string) => call<Stats>(s, (cb) => s.lstat(p, cb)),
  mkdir: (s: SFTPWrapper, p: string, mode: number) => call<void>(s, (cb) => s.mkdir(p, { mode }, (err) => cb(err))),
  chmod: (s: SFTPWrapper, p: string, mode: number) => call<void>(s, (cb) => s.chmod(p, mode, cb)),
  open: (s: SFTPWrapper, p: string, flags: OpenMode, mode: number) => call<Buffer>(s, (cb) => s.open(p, flags, { mode }, cb)),
  close: (s: SFTPWrapper, h: Buffer) => call<void>(s, (cb) => s.close(h, cb)),
  fchmod: (s: SFTPWrapper, h: Buffer, mode: number) => call<void>(s, (cb) => s.fchmod(h, mode, cb)),
  fchown: (s: SFTPWrapper, h: Buffer, uid: number, gid: number) => call<void>(s, (cb) => s.fchown(h, uid, gid, cb)),
  fsync: (s: SFTPWrapper, h: Buffer) => call<void>(s, (cb) => s.ext_openssh_fsync(h, cb)),
  rename: (s: SFTPWrapper, from: string, to: string) => call<void>(s, (cb) => s.ext_openssh_rename(from, to, cb)),
  unlink: (s: SFTPWrapper, p: string) => call<void>(s, (cb) => s.unlink(p, cb)),
  readFile: (s: SFTPWrapper, p: string) => call<Buffer>(s, (cb) => s.readFile(p, cb)),
};

/** Write all of `data` to an open handle, keeping several write requests in flight. */
export async function writeAll(s: SFTPWrapper, handle: Buffer, data: Buffer): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < data.length) {
      const offset = next;
      const length = Math.min(WRITE_CHUNK, data.length - offset);
      next += length;
      await call<void>(s, (cb) => s.write(handle, data, offset, length, offset, cb));
    }
  };
  const workers = Math.max(1, Math.min(WRITES_IN_FLIGHT, Math.ceil(data.length / WRITE_CHUNK)));
  await Promise.all(Array.from({ length: workers }, worker));
}

/** Remove a file, ignoring every error (cleanup after a failure). */
export function unlinkQuietly(s: SFTPWrapper, p: string): Promise<void> {
  return sftpOps.unlink(s, p).catch(() => undefined);
}
