// What every run pays before it does anything: the modules its entry points load. @peculiar/x509
// (with reflect-metadata and tsyringe) costs about 0.2 s of start-up and is needed only when a new
// Sealed Secrets key pair is made, so it must load then and not with the CLI. Measured with the
// bench's start-up phase (bench/README.md): 0.83 s before the library came in, 1.02 s with it.
// Each case runs in a fresh node process: this test's own imports must not count.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The package folders under node_modules that a fresh process has loaded after `script`. */
function packagesLoadedBy(script: string): string[] {
  const probe = `${script}
const { createRequire } = await import('node:module');
const cache = Object.keys(createRequire(import.meta.url).cache);
console.log(JSON.stringify([...new Set(cache.flatMap((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f)?.[1] ?? []))]));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
}

const HEAVY = ['@peculiar/x509', 'reflect-metadata', 'tsyringe'];

test('the CLIs, the roles and the runner load no X.509 library at start-up', () => {
  const loaded = packagesLoadedBy(
    ["'./cli/site.ts'", "'./cli/gitops.ts'", "'./cli/lab.ts'", "'./cli/reset.ts'", "'./roles/index.ts'", "'./lib/runner/run-site.ts'"]
      .map((m) => `await import(${m});`)
      .join('\n'),
  );
  assert.equal(
    HEAVY.filter((p) => loaded.includes(p)),
    [],
    'imported at start-up',
  );
});

test('making a sealing key pair loads it (the check above sees the library when it is there)', () => {
  const loaded = packagesLoadedBy(
    `const { generateSealingKeyPair } = await import('./lib/gitops/sealing-keys.ts');
await generateSealingKeyPair({ keySize: 2048 });`,
  );
  assert.ok(loaded.includes('@peculiar/x509'), loaded.join(', '));
});

test.run();
