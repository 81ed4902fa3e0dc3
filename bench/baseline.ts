// The baseline of `npm run bench -- --baseline REF|DIR`: an older clusterseed timed in the SAME run
// as this checkout, on the same machine, on fresh labs of its own, so that "no slower than before"
// is a comparison of runs that shared the machine's load and the same Ansible samples, not of two
// runs on different days. A git ref becomes a throwaway worktree of this repository (with this
// checkout's node_modules linked in); a directory is used as it is.
import { existsSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { runOk, runSync } from '../lib/process/index.ts';
import { UsageError } from '../cli/args.ts';

/** The child entry a checkout must have to be timed (its CLI has been stable since it was added). */
export const ENTRY = path.join('bench', 'clusterseed-run.ts');

export interface Baseline {
  /** e.g. "6a067c5" for a ref, the directory's name for a directory */
  label: string;
  /** the checkout whose bench/clusterseed-run.ts is run, as the working directory of the run */
  root: string;
  /** removes the worktree made for a ref; nothing for a directory */
  remove(): Promise<void>;
}

/**
 * A directory holding a checkout (bench/clusterseed-run.ts and node_modules), or a git ref of the
 * repository at `repoRoot` checked out under `workDir`.
 */
export async function prepareBaseline(spec: string, repoRoot: string, workDir: string): Promise<Baseline> {
  const asDir = path.resolve(spec);
  if (existsSync(asDir)) {
    if (!existsSync(path.join(asDir, ENTRY))) throw new UsageError(`--baseline ${spec}: the directory has no ${ENTRY}`);
    if (!existsSync(path.join(asDir, 'node_modules'))) throw new UsageError(`--baseline ${spec}: the directory has no node_modules`);
    return { label: path.basename(asDir), root: asDir, remove: async () => undefined };
  }
  const git = (...args: string[]) => runOk(['git', '-C', repoRoot, ...args], { timeoutMs: 60_000 });
  let commit: string;
  try {
    commit = (await git('rev-parse', '--verify', '--quiet', `${spec}^{commit}`)).trim();
  } catch (err) {
    throw new UsageError(`--baseline ${spec}: neither a directory nor a commit of ${repoRoot} (${(err as Error).message.trim()})`);
  }
  const root = path.join(workDir, 'baseline');
  await git('worktree', 'add', '--detach', root, commit);
  // Ctrl-C ends the bench through process.exit (the lab's signal handler): the worktree must not
  // stay registered in the repository then either
  const removeNow = () => runSync(['git', '-C', repoRoot, 'worktree', 'remove', '--force', root], 30_000);
  process.once('exit', removeNow);
  const remove = async () => {
    process.off('exit', removeNow);
    await git('worktree', 'remove', '--force', root).catch(() => undefined);
  };
  if (!existsSync(path.join(root, ENTRY))) {
    await remove();
    throw new UsageError(`--baseline ${spec}: commit ${commit.slice(0, 7)} has no ${ENTRY}`);
  }
  // the dependencies of this checkout: a baseline whose package.json differs could need others,
  // which a run of it then reports as a failed run, not as a timing
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'));
  return { label: commit.slice(0, 7), root, remove };
}
