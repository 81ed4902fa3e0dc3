#!/usr/bin/env zx
// npx zx scripts/site.mjs [-i inventory.yaml] [--check] [--diff] ... — see README.md or --help.
import { runCli } from './_entry.mjs';
await runCli(import.meta.url, '../cli/site.ts');
