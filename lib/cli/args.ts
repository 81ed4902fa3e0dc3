// Flag parsing shared by the CLIs: node's parseArgs, with errors that say which flag is wrong.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

export function parseFlags<T extends ParseArgsConfig['options']>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
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
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}
