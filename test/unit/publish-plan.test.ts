// The foreign-change policy, case by case, on the pure reconcile function.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { blobSha, treeSha, type TreeFile } from '../../lib/publish/git-objects.ts';
import type { DesiredFile } from '../../lib/publish/files.ts';
import { reconcile, type BranchHead } from '../../lib/publish/plan.ts';
import type { PublishedState } from '../../lib/publish/state.ts';

function desired(obj: Record<string, string>): Map<string, DesiredFile> {
  return new Map(Object.entries(obj).map(([p, c]) => [p, { mode: '100644', sha: blobSha(c), content: Buffer.from(c) }]));
}
function files(obj: Record<string, string>): Map<string, TreeFile> {
  return new Map(Object.entries(obj).map(([p, c]) => [p, { mode: '100644', sha: blobSha(c) }]));
}
function head(commit: string, obj: Record<string, string>, authoredByUs = false): BranchHead {
  const f = files(obj);
  return { commit, tree: treeSha(f), files: f, authoredByUs };
}
function state(commit: string, obj: Record<string, string>): PublishedState {
  return {
    commit,
    tree: treeSha(files(obj)),
    files: Object.fromEntries(Object.entries(obj).map(([p, c]) => [p, blobSha(c)])),
    publishedAt: '',
  };
}

const v1 = { 'a.yaml': 'a1', 'b.yaml': 'b1' };

test('no head: everything is added, nothing foreign', () => {
  const r = reconcile({ desired: desired(v1), head: null, last: null });
  assert.equal([r.added, r.changed, r.removed, r.unchanged, r.foreignChanges, r.conflicts], [['a.yaml', 'b.yaml'], [], [], false, [], []]);
});

test('head equals our last publish and the render: unchanged', () => {
  const r = reconcile({ desired: desired(v1), head: head('c1', v1), last: state('c1', v1) });
  assert.ok(r.unchanged);
  assert.equal(r.foreignChanges, []);
});

test('our own change: changed and removed files, no foreign changes', () => {
  const r = reconcile({ desired: desired({ 'a.yaml': 'a2', 'c.yaml': 'c' }), head: head('c1', v1), last: state('c1', v1) });
  assert.equal([r.added, r.changed, r.removed, r.conflicts], [['c.yaml'], ['a.yaml'], ['b.yaml'], []]);
});

test('foreign file we do not manage: kept and reported, no conflict', () => {
  const r = reconcile({ desired: desired(v1), head: head('c2', { ...v1, 'NOTES.md': 'n' }), last: state('c1', v1) });
  assert.equal(r.foreignChanges, ['NOTES.md']);
  assert.equal(r.conflicts, []);
  assert.ok(r.files.has('NOTES.md'));
  assert.ok(r.unchanged);
});

test('foreign edit of a rendered file: conflict; a foreign edit equal to the render is not', () => {
  const r = reconcile({
    desired: desired({ 'a.yaml': 'a2', 'b.yaml': 'b1' }),
    head: head('c2', { 'a.yaml': 'theirs', 'b.yaml': 'b1' }),
    last: state('c1', v1),
  });
  assert.equal(r.conflicts, ['a.yaml']);
  const same = reconcile({
    desired: desired({ 'a.yaml': 'a2', 'b.yaml': 'b1' }),
    head: head('c2', { 'a.yaml': 'a2', 'b.yaml': 'b1' }),
    last: state('c1', v1),
  });
  assert.equal(same.foreignChanges, ['a.yaml']);
  assert.equal(same.conflicts, []);
  assert.ok(same.unchanged);
});

test('foreign edit of a file we stopped rendering: conflict (we would delete their edit)', () => {
  const r = reconcile({
    desired: desired({ 'a.yaml': 'a1' }),
    head: head('c2', { 'a.yaml': 'a1', 'b.yaml': 'theirs' }),
    last: state('c1', v1),
  });
  assert.equal(r.conflicts, ['b.yaml']);
  assert.equal(r.removed, ['b.yaml']);
});

test('foreign deletion of a rendered file: conflict, the render restores it only with force', () => {
  const r = reconcile({ desired: desired(v1), head: head('c2', { 'a.yaml': 'a1' }), last: state('c1', v1) });
  assert.equal(r.foreignChanges, ['b.yaml']);
  assert.equal(r.conflicts, ['b.yaml']);
  assert.equal(r.added, ['b.yaml']);
});

test('no state, pre-existing repo of someone else: their files are foreign, unmanaged ones kept', () => {
  const r = reconcile({ desired: desired(v1), head: head('c0', { 'README.md': 'init', 'a.yaml': 'other' }), last: null });
  assert.equal(r.foreignChanges, ['README.md', 'a.yaml']);
  assert.equal(r.conflicts, ['a.yaml']);
  assert.equal([...r.files.keys()], ['README.md', 'a.yaml', 'b.yaml']);
});

test('no state, head committed by us (state folder lost): the head is our baseline', () => {
  const r = reconcile({ desired: desired({ 'a.yaml': 'a2' }), head: head('c1', v1, true), last: null });
  assert.equal([r.foreignChanges, r.conflicts, r.changed, r.removed], [[], [], ['a.yaml'], ['b.yaml']]);
});

test('branch deleted since our publish: recreated from the render without conflicts', () => {
  const r = reconcile({ desired: desired(v1), head: null, last: state('c1', v1) });
  assert.equal(r.conflicts, []);
  assert.equal(r.foreignChanges, ['a.yaml', 'b.yaml']);
});

test.run();
