// --diff of a secret file: only the sizes are shown, and the size of the current file is the one
// on the host (its content is never read for a secret), not 0 (issue 20, point 6).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { file } from '../../lib/blocks/file.ts';
import { renderDiffs } from '../../lib/report/diff.ts';
import { fileFactsProbe } from '../../lib/facts/files.ts';
import type { Change, HostContext } from '../../lib/runner/types.ts';
import { LocalTransport, localHost } from '../support/local-transport.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-secret-diff-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function secretDiff(target: string, content: string | Buffer): Promise<string> {
  const task = file({ path: target, content, mode: '0600', owner: os.userInfo().username, secret: true });
  const facts = fileFactsProbe(task.files!);
  const state = { stdout: '', code: 0, files: facts.parse(execFileSync('sh', ['-c', facts.probe], { encoding: 'utf8' })) };
  const conn = new LocalTransport(localHost());
  const ctx = { conn, options: { check: true, diff: true } } as unknown as HostContext;
  const change = (await task.plan(state, ctx)) as Change;
  assert.ok(change?.diff, 'the content differs');
  assert.equal(conn.scripts, [], 'the secret was not read from the host');
  return renderDiffs(change.diff!);
}

test('a secret replacing a 77-byte file says 77 -> N bytes', async () => {
  const target = path.join(dir, 'registries.yaml');
  writeFileSync(target, `${'x'.repeat(76)}\n`);
  const out = await secretDiff(target, 'token: s3cr3t-value\n');
  assert.match(out, /secret content hidden: 77 -> 20 bytes/);
  assert.not.match(out, /s3cr3t/);
});

test('a new secret file says 0 -> N bytes; sizes are bytes, not characters', async () => {
  const out = await secretDiff(path.join(dir, 'new.yaml'), 'pässwort\n');
  assert.match(out, /secret content hidden: 0 -> 10 bytes/);
});

test.run();
