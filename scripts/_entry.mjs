// Shared by every script: registers tsx (TypeScript without a build step), passes the script's own
// arguments to a cli module's main(), and exits with its code. Works under `npx zx` and `node`.
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

register();

export async function runCli(scriptUrl, cliModule) {
  const script = fileURLToPath(scriptUrl);
  const at = process.argv.findIndex((a) => path.resolve(a) === script);
  const args = at >= 0 ? process.argv.slice(at + 1) : process.argv.slice(2);
  const mod = await import(new URL(cliModule, scriptUrl).href);
  const code = await mod.main(args);
  process.exit(code ?? 0);
}
