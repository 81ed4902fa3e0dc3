// The one-local-process-helper rule (issue 19): lib/process is the only module that starts local
// processes (zx's `$` for collected runs, spawn for long ones, spawnSync for sync callers); every
// other helper runs commands through it. So in the folders below only lib/process may import
// node:child_process (or zx, which wraps it), in every form (import, import type, export … from,
// import x = require(…), import(…), require(…)). Test files (*.test.ts) may call tools directly: they
// are not helpers. (zx as the `#!/usr/bin/env zx` launcher of scripts/*.mjs imports nothing.)
// test/unit/process-imports.test.ts plants an import in each folder and expects the rule to fire.

/** Repo-relative folders where only lib/process may import node:child_process or zx. */
export const PROCESS_HELPER_FOLDERS = ['lib', 'cli', 'roles', 'scripts', 'bench', 'test/support', 'test/harness', 'test/github-server'];
/** Files of those folders that may import it, each with its reason. */
export const CHILD_PROCESS_ALLOWED = [
  'lib/process/**',
  '**/*.test.ts',
  // plain node before tsx is loaded (it launches the tests under tsx): it cannot import lib/process (TypeScript)
  'scripts/test.mjs',
];
const CHILD_PROCESS_MESSAGE =
  'start local processes through lib/process (run, runOk, runCollectSync, runOkSync, runSync, start, killGroup), the one helper';
/** the modules that start processes */
export const PROCESS_MODULES = ['child_process', 'node:child_process', 'zx', 'zx/core'];
// for esquery selectors, which end a regular expression at the first '/' even when escaped: '.' stands for it
const PROCESS_MODULE = `^(${PROCESS_MODULES.map((m) => m.replace('/', '.')).join('|')})$`;

/** The flat-config entry (eslint.config.js spreads it). */
export const processConfig = [
  {
    files: PROCESS_HELPER_FOLDERS.map((f) => `${f}/**/*.{ts,js,mjs}`),
    ignores: CHILD_PROCESS_ALLOWED,
    rules: {
      // import, import type, export … from, import x = require(…)
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: PROCESS_MODULES.map((name) => ({ name, message: CHILD_PROCESS_MESSAGE })) },
      ],
      // import('…') and require('…')
      'no-restricted-syntax': [
        'error',
        { selector: `ImportExpression[source.value=/${PROCESS_MODULE}/]`, message: CHILD_PROCESS_MESSAGE },
        { selector: `CallExpression[callee.name='require'][arguments.0.value=/${PROCESS_MODULE}/]`, message: CHILD_PROCESS_MESSAGE },
      ],
    },
  },
];
