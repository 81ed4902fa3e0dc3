// What we published last, per target, in <workDir>/.clusterseed/publish-state.json: the head commit
// we left the branch at and the files we rendered into it. It is the baseline that tells someone
// else's change apart from ours on the next run. Holds no secrets; kept 0600 like all private state
// (lib/state).
import path from 'node:path';
import type { DesiredFile } from './files.ts';
import { readPrivate, STATE_DIR, writePrivate } from '../state/private-files.ts';

export interface PublishedState {
  /** the branch head after our last publish (or after we last saw it unchanged) */
  commit: string;
  tree: string;
  /** the files we rendered: path → blob sha */
  files: Record<string, string>;
  publishedAt: string;
}

interface StateFile {
  version: 1;
  targets: Record<string, PublishedState>;
}

export { STATE_DIR };

export function statePath(workDir: string): string {
  return path.join(workDir, STATE_DIR, 'publish-state.json');
}

async function readStateFile(workDir: string): Promise<StateFile> {
  const file = statePath(workDir);
  const text = readPrivate(file);
  if (text === undefined) return { version: 1, targets: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}); delete it to publish without a baseline`);
  }
  const p = parsed as Partial<StateFile>;
  if (p?.version !== 1 || typeof p.targets !== 'object' || p.targets === null) {
    throw new Error(`${file}: unknown format (expected {"version": 1, "targets": {...}})`);
  }
  return p as StateFile;
}

export async function loadPublishedState(workDir: string, target: string): Promise<PublishedState | null> {
  return (await readStateFile(workDir)).targets[target] ?? null;
}

export async function savePublishedState(
  workDir: string,
  target: string,
  head: { commit: string; tree: string },
  desired: Map<string, DesiredFile>,
): Promise<void> {
  const state = await readStateFile(workDir);
  state.targets[target] = {
    commit: head.commit,
    tree: head.tree,
    files: Object.fromEntries([...desired].map(([p, f]) => [p, f.sha])),
    publishedAt: new Date().toISOString(),
  };
  writePrivate(statePath(workDir), JSON.stringify(state, null, 2) + '\n');
}
