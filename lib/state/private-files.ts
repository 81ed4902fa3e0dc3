// The control machine's private state: every file clusterseed keeps under `.clusterseed/` (join
// tokens, deploy and sealing keys, generated passwords, sealed-secret cache, cluster access, the
// admin kubeconfig, publish state, the run lock) is written and read here, with one policy:
//  - files are 0600 and directories 0700, whatever the umask;
//  - a write is atomic: an O_EXCL temp file in the same directory, written, fsynced, renamed over
//    the name, and the directory fsynced; a crash leaves the old file or the new one, never half;
//  - a file made once (a key, a token) is created complete and link()ed to its name, which never
//    overwrites: of two creators one wins and the other gets false (and reads the winner's file);
//  - a symbolic link planted at a name is never followed: reading refuses it, writing replaces it;
//  - a loose mode (group or other may read) is TIGHTENED, and said so: the file back to 0600, a
//    directory of ours back to 0700, each with a warning naming it (`warn`, else stderr). A file
//    owned by someone else cannot be tightened: that is refused with `chmod 600 FILE`.
// Files on remote hosts are not this module's job (the transport uploads them). Foundation layer:
// imports only node:.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  chmodSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { UserError } from '../report/user-error.ts';

export const STATE_DIR = '.clusterseed';
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** What the policy says about a loosened mode, e.g. `warn: (m) => log.warn(m)`. */
export type Warn = (message: string) => void;

export interface PrivateOptions {
  /** told when a loose mode was tightened; stderr when absent */
  warn?: Warn;
}

/** A state file the policy refuses (a link, not a file, someone else's loose file). */
export class StateFileError extends UserError {}

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(3, '0');
const defaultWarn: Warn = (m) => void process.stderr.write(`warning: ${m}\n`);
const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** Creates `dir` (and missing parents) 0700; an existing directory is left as it is. True when created. */
export function makePrivateDir(dir: string): boolean {
  const first = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first === undefined) return false;
  // mkdir's mode is filtered by the umask: set it on every level this call created
  for (let d = dir; ; d = path.dirname(d)) {
    chmodSync(d, PRIVATE_DIR_MODE);
    if (d === first || path.dirname(d) === d) break;
  }
  return true;
}

/**
 * A private directory of ours: created 0700, or, when it exists with group/other access and
 * belongs to this user, tightened to 0700 with a warning. True when created.
 */
export function ensurePrivateDir(dir: string, opts: PrivateOptions = {}): boolean {
  if (makePrivateDir(dir)) return true;
  const st = statSync(dir); // a link to a directory is followed: only file names are never followed
  if (!st.isDirectory()) throw new StateFileError(`${dir}: not a directory`);
  if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) {
    chmodSync(dir, PRIVATE_DIR_MODE);
    (opts.warn ?? defaultWarn)(`${dir} was open to group or others (mode ${octal(st.mode)}); its mode is now 700`);
  }
  return false;
}

/** A `.gitignore` of `*` in `dir` (when it has none), so nothing in it is ever committed by accident. */
export function ignoreInGit(dir: string): void {
  createExclusive(path.join(dir, '.gitignore'), '*\n', 0o644);
}

/**
 * The text of a private file, or undefined when it does not exist. A symbolic link is refused (not
 * followed); a loose mode is tightened to 0600 and reported through `warn`.
 */
export function readPrivate(file: string, opts: PrivateOptions = {}): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    if (errno(err) === 'ELOOP')
      throw new StateFileError(
        `${file} is a symbolic link; clusterseed does not follow links for its private state: put the file itself there`,
      );
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new StateFileError(`${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      try {
        fchmodSync(fd, PRIVATE_FILE_MODE);
      } catch (err) {
        throw new StateFileError(
          `${file} is readable by others (mode ${octal(st.mode)}) and cannot be tightened (${errno(err)}): chmod 600 ${file}`,
        );
      }
      (opts.warn ?? defaultWarn)(`${file} was readable by group or others (mode ${octal(st.mode)}); its mode is now 600`);
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** true when something (a file, a link, anything) is at `file` */
export function privateExists(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch (err) {
    if (errno(err) === 'ENOENT') return false;
    throw err;
  }
}

function tempNameFor(file: string): string {
  return `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

/** A fresh O_EXCL file beside `file` holding `content` (mode set regardless of the umask), fsynced. */
function writeTemp(file: string, content: string | Buffer, mode: number): string {
  const tmp = tempNameFor(file);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkQuietly(tmp);
    throw err;
  }
  closeSync(fd);
  return tmp;
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/** fsync a directory so a rename or link in it survives a crash. */
function syncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } catch (err) {
    // some file systems cannot fsync a directory: the data itself is synced already
    if (errno(err) !== 'EINVAL' && errno(err) !== 'EISDIR') throw err;
  } finally {
    closeSync(fd);
  }
}

/** for tests: runs between the complete temp file and the rename (a crash there) */
export const faults: { beforeRename?: (tmp: string) => void } = {};

/**
 * Writes `content` to `file` atomically, 0600 (a missing parent is created 0700). Whatever was at
 * the name (a file, a planted link) is replaced, never written through.
 */
export function writePrivate(file: string, content: string | Buffer): void {
  makePrivateDir(path.dirname(file));
  const tmp = writeTemp(file, content, PRIVATE_FILE_MODE);
  try {
    faults.beforeRename?.(tmp);
    renameSync(tmp, file);
  } catch (err) {
    unlinkQuietly(tmp);
    throw err;
  }
  syncDir(path.dirname(file));
}

function createExclusive(file: string, content: string | Buffer, mode: number): boolean {
  const tmp = writeTemp(file, content, mode);
  try {
    linkSync(tmp, file);
  } catch (err) {
    if (errno(err) === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkQuietly(tmp);
  }
  syncDir(path.dirname(file));
  return true;
}

/**
 * Creates `file` (0600, complete, a missing parent 0700) unless something is at its name: true when
 * this call created it, false when it existed (another creator was first: the file is theirs and
 * complete). Never overwrites, and never follows a link planted there.
 */
export function createPrivate(file: string, content: string | Buffer): boolean {
  makePrivateDir(path.dirname(file));
  return createExclusive(file, content, PRIVATE_FILE_MODE);
}
