// Typed reads of a role's merged vars. Inventory vars are free-form (the schema cannot know every
// role's keys), so each role checks what it reads and names the exact field when it is wrong.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { HostContext } from '../runner/types.ts';

export class VarsError extends Error {}

/** Reads a role's defaults.yaml next to its index.ts. */
export function loadDefaults(moduleUrl: string): Record<string, unknown> {
  const file = fileURLToPath(new URL('./defaults.yaml', moduleUrl));
  const data = parse(readFileSync(file, 'utf8')) as unknown;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`${file}: expected a mapping of role vars`);
  return data as Record<string, unknown>;
}

/** Reads fields of `vars.<role>` for one host; every error says which inventory, host and field. */
export class VarsReader {
  constructor(
    private readonly where: string,
    private readonly root: Record<string, unknown>,
    private readonly prefix: string,
  ) {}

  static of(ctx: Pick<HostContext, 'inventory' | 'host' | 'vars'>, role: string): VarsReader {
    return new VarsReader(`${ctx.inventory.file}: host ${ctx.host.name}`, ctx.vars, `vars.${role}`);
  }

  fail(path: string, expected: string, got: unknown): never {
    throw new VarsError(`${this.where}: ${this.prefix}.${path}: expected ${expected}, got ${describe(got)}`);
  }

  raw(path: string): unknown {
    let cur: unknown = this.root;
    for (const part of path.split('.')) {
      if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
      cur = (cur as Record<string, unknown>)[part];
    }
    return cur;
  }

  string(path: string, opts: { pattern?: RegExp; expected?: string; allowEmpty?: boolean } = {}): string {
    const v = this.raw(path);
    const expected = opts.expected ?? 'a string';
    if (typeof v !== 'string') this.fail(path, expected, v);
    if (!opts.allowEmpty && v === '') this.fail(path, expected, v);
    if (/[\n\r]/.test(v)) this.fail(path, `${expected} on one line`, v);
    if (v !== '' && opts.pattern && !opts.pattern.test(v)) this.fail(path, expected, v);
    return v;
  }

  oneOf<T extends string>(path: string, choices: readonly T[]): T {
    const v = this.raw(path);
    if (typeof v !== 'string' || !choices.includes(v as T)) this.fail(path, `one of ${choices.join(', ')}`, v);
    return v as T;
  }

  bool(path: string): boolean {
    const v = this.raw(path);
    if (typeof v !== 'boolean') this.fail(path, 'true or false', v);
    return v;
  }

  int(path: string, min: number, max: number): number {
    const v = this.raw(path);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(path, `an integer from ${min} to ${max}`, v);
    return v;
  }

  list(path: string): unknown[] {
    const v = this.raw(path);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(path, 'a list', v);
    return v;
  }

  stringList(path: string, opts: { pattern?: RegExp; expected?: string } = {}): string[] {
    return this.list(path).map((item, i) => {
      const expected = opts.expected ?? 'a string';
      if (typeof item !== 'string' || item === '' || /[\n\r]/.test(item)) this.fail(`${path}[${i}]`, expected, item);
      if (opts.pattern && !opts.pattern.test(item)) this.fail(`${path}[${i}]`, expected, item);
      return item;
    });
  }

  map(path: string): Record<string, unknown> {
    const v = this.raw(path);
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(path, 'a mapping', v);
    return v as Record<string, unknown>;
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${String(v)}`;
}
