// Flag parsing shared by the CLIs: node's parseArgs, with errors that say which flag is wrong.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

export function parseFlags<T extends ParseArgsConfig['options']>(args: string[], options: T, allowPositionals = false) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  // `--json ""` or `--limit=` is a mistake (often an unset shell variable), never "use the default"
  for (const [name, value] of Object.entries(parsed.values)) {
    if (value === '') throw new UsageError(`--${name} needs a value (got an empty string)`);
  }
  return parsed;
}

/**
 * A comma-separated list flag (--limit, --tags). Given but naming nothing (`--limit ,`) is refused:
 * an empty selection must never mean "everything".
 */
export function nameList(flag: string, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0)
    throw new UsageError(`${flag} names nothing (got ${JSON.stringify(value)}): give one or more comma-separated names`);
  return names;
}

/** "-vv" counts twice */
export function verbosity(args: string[]): { level: number; rest: string[] } {
  let level = 0;
  const rest: string[] = [];
  for (const a of args) {
    if (/^-v+$/.test(a)) level += a.length - 1;
    else if (a === '--verbose') level++;
    else rest.push(a);
  }
  return { level, rest };
}

export function list(value: string | undefined): string[] | undefined {
  if (!value) return undefined;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
