// The batch's file facts (and units), with the probe run by this machine's own `sh` on real files: stat of
// every kind of path, hashes, contents (also through symlinks and of empty files), odd names, and
// what the runner hands each task.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { fileFactsProbe } from '../../lib/facts/files.ts';
import { runRole } from '../../lib/runner/run-role.ts';
import type { FileFact, HostContext, Role } from '../../lib/runner/types.ts';
import type { ExecResult, Transport } from '../../lib/ssh/types.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-file-facts-'));
const at = (name: string) => path.join(dir, name);
const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const me = os.userInfo().username;
const myGroup = execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();

writeFileSync(at('conf'), 'a = 1\n');
chmodSync(at('conf'), 0o640);
writeFileSync(at('empty'), '');
writeFileSync(at('binary'), Buffer.from([0, 255, 10, 13, 0]));
writeFileSync(at('no-newline'), 'last line');
writeFileSync(at('odd | name with spaces'), 'odd\n');
mkdirSync(at('dir'));
symlinkSync(at('conf'), at('link'));
symlinkSync(at('nowhere'), at('dangling'));

const runProbe = (probe: string) => execFileSync('sh', ['-c', probe], { encoding: 'utf8' });
const gather = (queries: Parameters<typeof fileFactsProbe>[0]) => {
  const facts = fileFactsProbe(queries);
  return facts.parse(runProbe(facts.probe));
};
const meta = (f: FileFact | undefined) => f && { exists: f.exists, type: f.type, mode: f.mode, owner: f.owner, group: f.group };

test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A host context whose transport runs each probe batch with this machine's sh (after `rewrite`). */
function localHost(scripts: string[], rewrite: (script: string) => string = (x) => x): HostContext {
  const conn = {
    roundTrips: 0,
    async exec(script: string): Promise<ExecResult> {
      scripts.push(script);
      return { code: 0, stdout: runProbe(rewrite(script)), stderr: '' };
    },
  } as unknown as Transport;
  const log = { info() {}, verbose() {}, debug() {}, warn() {} };
  return { conn, log, options: { check: false, diff: false, verbosity: 0 } } as unknown as HostContext;
}

test('stat of every kind of path, as stat -c %F reports it (symlinks not followed)', () => {
  const facts = gather(['conf', 'empty', 'dir', 'link', 'dangling', 'missing'].map((n) => ({ path: at(n) })));
  assert.equal(meta(facts.get(at('conf'))), { exists: true, type: 'regular file', mode: '0640', owner: me, group: myGroup });
  assert.is(facts.get(at('empty'))!.type, 'regular empty file');
  assert.is(facts.get(at('dir'))!.type, 'directory');
  assert.is(facts.get(at('link'))!.type, 'symbolic link');
  assert.is(facts.get(at('dangling'))!.type, 'symbolic link');
  assert.equal(facts.get(at('missing')), { exists: false, type: '', mode: '', owner: '', group: '' });
  assert.is(facts.get(at('conf'))!.sha256, undefined, 'no hash unless asked for');
});

test('hashes and contents: exact bytes, through symlinks, empty and binary files, odd names', () => {
  const facts = gather([
    { path: at('conf'), hash: true },
    { path: at('link'), hash: true },
    { path: at('dir'), hash: true },
    { path: at('missing'), hash: true },
    { path: at('binary'), content: true },
    { path: at('empty'), content: true },
    { path: at('no-newline'), content: true },
    { path: at('odd | name with spaces'), content: true },
  ]);
  assert.is(facts.get(at('conf'))!.sha256, sha('a = 1\n'));
  assert.is(facts.get(at('link'))!.sha256, sha('a = 1\n'), 'a symlink is hashed through');
  assert.is(facts.get(at('dir'))!.sha256, undefined);
  assert.is(facts.get(at('missing'))!.sha256, undefined);
  assert.equal([...facts.get(at('binary'))!.content!], [0, 255, 10, 13, 0]);
  assert.is(facts.get(at('empty'))!.content!.length, 0);
  assert.is(facts.get(at('no-newline'))!.content!.toString(), 'last line');
  assert.is(facts.get(at('no-newline'))!.sha256, sha('last line'), 'content implies the hash');
  assert.is(facts.get(at('odd | name with spaces'))!.content!.toString(), 'odd\n');
});

test('content through a symlink, next to regular files, keeps every boundary', () => {
  const facts = gather([
    { path: at('no-newline'), content: true },
    { path: at('link'), content: true },
    { path: at('dangling'), content: true },
    { path: at('dir'), content: true },
    { path: at('empty'), content: true },
    { path: at('conf'), content: true },
  ]);
  assert.is(facts.get(at('no-newline'))!.content!.toString(), 'last line');
  assert.is(facts.get(at('link'))!.content!.toString(), 'a = 1\n');
  assert.is(facts.get(at('dangling'))!.content, undefined);
  assert.is(facts.get(at('dir'))!.content, undefined);
  assert.is(facts.get(at('empty'))!.content!.length, 0);
  assert.is(facts.get(at('conf'))!.content!.toString(), 'a = 1\n');
});

test('queries for one path are merged; a file that changed between stat and read is an error', () => {
  const facts = fileFactsProbe([{ path: at('conf') }, { path: at('conf'), content: true }, { path: at('conf'), hash: true }]);
  assert.is(facts.probe.split(at('conf')).length - 1, 2, 'named once for stat and once for reading');
  const out = runProbe(facts.probe);
  assert.is(facts.parse(out).get(at('conf'))!.content!.toString(), 'a = 1\n');
  const grown = out.replace(Buffer.from('a = 1\n').toString('base64'), Buffer.from('a = 12\n').toString('base64'));
  assert.throws(() => facts.parse(grown), /changed while they were read/);
  assert.throws(() => fileFactsProbe([{ path: 'relative' }]), /absolute path/);
  assert.throws(() => fileFactsProbe([{ path: '/a\nb' }]), /without newline/);
});

test('the runner gathers the files of all tasks in the one probe batch and hands each task its facts', async () => {
  const scripts: string[] = [];
  const seen: Record<string, string | undefined> = {};
  const role: Role = {
    name: 'demo',
    appliesTo: () => true,
    tasks: () => [
      {
        name: 'one',
        files: [{ path: at('conf'), content: true }],
        plan: (s) => ((seen.one = s.files?.get(at('conf'))?.content?.toString()), null),
      },
      {
        name: 'two',
        probe: 'echo own',
        files: [{ path: at('link'), hash: true }],
        plan: (s) => ((seen.two = `${s.stdout.trim()} ${s.files?.get(at('link'))?.sha256}`), null),
      },
      {
        name: 'three',
        probe: 'echo no files',
        plan: (s) => ((seen.three = `${s.stdout.trim()} ${s.files?.get(at('conf'))?.exists}`), null),
      },
    ],
  };
  const result = await runRole(role, localHost(scripts));
  assert.equal(
    result.tasks.map((t) => t.outcome),
    ['ok', 'ok', 'ok'],
  );
  assert.is(scripts.length, 1, 'one batch');
  assert.is(scripts[0].match(/stat -c/g)?.length, 1, 'one stat for all files');
  assert.equal(seen, { one: 'a = 1\n', two: `own ${sha('a = 1\n')}`, three: 'no files true' });
});

test('the units of all tasks are asked for in one systemctl call; each task sees them', async () => {
  const scripts: string[] = [];
  // systemctl show's answer, as a host prints it (this machine may not run systemd)
  const answer = (script: string) =>
    script.replace(
      /systemctl show -p \S+ -- .*? 2>\/dev\/null \|\| true/,
      "printf 'LoadState=loaded\\nUnitFileState=enabled\\nActiveState=active\\nNeedDaemonReload=no\\n\\nLoadState=not-found\\nUnitFileState=\\nActiveState=inactive\\nNeedDaemonReload=no\\n'",
    );
  const seen: string[] = [];
  const role: Role = {
    name: 'demo',
    appliesTo: () => true,
    tasks: () => [
      { name: 'a', units: ['ssh.service'], plan: (s) => (seen.push(`a ${s.units?.get('ssh.service')?.active}`), null) },
      { name: 'b', units: ['ssh.service', 'gone.timer'], plan: (s) => (seen.push(`b ${s.units?.get('gone.timer')?.load}`), null) },
    ],
  };
  await runRole(role, localHost(scripts, answer));
  assert.is(scripts.length, 1);
  assert.is(scripts[0].match(/systemctl show/g)?.length, 1);
  assert.match(scripts[0], /-- '?ssh\.service'? '?gone\.timer'? 2>/);
  assert.equal(seen, ['a active', 'b not-found']);
});

test.run();
