// Options and results shared by the publish backends (GitHub API, any git remote).
import type { Logger } from '../runner/types.ts';
import type { FileInput } from './files.ts';

export interface CommitIdentity {
  name: string;
  email: string;
}

/** Commits are made by this identity unless configured. */
export const DEFAULT_AUTHOR: CommitIdentity = { name: 'clusterseed', email: 'clusterseed@localhost' };

export const DEFAULT_BRANCH = 'main';

export const DEFAULT_MESSAGE = 'clusterseed: publish rendered GitOps repository';

export interface PublishCommon {
  /** the rendered repository: path → content, or a directory to read */
  files: FileInput;
  /** the control machine's working folder; state lives in <workDir>/.clusterseed/ */
  workDir: string;
  branch?: string;
  author?: CommitIdentity;
  message?: string;
  /** overwrite files we render that someone else changed (see plan.ts for the policy) */
  force?: boolean;
  log?: Logger;
}

export interface PublishResult {
  /** the branch head after the publish (absent only if nothing was ever committed) */
  commit?: string;
  /** true when this publish created the repository (GitHub, local bare default) */
  created: boolean;
  /** true when the branch already held this tree: no commit was made */
  unchanged: boolean;
  /** paths someone else changed since our last publish (kept, or overwritten with force) */
  foreignChanges: string[];
  /** with force: the foreign changes the publish overwrote */
  overwritten: string[];
  /** what the commit changed relative to the previous head (all empty when unchanged) */
  added: string[];
  changed: string[];
  removed: string[];
  /** where the repository lives, for the Argo CD repo URL (never holds credentials) */
  remote: string;
}

/** A logger that drops everything: the default when the caller passes none. */
export const silentLogger: Logger = { info() {}, verbose() {}, debug() {}, warn() {} };
