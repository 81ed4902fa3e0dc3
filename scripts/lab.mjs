#!/usr/bin/env zx
// npx zx scripts/lab.mjs up|status|ssh NAME|reboot NAME|down [--dir DIR] ... — throwaway QEMU VMs
// to try clusterseed on (see lib/lab/README.md or --help).
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

register();
// under `npx zx` argv holds zx itself first: take what follows this script
const self = fileURLToPath(import.meta.url);
const at = process.argv.findIndex((a) => path.resolve(a) === self);
const { main } = await import('../cli/lab.ts');
process.exit(await main(at >= 0 ? process.argv.slice(at + 1) : process.argv.slice(2)));
