// What a publish does to the branch, decided in one pure function shared by the GitHub and the
// git-remote backends.
//
// Policy for changes made by someone else (a "foreign" change: a file whose content on the branch
// head differs from what we published last time, or any file when we have never published there):
//   * files we do not manage (never rendered by us, not rendered now) are kept as they are;
//   * files we manage (rendered last time or now) that someone changed are a conflict: the publish is
//     refused with the list, unless `force`, which overwrites (or deletes) them with the render;
//   * a foreign change that already equals what we render is no conflict.
// All foreign changes are reported, kept or not. The new commit always goes on top of the current
// head (fast-forward only), so nothing of theirs is lost from history even with force.
import { buildTree, type TreeFile } from './git-objects.ts';
import type { DesiredFile } from './files.ts';
import type { PublishedState } from './state.ts';

export interface BranchHead {
  commit: string;
  tree: string;
  files: Map<string, TreeFile>;
  /** the head commit's author is the publishing identity (used when no state is recorded) */
  authoredByUs: boolean;
}

export interface ReconcileInput {
  desired: Map<string, DesiredFile>;
  /** null when the branch (or the whole repository) does not exist yet */
  head: BranchHead | null;
  /** what we recorded after the last publish to this target, null when never */
  last: PublishedState | null;
}

export interface PublishPlan {
  /** paths relative to the current head of the branch */
  added: string[];
  changed: string[];
  removed: string[];
  /** true when the branch already holds exactly this tree: no commit is made */
  unchanged: boolean;
  /** paths someone else added, changed or deleted since our last publish */
  foreignChanges: string[];
  /** foreign changes to files we render that the publish would overwrite or delete */
  conflicts: string[];
}

export interface Reconciled extends PublishPlan {
  /** the complete tree of the commit to make */
  files: Map<string, TreeFile>;
  treeSha: string;
}

function sameFile(a: TreeFile | undefined, b: TreeFile | undefined): boolean {
  if (!a || !b) return a === b;
  return a.sha === b.sha && a.mode === b.mode;
}

/** The files we consider ours and their content as we left them. */
function baseline(input: ReconcileInput): Map<string, TreeFile> | null {
  if (input.last) return new Map(Object.entries(input.last.files).map(([p, sha]) => [p, { mode: '100644', sha }]));
  // No record (first publish here, or the state folder was lost): a head we committed is taken as
  // ours entirely; anybody else's head is all foreign.
  if (input.head?.authoredByUs) return input.head.files;
  return null;
}

function foreignChanges(input: ReconcileInput, base: Map<string, TreeFile> | null): string[] {
  const { head, last } = input;
  if (last && head && head.commit === last.commit) return [];
  const theirs = head?.files ?? new Map<string, TreeFile>();
  const ours = base ?? new Map<string, TreeFile>();
  const paths = new Set([...theirs.keys(), ...ours.keys()]);
  return [...paths].filter((p) => !sameFile(theirs.get(p), ours.get(p))).sort();
}

export function reconcile(input: ReconcileInput): Reconciled {
  const { desired, head } = input;
  const base = baseline(input);
  const headFiles = head?.files ?? new Map<string, TreeFile>();
  const managed = new Set([...desired.keys(), ...(base?.keys() ?? [])]);

  const files = new Map<string, TreeFile>();
  for (const [p, f] of headFiles) if (!managed.has(p)) files.set(p, f);
  for (const [p, f] of desired) files.set(p, { mode: f.mode, sha: f.sha });
  const sorted = new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

  const foreign = foreignChanges(input, base);
  // A branch that vanished is recreated from the render: nothing of theirs to overwrite.
  const conflicts = head ? foreign.filter((p) => managed.has(p) && !sameFile(headFiles.get(p), sorted.get(p))) : [];

  const added: string[] = [];
  const changed: string[] = [];
  const removed: string[] = [];
  for (const [p, f] of sorted) {
    const before = headFiles.get(p);
    if (!before) added.push(p);
    else if (!sameFile(before, f)) changed.push(p);
  }
  for (const p of headFiles.keys()) if (!sorted.has(p)) removed.push(p);
  removed.sort();

  const treeSha = buildTree(sorted).sha;
  return {
    files: sorted,
    treeSha,
    added,
    changed,
    removed,
    unchanged: head !== null && head.tree === treeSha,
    foreignChanges: foreign,
    conflicts,
  };
}

/** The plan part of a reconcile result (what `--check` shows). */
export function toPlan(r: Reconciled): PublishPlan {
  const { added, changed, removed, unchanged, foreignChanges, conflicts } = r;
  return { added, changed, removed, unchanged, foreignChanges, conflicts };
}

export class PublishConflictError extends Error {
  readonly paths: string[];
  readonly foreignChanges: string[];
  constructor(target: string, paths: string[], foreign: string[]) {
    super(
      `publish to ${target} refused: someone else changed ${paths.length} file(s) that clusterseed renders, ` +
        `since its last publish: ${paths.join(', ')}. Carry the change into the templates or inventory, ` +
        `or rerun with --force to overwrite them (their commit stays in the history).`,
    );
    this.name = 'PublishConflictError';
    this.paths = paths;
    this.foreignChanges = foreign;
  }
}
