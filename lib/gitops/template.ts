// Handlebars environment for gitops-template/: noEscape (YAML, not HTML), a few helpers that
// print data as YAML/JSON with sorted keys, and the partials under partials/.
// Argo CD's own {{ }} expressions are written \{{ ... }} in templates and come out verbatim.
import Handlebars from 'handlebars';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';

export function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v as object)
        .sort()
        .map((k) => [k, sortKeysDeep((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** YAML with sorted keys, long strings never folded, so output is stable across inputs */
export function toYaml(v: unknown): string {
  return stringify(sortKeysDeep(v), { lineWidth: 0, sortMapEntries: true });
}

function indentLines(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => (l ? pad + l : l))
    .join('\n');
}

export function createEnv(templateRoot: string): typeof Handlebars {
  const hb = Handlebars.create();
  // {{yaml value indent=N}}: value as block YAML, every line indented by N (no trailing newline)
  hb.registerHelper('yaml', (value: unknown, options: Handlebars.HelperOptions) => {
    const indent = Number(options.hash.indent ?? 0);
    return indentLines(toYaml(value).replace(/\n$/, ''), indent);
  });
  // {{json value}}: one-line JSON, which is valid flow YAML
  hb.registerHelper('json', (value: unknown) => JSON.stringify(sortKeysDeep(value ?? null)));
  // {{quote s}}: a double-quoted YAML scalar
  hb.registerHelper('quote', (value: unknown) => JSON.stringify(value === undefined || value === null ? '' : String(value)));
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('ne', (a: unknown, b: unknown) => a !== b);
  hb.registerHelper('not', (a: unknown) => !a);
  hb.registerHelper('and', (...args: unknown[]) => args.slice(0, -1).every(Boolean));
  hb.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).some(Boolean));
  hb.registerHelper(
    'isEmpty',
    (v: unknown) => !v || (Array.isArray(v) ? v.length === 0 : typeof v === 'object' && Object.keys(v as object).length === 0),
  );
  hb.registerHelper('has', (obj: unknown, key: string) => !!obj && typeof obj === 'object' && key in (obj as object));
  hb.registerHelper('isOci', (url: unknown) => typeof url === 'string' && !url.includes('://'));
  hb.registerHelper('inc', (n: number) => Number(n) + 1);

  const partialsDir = path.join(templateRoot, 'partials');
  let entries: string[] = [];
  try {
    entries = readdirSync(partialsDir).sort();
  } catch {
    entries = [];
  }
  for (const f of entries) {
    if (!f.endsWith('.hbs') || !statSync(path.join(partialsDir, f)).isFile()) continue;
    hb.registerPartial(f.replace(/\.hbs$/, ''), readFileSync(path.join(partialsDir, f), 'utf8'));
  }
  return hb;
}

export class TemplateError extends Error {
  constructor(
    readonly template: string,
    cause: unknown,
  ) {
    super(`template ${template}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'TemplateError';
  }
}

/** Compiles and caches templates by path; renders with a context, naming the file on error. */
export class TemplateSet {
  private compiled = new Map<string, Handlebars.TemplateDelegate>();
  readonly hb: typeof Handlebars;

  constructor(readonly root: string) {
    this.hb = createEnv(root);
  }

  render(rel: string, ctx: unknown): string {
    let fn = this.compiled.get(rel);
    try {
      if (!fn) {
        fn = this.hb.compile(readFileSync(path.join(this.root, rel), 'utf8'), { noEscape: true });
        this.compiled.set(rel, fn);
      }
      return fn(ctx);
    } catch (err) {
      throw new TemplateError(rel, err);
    }
  }

  /** template files (relative paths, sorted) under a folder of the template root */
  list(dir: string): string[] {
    const out: string[] = [];
    const walk = (rel: string) => {
      let names: string[];
      try {
        names = readdirSync(path.join(this.root, rel)).sort();
      } catch {
        return;
      }
      for (const n of names) {
        const r = rel ? `${rel}/${n}` : n;
        if (statSync(path.join(this.root, r)).isDirectory()) walk(r);
        else if (n.endsWith('.hbs')) out.push(r);
      }
    };
    walk(dir);
    return out;
  }
}
