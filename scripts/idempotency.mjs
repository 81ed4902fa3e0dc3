#!/usr/bin/env zx
// npx zx scripts/idempotency.mjs -i INVENTORY: converge twice, fail unless the second run is a no-op.
import { runCli } from './_entry.mjs';
await runCli(import.meta.url, '../cli/idempotency.ts');
