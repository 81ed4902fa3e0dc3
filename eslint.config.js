// ESLint for the whole tree (typescript-eslint, type-aware rules off: a full run stays fast).
// The layer rule (which folder may import which) lives in eslint.layers.js.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/**', '.clusterseed/**', 'test/fixtures/**/*.c'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
  },
);
