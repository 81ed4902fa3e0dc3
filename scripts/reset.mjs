#!/usr/bin/env zx
// npx zx scripts/reset.mjs -i inventory.yaml [--limit HOSTS] [--yes] — stops and uninstalls K3s
// on the inventory's K3s nodes (see --help).
import { runCli } from './_entry.mjs';
await runCli(import.meta.url, '../cli/reset.ts');
