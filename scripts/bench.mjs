#!/usr/bin/env zx
// npm run bench [-- --rounds N --sizes 3,30 ...]: clusterseed against Ansible on fresh test hosts,
// and the GitOps render time. Root only; not part of npm test. See bench/README.md or --help.
import { runCli } from './_entry.mjs';
await runCli(import.meta.url, '../bench/run.ts');
