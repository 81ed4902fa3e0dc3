// The layer rule (eslint.layers.js): an upward import planted in each layer is reported, a downward
// one is not, and the real tree has no upward import.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { LAYERS, ROOT, layerOf, layersConfig } from '../../eslint.layers.js';

const RULE = 'layers/upward-import';

// The project's own configuration (eslint.config.js), as `npm run lint` runs it.
const project = new ESLint({ cwd: ROOT });

/** The layer rule's messages for `code` as if it were the file `file` (repo-relative; need not exist). */
async function layerMessages(file: string, code: string): Promise<string[]> {
  const [result] = await project.lintText(code, { filePath: path.join(ROOT, file) });
  return result.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
}

// One upward import per layer (every layer but the top one), in each form that counts.
const PLANTED: [file: string, code: string, target: string][] = [
  ['lib/ssh/planted.ts', "import { runRole } from '../runner/run-role.ts';", 'lib/runner/run-role.ts'],
  ['lib/inventory/planted.ts', "import type { Role } from '../runner/types.ts';", 'lib/runner/types.ts'],
  ['lib/report/planted.ts', "export { q } from '../blocks/shell.ts';", 'lib/blocks/shell.ts'],
  ['lib/facts/planted.ts', "export * from '../runner/run-site.ts';", 'lib/runner/run-site.ts'],
  ['lib/runner/planted.ts', "import { baseRole } from '../../roles/base/index.ts';", 'roles/base/index.ts'],
  ['lib/runner/planted.ts', "import { packages } from '../blocks/index.ts';", 'lib/blocks/index.ts'],
  ['lib/settings/planted.ts', "import { packages } from '../blocks/index.ts';", 'lib/blocks/index.ts'],
  ['lib/blocks/planted.ts', "import { k3sSettings } from '../k3s/settings.ts';", 'lib/k3s/settings.ts'],
  ['lib/gitops/planted.ts', "import { parseFlags } from '../../cli/args.ts';", 'cli/args.ts'],
  ['lib/gitops/sub/planted.ts', "const m = await import('../../../roles/index.ts');\nexport { m };", 'roles/index.ts'],
  ['lib/lab/planted.ts', "import type { SiteOptions } from '../../cli/site/pipeline.ts';", 'cli/site/pipeline.ts'],
  ['roles/base/planted.ts', "import { main } from '../../cli/site.ts';", 'cli/site.ts'],
];

for (const [file, code, target] of PLANTED) {
  test(`planted upward import is reported: ${file} -> ${target}`, async () => {
    const messages = await layerMessages(file, code);
    assert.is(messages.length, 1, messages.join('\n'));
    assert.match(messages[0], `may not import ${target}`);
    assert.match(messages[0], `${file} (${layerOf(file)!.name})`);
  });
}

const DOWNWARD: [file: string, code: string][] = [
  ['cli/planted.ts', "import { allRoles } from '../roles/index.ts';\nimport { runSite } from '../lib/runner/run-site.ts';"],
  [
    'roles/base/planted.ts',
    "import { packages } from '../../lib/blocks/index.ts';\nimport type { Role } from '../../lib/runner/types.ts';",
  ],
  ['lib/gitops/planted.ts', "import { k3sSettings } from '../k3s/settings.ts';\nimport { packages } from '../blocks/index.ts';"],
  ['lib/blocks/planted.ts', "import type { Task } from '../runner/types.ts';\nimport { q } from './shell.ts';"],
  ['lib/runner/planted.ts', "import { FACTS_PROBE } from '../facts/host-facts.ts';\nimport { mask } from '../report/mask.ts';"],
  ['lib/ssh/planted.ts', "import type { HostSpec } from '../inventory/model.ts';\nimport { readFileSync } from 'node:fs';"],
  // scripts/, bench/ and test/ may import anything
  ['test/unit/planted.test.ts', "import { main } from '../../cli/site.ts';\nimport { q } from '../../lib/blocks/shell.ts';"],
  ['bench/planted.ts', "import { main } from '../cli/site.ts';"],
];

for (const [file, code] of DOWNWARD) {
  test(`same-layer and downward imports pass: ${file}`, async () => {
    assert.equal(await layerMessages(file, code), []);
  });
}

test('every folder under lib/ belongs to a layer', () => {
  const dirs = readdirSync(path.join(ROOT, 'lib'), { withFileTypes: true }).filter((d) => d.isDirectory());
  const missing = dirs.map((d) => `lib/${d.name}`).filter((d) => !layerOf(d));
  assert.equal(missing, [], 'add these folders to LAYERS in eslint.layers.js');
  assert.ok(LAYERS.length >= 7);
});

test('the tree has no upward import', { timeoutSeconds: 180 }, async () => {
  // only the layer rule, with the TypeScript parser: fast, and other rules' findings do not matter here
  const layersOnly = new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...layersConfig],
  });
  const folders = LAYERS.flatMap((l) => l.folders).filter((f) => readdirSync(path.join(ROOT, path.dirname(f))).includes(path.basename(f)));
  const results = await layersOnly.lintFiles(folders);
  assert.ok(results.length > 100, `linted ${results.length} files`);
  const found = results.flatMap((r) => {
    const file = path.relative(ROOT, r.filePath);
    return r.messages
      .filter((m) => m.ruleId === RULE || m.fatal)
      .map((m) => (m.fatal ? `${file}: ${m.message}` : `${file} -> ${/ may not import (\S+)/.exec(m.message)![1]}`));
  });
  assert.equal(found, [], 'upward imports (see eslint.layers.js: move the code down, or inject it from cli/)');
});

test.run();
