// Inventory problems as the user sees them: `inventory.yaml:12:5: hosts.pi-1.port: must be ...`.
// Every problem carries its position so CLIs can print it without a stack trace.

/** A path into the inventory document, e.g. ['hosts', 'pi-1', 'taints', 0]. */
export type FieldPath = ReadonlyArray<string | number>;

export interface InventoryIssue {
  /** the inventory file as the user named it */
  file: string;
  /** 1-based; 0 when the problem has no position (e.g. the file cannot be read) */
  line: number;
  column: number;
  /** dotted field path, e.g. hosts.pi-1.port ('' for the document itself) */
  path: string;
  /** what is wrong, without file or path */
  message: string;
  /** what would have been accepted, when there is a single answer */
  expected?: string;
  severity: 'error' | 'warning';
}

const SIMPLE_KEY = /^[A-Za-z0-9_-]+$/;

/** hosts.pi-1.taints[0], hosts.desktop.labels["clusterseed.io/arch-pool"] */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (SIMPLE_KEY.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** One line: file:line:col: [warning: ]path: message */
export function formatIssue(issue: InventoryIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  const level = issue.severity === 'warning' ? 'warning: ' : '';
  const field = issue.path ? `${issue.path}: ` : '';
  return `${where}: ${level}${field}${issue.message}`;
}

/** Orders issues the way an editor would walk the file. */
export function sortIssues(issues: InventoryIssue[]): InventoryIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * Thrown for anything wrong with an inventory the user wrote (never for bugs of clusterseed).
 * `issues` holds every error found, in file order; `format()` is what a CLI prints.
 */
export class InventoryError extends Error {
  readonly issues: InventoryIssue[];
  readonly warnings: InventoryIssue[];

  constructor(issues: InventoryIssue[], warnings: InventoryIssue[] = []) {
    const sorted = sortIssues(issues);
    super(report(sorted, []));
    this.name = 'InventoryError';
    this.issues = sorted;
    this.warnings = sortIssues(warnings);
  }

  /** the file the (first) problem is in */
  get file(): string {
    return this.issues[0]?.file ?? '';
  }
  get line(): number {
    return this.issues[0]?.line ?? 0;
  }
  get column(): number {
    return this.issues[0]?.column ?? 0;
  }
  /** field path of the (first) problem */
  get field(): string {
    return this.issues[0]?.path ?? '';
  }
  get expected(): string | undefined {
    return this.issues[0]?.expected;
  }

  /** The user-facing report: one line per problem, warnings after errors, a count when several. */
  format(): string {
    return report(this.issues, this.warnings);
  }
}

function report(errors: InventoryIssue[], warnings: InventoryIssue[]): string {
  const lines = [...errors, ...warnings].map(formatIssue);
  if (errors.length > 1) lines.push(`${errors.length} errors in ${errors[0].file}`);
  return lines.join('\n');
}

export function isInventoryError(err: unknown): err is InventoryError {
  return err instanceof InventoryError;
}
