#!/usr/bin/env zx
// npx zx scripts/gitops.mjs render -i inventory.yaml -o DIR: render + validate the GitOps repo,
// offline (no host is touched). `check` renders and validates only. See cli/gitops.ts.
import { runCli } from './_entry.mjs';
await runCli(import.meta.url, '../cli/gitops.ts');
