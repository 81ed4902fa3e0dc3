// Types of eslint.process.js for the TypeScript that imports it (test/unit/process-imports.test.ts).
import type { Linter } from 'eslint';

export const PROCESS_HELPER_FOLDERS: string[];
export const CHILD_PROCESS_ALLOWED: string[];
export const processConfig: Linter.Config[];
