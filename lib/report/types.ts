// Types the reporting helpers (logger, diff) share with the runner; the runner re-exports them
// (lib/runner/types.ts), so they live here, below it.

/** Unified diff material for --diff; `secret` masks the contents. */
export interface FileDiff {
  path: string;
  before: string;
  after: string;
  secret?: boolean;
  /** size of the current content in bytes, for a secret whose `before` was not read */
  beforeBytes?: number;
  /** size of the new content in bytes (binary content is not measurable as text) */
  afterBytes?: number;
}

export interface Logger {
  info(msg: string): void;
  /** shown with -v */
  verbose(msg: string): void;
  /** shown with -vv (commands run) */
  debug(msg: string): void;
  warn(msg: string): void;
}
