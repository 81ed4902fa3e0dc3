#!/usr/bin/env node
// npm test: runs the uvu suites under test/ (TypeScript through tsx) and closes with one
// "N passed, N failed" line. Usage: node scripts/test.mjs [dir] [pattern]
// Default: test/ minus the VM tier (test/vm, run by `npm run test:vm`).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const [dir = 'test', pattern = '\\.test\\.ts$'] = process.argv.slice(2);
const ignore = dir === 'test' ? ['-i', '^vm/', '-i', 'fixtures', '-i', 'harness'] : [];
const uvu = path.join(root, 'node_modules', 'uvu', 'bin.js');
const child = spawn(process.execPath, ['--import', 'tsx', uvu, dir, pattern, ...ignore], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FORCE_COLOR: '0' },
});
let out = '';
child.stdout.on('data', (d) => {
  out += d;
  process.stdout.write(d);
});
child.on('close', (code, signal) => {
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const failed = total - passed - skipped + (code !== 0 && total === passed ? 1 : 0);
  console.log(`\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  if (signal) process.exit(1);
  process.exit(code === 0 && total > 0 ? 0 : 1);
});
