#!/usr/bin/env zx
// npx zx scripts/chart-facts.mjs extract <chart dir> [--release NAME]: a draft facts file for a
// chart checked out at its pinned tag; `check` validates every facts file. See lib/gitops/chart-facts/.
import { runCli } from './_entry.mjs';
await runCli(import.meta.url, '../cli/chart-facts.ts');
