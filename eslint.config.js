// ESLint for the whole tree (typescript-eslint, type-aware rules off: a full run stays fast).
// The layer rule (which folder may import which) lives in eslint.layers.js, the one-process-helper
// rule (only lib/process starts local processes) in eslint.process.js.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { layersConfig } from './eslint.layers.js';
import { processConfig } from './eslint.process.js';

export default tseslint.config(
  { ignores: ['node_modules/**', '.clusterseed/**', 'test/fixtures/**/*.c'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // an unused parameter or binding is allowed when its name says so (_ctx, const { a: _a, ...rest })
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  ...layersConfig,
  ...processConfig,
);
