// `npm run bench -- --baseline REF`: a commit of the repository becomes a throwaway worktree with
// this checkout's node_modules linked in, and is removed again; a ref that names no commit is a
// usage error. Needs git.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { ENTRY, prepareBaseline } from '../../bench/baseline.ts';
import { UsageError } from '../../cli/args.ts';

function repoWithTwoCommits(): { repo: string; first: string } {
  const repo = mkdtempSync(path.join(os.tmpdir(), 'cs-baseline-repo-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  mkdirSync(path.join(repo, 'bench'));
  writeFileSync(path.join(repo, ENTRY), '// old\n');
  git('add', '.');
  git('commit', '-qm', 'old');
  const first = git('rev-parse', 'HEAD');
  writeFileSync(path.join(repo, ENTRY), '// new\n');
  git('commit', '-qam', 'new');
  mkdirSync(path.join(repo, 'node_modules'));
  return { repo, first };
}

test('a ref is checked out as a worktree with node_modules linked, and removed again', async () => {
  const { repo, first } = repoWithTwoCommits();
  const work = mkdtempSync(path.join(os.tmpdir(), 'cs-baseline-work-'));
  try {
    const b = await prepareBaseline('HEAD~1', repo, work);
    assert.is(b.label, first.slice(0, 7));
    assert.is(readFileSync(path.join(b.root, ENTRY), 'utf8'), '// old\n');
    assert.ok(lstatSync(path.join(b.root, 'node_modules')).isSymbolicLink());
    await b.remove();
    assert.not.ok(existsSync(b.root), 'the worktree is gone');
    const list = execFileSync('git', ['-C', repo, 'worktree', 'list'], { encoding: 'utf8' });
    assert.is(list.trim().split('\n').length, 1, list);
  } finally {
    rmSync(repo, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});

test('a bench that exits (Ctrl-C ends it through process.exit) leaves no worktree registered', () => {
  const { repo } = repoWithTwoCommits();
  const work = mkdtempSync(path.join(os.tmpdir(), 'cs-baseline-work-'));
  try {
    const module = new URL('../../bench/baseline.ts', import.meta.url).href;
    const script = `const { prepareBaseline } = await import(${JSON.stringify(module)});
const b = await prepareBaseline('HEAD~1', ${JSON.stringify(repo)}, ${JSON.stringify(work)});
console.log(b.root);
process.exit(130);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 130, r.stderr);
    const root = r.stdout.trim();
    assert.ok(root.startsWith(work), r.stdout);
    assert.not.ok(existsSync(root), 'the worktree directory is gone');
    const list = execFileSync('git', ['-C', repo, 'worktree', 'list'], { encoding: 'utf8' });
    assert.is(list.trim().split('\n').length, 1, list);
  } finally {
    rmSync(repo, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});

test('a ref that names no commit is a usage error and leaves nothing behind', async () => {
  const { repo } = repoWithTwoCommits();
  const work = mkdtempSync(path.join(os.tmpdir(), 'cs-baseline-work-'));
  try {
    const err = await prepareBaseline('no-such-ref', repo, work).catch((e: unknown) => e);
    assert.instance(err, UsageError);
    assert.match((err as Error).message, /neither a directory nor a commit/);
    assert.not.ok(existsSync(path.join(work, 'baseline')));
  } finally {
    rmSync(repo, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});

test.run();
