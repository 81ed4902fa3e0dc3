// The one-local-process-helper rule (eslint.process.js): node:child_process (or zx) planted in a helper
// folder is reported in every form an import takes; lib/process itself and test files may import it; the real
// tree has no other importer than the documented exceptions.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { CHILD_PROCESS_ALLOWED, PROCESS_HELPER_FOLDERS, processConfig } from '../../eslint.process.js';
import { ROOT } from '../../eslint.layers.js';

// The project's own configuration (eslint.config.js, which spreads eslint.process.js), as `npm run lint` runs it.
const project = new ESLint({ cwd: ROOT });

const RULES = ['@typescript-eslint/no-restricted-imports', 'no-restricted-syntax'];

/** Messages of the rule for `code` as if it were the file `file` (repo-relative; need not exist). */
async function childProcessMessages(file: string, code: string): Promise<string[]> {
  const [result] = await project.lintText(code, { filePath: path.join(ROOT, file) });
  const fatal = result.messages.filter((m) => m.fatal);
  assert.equal(fatal, [], `${file} did not parse`);
  return result.messages.filter((m) => RULES.includes(m.ruleId ?? '')).map((m) => m.message);
}

const FORMS: [form: string, code: string][] = [
  ['import', "import { spawn } from 'node:child_process';\nexport const s = spawn;"],
  ['import without node:', "import cp from 'child_process';\nexport const s = cp;"],
  ['import type', "import type { ChildProcess } from 'node:child_process';\nexport type C = ChildProcess;"],
  ['export from', "export { execFileSync } from 'node:child_process';"],
  ['dynamic import', "export const cp = await import('node:child_process');"],
  [
    'require',
    "import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\nexport const cp = require('child_process');",
  ],
  ['zx', "import { $ } from 'zx';\nexport const z = $;"],
  ['zx/core', "import type { ProcessPromise } from 'zx/core';\nexport type P = ProcessPromise;"],
  ['dynamic import of zx/core', "export const { $ } = await import('zx/core');"],
];

for (const [form, code] of FORMS) {
  test(`planted child_process (${form}) in lib/ is reported`, async () => {
    const messages = await childProcessMessages('lib/lab/planted.ts', code);
    assert.is(messages.length, 1, messages.join('\n'));
    assert.match(messages[0], 'lib/process');
  });
}

// one file in each folder the rule covers (a .mjs script too)
const PLANTED_FILES = [
  'lib/ssh/planted.ts',
  'cli/planted.ts',
  'roles/base/planted.ts',
  'scripts/planted.mjs',
  'bench/planted.ts',
  'test/support/planted.ts',
  'test/harness/planted.ts',
  'test/github-server/planted.ts',
];

test('the rule covers every helper folder', () => {
  assert.equal(
    PLANTED_FILES.map((f) => PROCESS_HELPER_FOLDERS.find((folder) => f.startsWith(`${folder}/`))),
    PROCESS_HELPER_FOLDERS,
  );
});

for (const file of PLANTED_FILES) {
  test(`planted child_process import is reported: ${file}`, async () => {
    const messages = await childProcessMessages(file, "import { spawnSync } from 'node:child_process';\nexport const s = spawnSync;");
    assert.is(messages.length, 1, messages.join('\n'));
  });
}

const ALLOWED: [file: string, why: string][] = [
  ['lib/process/index.ts', 'the helper itself'],
  ['lib/process/planted.ts', 'a new file of the helper'],
  ['test/unit/planted.test.ts', 'a test file calls tools directly'],
  ['test/system/planted.test.ts', 'a test file calls tools directly'],
  ['test/support/planted.test.ts', 'a test file, even among the support modules'],
];

for (const [file, why] of ALLOWED) {
  test(`child_process is allowed in ${file} (${why})`, async () => {
    const code = "import { spawn } from 'node:child_process';\nexport const cp = await import('child_process');\nexport const s = spawn;";
    assert.equal(await childProcessMessages(file, code), []);
  });
}

test('other modules and lib/process are not reported', async () => {
  const code =
    "import fs from 'node:fs';\nimport { run } from '../process/index.ts';\nimport zxish from 'zx-like';\nexport const x = [fs, run, zxish, await import('node:child_process_x')];";
  assert.equal(await childProcessMessages('lib/lab/planted.ts', code), []);
});

test('the exceptions are few and named', () => {
  // a new exception needs a reason in eslint.process.js; this list makes adding one a visible change
  assert.equal(CHILD_PROCESS_ALLOWED, ['lib/process/**', '**/*.test.ts', 'scripts/test.mjs']);
});

test('the tree starts processes only through lib/process', { timeoutSeconds: 180 }, async () => {
  // only this rule, with the TypeScript parser: fast, and other rules' findings do not matter here
  const processOnly = new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    overrideConfig: [
      { files: ['**/*.{ts,js,mjs}'], languageOptions: { parser: tseslint.parser }, plugins: { '@typescript-eslint': tseslint.plugin } },
      ...processConfig,
    ],
  });
  const results = await processOnly.lintFiles(PROCESS_HELPER_FOLDERS.filter((f) => existsSync(path.join(ROOT, f))));
  assert.ok(results.length > 100, `linted ${results.length} files`);
  const found = results.flatMap((r) =>
    r.messages
      .filter((m) => m.fatal || RULES.includes(m.ruleId ?? ''))
      .map((m) => `${path.relative(ROOT, r.filePath)}:${m.line}: ${m.fatal ? m.message : 'imports a process module'}`),
  );
  assert.equal(found, [], 'run commands through lib/process (see eslint.process.js)');
});

test.run();
