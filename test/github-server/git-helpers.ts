// Test helpers that look at a published repository the way a user would: a real `git clone`.
import { runOkSync } from '../../lib/process/index.ts';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readTreeFromDir } from '../../lib/publish/files.ts';

const gitEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };

export function runGit(args: string[], cwd?: string): string {
  return runOkSync(['git', ...args], { cwd, env: gitEnv, noStdin: true });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `clusterseed-${prefix}-`));
}

/** Clones a bare repo (by path) and returns its files and the branch's commit list (newest first). */
export async function cloneFiles(
  repoPath: string,
  branch = 'main',
): Promise<{ files: Map<string, string>; commits: string[]; dir: string; cleanup: () => void }> {
  const base = tempDir('clone');
  const dir = path.join(base, 'work');
  runGit(['clone', '-q', '--branch', branch, `file://${repoPath}`, dir]);
  const raw = await readTreeFromDir(dir);
  const files = new Map([...raw].map(([p, b]) => [p, b.toString('utf8')]));
  const commits = runGit(['log', '--format=%H', branch], dir).trim().split('\n').filter(Boolean);
  return { files, commits, dir, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** Someone else pushes a commit to the branch: writes (or deletes, with null) files and pushes. */
export function foreignCommit(repoPath: string, changes: Record<string, string | null>, branch = 'main'): string {
  const base = tempDir('foreign');
  try {
    const dir = path.join(base, 'work');
    runGit(['clone', '-q', '--branch', branch, `file://${repoPath}`, dir]);
    for (const [p, content] of Object.entries(changes)) {
      const file = path.join(dir, p);
      if (content === null) runGit(['rm', '-q', p], dir);
      else {
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, content);
        runGit(['add', p], dir);
      }
    }
    runGit(
      ['-c', 'user.name=Someone Else', '-c', 'user.email=someone@example.test', 'commit', '-q', '--no-gpg-sign', '-m', 'foreign change'],
      dir,
    );
    runGit(['push', '-q', 'origin', `HEAD:${branch}`], dir);
    return runGit(['rev-parse', 'HEAD'], dir).trim();
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

export function mapOf(obj: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(obj));
}
