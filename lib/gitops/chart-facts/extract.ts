// Mechanical extraction from a Helm chart directory (as checked out from its upstream repository
// at the pinned tag): values keys and open maps, CRDs, images named in values.yaml, and the
// workloads the templates define with the values paths they read. Helm templates are not
// evaluated: what a regular expression cannot tell for sure is printed as a TODO for the human
// who finishes the facts file by reading the templates.
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { valuesKeyPaths } from './load.ts';

export interface ExtractedWorkload {
  kind: string;
  /** metadata.name as written in the template, with {release}/{fullname} where recognised */
  name: string;
  from: string;
  when?: string;
  hook?: string;
  hookWeight?: string;
  hookDeletePolicy?: string;
  replicas?: string;
  priorityClassName?: string[];
  nodeSelector?: string[];
  tolerations?: string[];
  affinity?: string[];
  resources: string[];
  images: string[];
  containers: { name: string; init: boolean }[];
  todos: string[];
}

export interface ExtractedChart {
  /** the parsed values.yaml: defaults of the paths the workloads read */
  values: unknown;
  chart: string;
  version: string;
  appVersion?: string;
  keys: string[];
  open: string[];
  crds: { name: string; when?: string; from: string; todos?: string[] }[];
  images: { path: string; ref: string }[];
  workloads: ExtractedWorkload[];
  /** `.Values.x` paths the templates read that values.yaml does not have (documented only in comments) */
  extra: { key: string; template: string }[];
  /** values keys that carry helm.sh/hook annotations (hooks set from values, e.g. cert-manager) */
  hookValues: string[];
  todos: string[];
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod', 'ReplicaSet']);

/** `overrides`: version/appVersion when Chart.yaml is a template the release build fills in */
export function extractChart(dir: string, overrides: { version?: string; appVersion?: string } = {}): ExtractedChart {
  const todos: string[] = [];
  const meta = { ...readChartMeta(dir, todos), ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v)) };
  const valuesFile = path.join(dir, 'values.yaml');
  const values = existsSync(valuesFile) ? ((parse(readFileSync(valuesFile, 'utf8')) as unknown) ?? {}) : {};
  if (!existsSync(valuesFile)) todos.push('no values.yaml in the chart directory');
  const flat = flattenValues(values);
  const keys = flat.keys;
  // a map the templates render whole (toYaml) takes any key, whatever its default
  const open = [...new Set([...flat.open, ...renderedWhole(dir).filter((p) => keys.some((k) => k === p || k.startsWith(`${p}.`)))])];
  const crds = [...crdsFromDir(dir), ...templateFiles(dir).flatMap((f) => crdsFromTemplate(dir, f))];
  const workloads = templateFiles(dir).flatMap((f) => workloadsFromTemplate(dir, f, meta.name));
  const extracted: ExtractedChart = {
    values,
    chart: meta.name,
    version: meta.version,
    appVersion: meta.appVersion,
    keys,
    open,
    crds,
    images: imagesInValues(values, meta.appVersion),
    workloads,
    extra: templateOnlyKeys(dir, keys, open),
    hookValues: keys.filter((k) => k.includes('helm.sh/hook')),
    todos,
  };
  for (const sub of subcharts(dir, todos)) mergeSubchart(extracted, sub);
  return extracted;
}

interface Subchart {
  /** values prefix: the dependency's alias or name */
  key: string;
  condition?: string;
  chart: ExtractedChart;
}

/** Unpacked subcharts under charts/ (a packed .tgz is left as a TODO: unpack it next to it). */
function subcharts(dir: string, todos: string[]): Subchart[] {
  const chartDir = path.join(dir, 'charts');
  if (!existsSync(chartDir)) return [];
  const meta = (parse(
    readFileSync(path.join(dir, existsSync(path.join(dir, 'Chart.yaml')) ? 'Chart.yaml' : 'Chart.template.yaml'), 'utf8'),
  ) ?? {}) as {
    dependencies?: { name: string; alias?: string; condition?: string }[];
  };
  const out: Subchart[] = [];
  for (const entry of readdirSync(chartDir).sort()) {
    const p = path.join(chartDir, entry);
    if (!statSync(p).isDirectory()) {
      if (entry.endsWith('.tgz'))
        todos.push(`subchart ${entry} is packed: unpack it into charts/ and extract again to include its values, CRDs and workloads`);
      continue;
    }
    const sub = extractChart(p);
    const dep = meta.dependencies?.find((d) => d.name === sub.chart);
    // Helm's condition may list several paths: the first that exists decides; the first is taken
    const condition = dep?.condition?.split(',')[0]?.trim();
    if (dep?.condition?.includes(','))
      todos.push(`subchart ${sub.chart}: condition "${dep.condition}": only the first path is used as when`);
    out.push({ key: dep?.alias ?? sub.chart, condition, chart: sub });
  }
  return out;
}

/** A subchart's values go under its key; its objects exist only when its condition holds. */
function mergeSubchart(into: ExtractedChart, sub: Subchart): void {
  const pre = (k: string) => `${sub.key}.${k}`;
  const both = (w?: string) => [sub.condition, w].filter(Boolean).join(' && ') || undefined;
  into.keys.push(...sub.chart.keys.map(pre));
  into.open.push(...sub.chart.open.map(pre));
  into.extra.push(...sub.chart.extra.map((e) => ({ key: pre(e.key), template: `charts/${sub.chart.chart}/${e.template}` })));
  into.crds.push(...sub.chart.crds.map((c) => ({ ...c, when: both(c.when), from: `charts/${sub.chart.chart}/${c.from}` })));
  into.images.push(...sub.chart.images.map((i) => ({ ...i, path: pre(i.path) })));
  into.workloads.push(
    ...sub.chart.workloads.map((w) => ({
      ...w,
      when: both(w.when),
      from: `charts/${sub.chart.chart}/${w.from}`,
      todos: [...w.todos, `from subchart ${sub.chart.chart}: its .Values paths are relative to ${sub.key}`],
    })),
  );
  into.todos.push(...sub.chart.todos.map((t) => `subchart ${sub.chart.chart}: ${t}`));
}

/**
 * Values paths a template renders whole: `toYaml .Values.x` (also `toYaml (.Values.x | default
 * .Values.y)`), or `with .Values.x` whose block renders `toYaml .` right away.
 */
export function renderedWhole(dir: string): string[] {
  const found = new Set<string>();
  const paths = (expr: string) => [...expr.matchAll(/\$?\.Values\.([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)/g)].map((m) => m[1]!);
  for (const f of listFiles(path.join(dir, 'templates')).filter((x) => /\.(ya?ml|tpl)$/.test(x))) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/toYaml\s+\(?((?:\s*\$?\.Values\.[\w.]+\s*(?:\|\s*default\s*)?)+)\)?/g))
      for (const p of paths(m[1]!)) found.add(p);
    for (const m of text.matchAll(/\{\{-?\s*with\s+([^}]*?)\s*-?\}\}((?:\s*\n[^\n]*){0,2})/g)) {
      if (/toYaml\s+\.\s/.test(m[2]!) || /toYaml\s+\.\s*\|/.test(m[2]!)) for (const p of paths(m[1]!)) found.add(p);
    }
  }
  return [...found].sort();
}

/** `.Values.a.b` references in templates (helpers included) that values.yaml does not define. */
function templateOnlyKeys(dir: string, keys: string[], open: string[]): { key: string; template: string }[] {
  const known = new Set(keys);
  for (const k of keys) for (let i = k.indexOf('.'); i > 0; i = k.indexOf('.', i + 1)) known.add(k.slice(0, i));
  const found = new Map<string, string>();
  const files = listFiles(path.join(dir, 'templates')).filter((f) => /\.(ya?ml|tpl|txt)$/.test(f));
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(/\$?\.Values\.([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)/g)) {
      const key = m[1]!;
      if (known.has(key) || open.some((o) => key === o || key.startsWith(`${o}.`)) || found.has(key)) continue;
      found.set(key, path.relative(dir, f));
    }
  }
  return [...found].map(([key, template]) => ({ key, template })).sort((a, b) => a.key.localeCompare(b.key));
}

function readChartMeta(dir: string, todos: string[]): { name: string; version: string; appVersion?: string } {
  for (const name of ['Chart.yaml', 'Chart.template.yaml']) {
    const file = path.join(dir, name);
    if (!existsSync(file)) continue;
    const c = (parse(readFileSync(file, 'utf8')) ?? {}) as { name?: string; version?: string; appVersion?: string };
    if (name !== 'Chart.yaml')
      todos.push(`${name}: version/appVersion are filled in by the upstream release build; check them against the tag`);
    return {
      name: String(c.name ?? path.basename(dir)),
      version: String(c.version ?? 'TODO'),
      appVersion: c.appVersion === undefined ? undefined : String(c.appVersion),
    };
  }
  todos.push('no Chart.yaml: chart name taken from the directory name');
  return { name: path.basename(dir), version: 'TODO' };
}

/** Dotted leaf paths of values.yaml (lists are leaves); maps whose default is {} or null are open. */
export function flattenValues(values: unknown): { keys: string[]; open: string[] } {
  const open: string[] = [];
  const walk = (v: unknown, prefix: string): void => {
    if (v === null && prefix) open.push(prefix);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return;
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0 && prefix) open.push(prefix);
    for (const [k, child] of entries) walk(child, prefix ? `${prefix}.${k}` : k);
  };
  walk(values, '');
  return { keys: valuesKeyPaths(values), open };
}

/** Images named in values.yaml: maps with repository (+ registry, tag), or image: "repo:tag" strings. */
export function imagesInValues(values: unknown, appVersion?: string): { path: string; ref: string }[] {
  const out: { path: string; ref: string }[] = [];
  const walk = (v: unknown, at: string): void => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return;
    const m = v as Record<string, unknown>;
    if (typeof m.repository === 'string' && m.repository) {
      const registry = typeof m.registry === 'string' && m.registry ? `${m.registry}/` : '';
      const tag = m.tag === undefined || m.tag === null || m.tag === '' ? `${appVersion ?? 'TODO'}` : String(m.tag);
      const digest = typeof m.digest === 'string' && m.digest ? `@${m.digest}` : '';
      out.push({ path: at, ref: `${registry}${m.repository}:${tag}${digest}` });
    }
    for (const [k, child] of Object.entries(m)) {
      const p = at ? `${at}.${k}` : k;
      if (k === 'image' && typeof child === 'string' && /^[\w.-]+(\/[\w.-]+)+(:[\w.-]+)?$/.test(child)) out.push({ path: p, ref: child });
      else walk(child, p);
    }
  };
  walk(values, '');
  return out;
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = path.join(dir, f);
      return statSync(p).isDirectory() ? listFiles(p) : [p];
    });
}

function templateFiles(dir: string): string[] {
  return listFiles(path.join(dir, 'templates')).filter((f) => /\.(ya?ml|tpl)$/.test(f) && !path.basename(f).startsWith('_'));
}

function crdsFromDir(dir: string): ExtractedChart['crds'] {
  return listFiles(path.join(dir, 'crds'))
    .filter((f) => /\.ya?ml$/.test(f))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(f, 'utf8'))
        .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } } | null)
        .filter((o) => o?.kind === 'CustomResourceDefinition' && o.metadata?.name)
        .map((o) => ({ name: o!.metadata!.name!, from: path.relative(dir, f) })),
    );
}

interface Action {
  offset: number;
  /** the open blocks (if/with/range/define conditions) after this action */
  stack: string[];
}

/** Go template actions in order, with the stack of open blocks after each one. */
function blockStack(text: string): Action[] {
  const actions: Action[] = [];
  const stack: string[] = [];
  const re = /\{\{-?\s*([\s\S]*?)\s*-?\}\}/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const body = m[1]!.replace(/^\/\*[\s\S]*\*\/$/, '');
    const word = /^(\w+)/.exec(body)?.[1];
    if (word === 'if' || word === 'with' || word === 'range' || word === 'define' || word === 'block') stack.push(body);
    else if (word === 'else' && stack.length) stack[stack.length - 1] = `else of ${stack[stack.length - 1]}`;
    else if (word === 'end') stack.pop();
    actions.push({ offset: m.index, stack: [...stack] });
  }
  return actions;
}

function stackAt(actions: Action[], offset: number): string[] {
  let last: string[] = [];
  for (const a of actions) {
    if (a.offset > offset) break;
    last = a.stack;
  }
  return last;
}

/** `.Values.a.b` -> "a.b", `not .Values.a` -> "!a", `and X Y` -> "X && Y"; undefined when not simple */
export function simpleCondition(expr: string): string | undefined {
  const e = expr.trim().replace(/^\(|\)$/g, '');
  const v = /^\$?\.Values\.([\w.]+)$/.exec(e);
  if (v) return v[1];
  const not = /^not\s+(.+)$/.exec(e);
  if (not) {
    const inner = simpleCondition(not[1]!);
    return inner && !inner.includes('&&') && !inner.startsWith('!') ? `!${inner}` : undefined;
  }
  const and = /^and\s+(\S+)\s+(\S+)$/.exec(e);
  if (and) {
    const [a, b] = [simpleCondition(and[1]!), simpleCondition(and[2]!)];
    return a && b && !a.includes('||') && !b.includes('||') ? `${a} && ${b}` : undefined;
  }
  const or = /^or\s+(\S+)\s+(\S+)$/.exec(e);
  if (or) {
    const [a, b] = [simpleCondition(or[1]!), simpleCondition(or[2]!)];
    return a && b ? `${a} || ${b}` : undefined;
  }
  return undefined;
}

/** The `when` of the blocks enclosing an object; TODO when a block is not a simple values test. */
function conditionOf(stack: string[], todos: string[]): string | undefined {
  const parts: string[] = [];
  for (const block of stack) {
    const m = /^(if|with)\s+([\s\S]+)$/.exec(block);
    const simple = m ? simpleCondition(m[2]!) : undefined;
    if (simple) parts.push(simple);
    else todos.push(`enclosed in {{ ${block} }}: check when this object is rendered`);
  }
  // no parentheses in the when grammar: an || can only stand alone
  if (parts.length > 1 && parts.some((p) => p.includes('||'))) {
    todos.push(`conditions ${parts.map((p) => `(${p})`).join(' and ')}: write them without parentheses`);
    return parts.filter((p) => !p.includes('||')).join(' && ') || undefined;
  }
  return parts.length ? parts.join(' && ') : undefined;
}

/** Splits a template file into its YAML documents (on `---` lines), with their offsets. */
function documents(text: string): { offset: number; text: string }[] {
  const out: { offset: number; text: string }[] = [];
  const re = /^---.*$/gm;
  let start = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ offset: start, text: text.slice(start, m.index) });
    start = m.index + m[0].length;
  }
  out.push({ offset: start, text: text.slice(start) });
  return out;
}

/** metadata.name: the first `name:` indented under `metadata:`, as written. */
function metadataName(doc: string): string | undefined {
  const m = /^(\s*)metadata:\s*\n((?:\1\s+.*\n|\s*\{\{.*\n)*?)\1\s+name:\s*(.+)$/m.exec(doc);
  return m ? m[3]!.trim() : undefined;
}

/** Replaces the usual name helpers with the facts placeholders. */
export function nameExpression(raw: string, chart: string): string {
  const helper = chart.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return raw
    .replace(/^["']|["']$/g, '')
    .replace(/\{\{-?\s*\.Chart\.Name\s*-?\}\}/g, chart)
    .replace(/\{\{-?\s*\.Release\.Name\s*-?\}\}/g, '{release}')
    .replace(/\{\{-?\s*\.Release\.Namespace\s*-?\}\}/g, '{namespace}')
    .replace(new RegExp(`\\{\\{-?\\s*(?:include|template)\\s+"${helper}\\.fullname"\\s+[.$]\\s*-?\\}\\}`, 'g'), '{fullname}');
}

function crdsFromTemplate(dir: string, file: string): ExtractedChart['crds'] {
  const text = readFileSync(file, 'utf8');
  if (!/^kind:\s*CustomResourceDefinition\s*$/m.test(text)) return [];
  const actions = blockStack(text);
  const from = path.relative(dir, file);
  return documents(text)
    .filter((d) => /^kind:\s*CustomResourceDefinition\s*$/m.test(d.text))
    .map((d) => {
      const todos: string[] = [];
      const kindAt = d.offset + d.text.search(/^kind:/m);
      const when = conditionOf(stackAt(actions, kindAt), todos);
      const name = metadataName(d.text) ?? 'TODO';
      return { name, when, from, ...(todos.length ? { todos } : {}) };
    });
}

const valuesRefs = (text: string, last: RegExp): string[] => [
  ...new Set([...text.matchAll(/\$?\.Values\.([\w.]+)/g)].map((m) => m[1]!).filter((p) => last.test(p.split('.').pop()!))),
];

export function workloadsFromTemplate(dir: string, file: string, chart: string): ExtractedWorkload[] {
  const text = readFileSync(file, 'utf8');
  const actions = blockStack(text);
  const from = path.relative(dir, file);
  const out: ExtractedWorkload[] = [];
  for (const d of documents(text)) {
    const kind = /^kind:\s*(\w+)\s*$/m.exec(d.text)?.[1];
    if (!kind || !WORKLOAD_KINDS.has(kind)) continue;
    const todos: string[] = [];
    const when = conditionOf(stackAt(actions, d.offset + d.text.search(/^kind:/m)), todos);
    const rawName = metadataName(d.text);
    const name = rawName ? nameExpression(rawName, chart) : 'TODO';
    if (!rawName || name.includes('{{')) todos.push(`metadata.name is ${rawName ?? 'not found'}: write it with {release}/{fullname}`);
    const annotation = (key: string) =>
      new RegExp(`["']?${key.replace(/[./]/g, '\\$&')}["']?:\\s*["']?([^"'\\n]+)["']?`).exec(d.text)?.[1]?.trim();
    const hook = annotation('helm.sh/hook');
    const replicasRef = /replicas:\s*\{\{-?\s*\$?\.Values\.([\w.]+)/.exec(d.text)?.[1];
    if (['Deployment', 'StatefulSet', 'ReplicaSet'].includes(kind) && !replicasRef)
      todos.push('replicas not a plain .Values reference: read the template');
    const resources = valuesRefs(d.text, /^resources$/);
    const containers = containerNames(d.text, chart);
    if (containers.length !== resources.length)
      todos.push(
        `${containers.length} container(s), ${resources.length} .Values...resources reference(s): check which container has which (none = resources {})`,
      );
    out.push({
      kind,
      name,
      from,
      when,
      hook,
      hookWeight: annotation('helm.sh/hook-weight'),
      hookDeletePolicy: annotation('helm.sh/hook-delete-policy'),
      replicas: replicasRef,
      priorityClassName: valuesRefs(d.text, /^priorityClassName$/),
      nodeSelector: valuesRefs(d.text, /^nodeSelector$/),
      tolerations: valuesRefs(d.text, /^tolerations$/),
      affinity: valuesRefs(d.text, /^affinity$/),
      resources,
      images: valuesRefs(d.text, /^image$/),
      containers,
      todos,
    });
  }
  return out;
}

/** Names of the items of `containers:` and `initContainers:` lists: the item's own `name:` key. */
function containerNames(doc: string, chart: string): { name: string; init: boolean }[] {
  const out: { name: string; init: boolean }[] = [];
  const lines = doc.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const head = /^(\s*)(initContainers|containers):\s*$/.exec(lines[i]!);
    if (!head) continue;
    const indent = head[1]!.length;
    let itemIndent: number | undefined;
    let named = true;
    for (let j = i + 1; j < lines.length; j++) {
      const line = lines[j]!;
      if (/^\s*(\{\{.*\}\}\s*)?$/.test(line) || /^\s*#/.test(line)) continue;
      const lead = /^(\s*)/.exec(line)![1]!.length;
      const isItem = /^\s*-\s/.test(line);
      if (lead < indent || (lead === indent && !isItem)) break;
      if (isItem && itemIndent === undefined) itemIndent = lead;
      if (isItem && lead === itemIndent) named = false;
      if (named || itemIndent === undefined) continue;
      // the item's name: on its "- name:" line, or as a key one level below the dash
      const m = lead === itemIndent ? /^\s*-\s+name:\s*(.+)$/.exec(line) : lead === itemIndent + 2 ? /^\s*name:\s*(.+)$/.exec(line) : null;
      if (m) {
        out.push({ name: nameExpression(m[1]!.trim(), chart), init: head[2] === 'initContainers' });
        named = true;
      }
    }
  }
  return out;
}

export interface DraftSource {
  repo?: string;
  tag?: string;
  commit?: string;
  path?: string;
  repoURL?: string;
  release?: string;
}

/** {fullname} the way the usual `<chart>.fullname` helper computes it, for a release name. */
export function fullnameFor(chart: string, release: string): string {
  return (release.includes(chart) ? release : `${release}-${chart}`).slice(0, 63).replace(/-$/, '');
}

/** A draft facts file: what was extracted, TODO comments for what a human fills in. */
export function valueAt(values: unknown, dotted: string): unknown {
  let v: unknown = values;
  for (const k of dotted.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

export function draftFactsYaml(x: ExtractedChart, src: DraftSource = {}): string {
  const flow = (v: unknown) => JSON.stringify(v ?? null);
  const def = (p: string) => {
    const v = valueAt(x.values, p);
    // a comment here would swallow the rest of the flow mapping: "TODO" is flagged by the line's TODO
    return v === undefined ? '"TODO: not in values.yaml"' : flow(v);
  };
  // one key a line: long lists stay readable and diff well when a version bump changes them
  // a block string, one key a line: parses far faster than a YAML list of a thousand keys
  const block = (field: string, items: string[]) =>
    items.length ? [`  ${field}: |`, ...items.map((k) => `    ${k}`)] : [`  ${field}: []`];
  const out: string[] = [];
  out.push(
    `# DRAFT extracted by scripts/chart-facts.mjs from ${src.repo ?? 'TODO repo'} ${src.tag ?? 'TODO tag'}: finish every TODO by reading the templates`,
  );
  for (const t of x.todos) out.push(`# TODO ${t}`);
  if (src.release)
    out.push(
      `# with release name "${src.release}", {release} = ${src.release} and the usual {fullname} = ${fullnameFor(x.chart, src.release)}`,
    );
  out.push(`chart: ${x.chart}`, `version: ${x.version}`, `repoURL: ${src.repoURL ?? 'TODO'}`);
  out.push(
    'source:',
    `  repo: ${src.repo ?? 'TODO'}`,
    `  tag: ${src.tag ?? 'TODO'}`,
    `  commit: ${src.commit ?? 'TODO'}`,
    `  path: ${src.path ?? 'TODO'}`,
    `  read: ${new Date().toISOString().slice(0, 10)}`,
  );
  out.push('maintained: true  # TODO check the upstream README / repository status');
  out.push('values:');
  out.push(...block('keys', x.keys), ...block('open', x.open));
  if (x.extra.length) {
    out.push('  extra:  # TODO read by the templates, not in values.yaml: check each (open: true when it takes a map)');
    for (const e of x.extra) out.push(`    - { key: ${e.key}, template: ${e.template} }`);
  } else out.push('  extra: []');
  out.push('  passthrough: false  # TODO a string saying where, if the chart renders unknown keys as-is');
  if (x.hookValues.length) out.push(`# TODO hooks set from values (annotations): ${x.hookValues.join(', ')}`);
  out.push(x.crds.length ? 'crds:' : 'crds: []');
  for (const c of x.crds) {
    for (const t of c.todos ?? []) out.push(`  # TODO ${c.name}: ${t}`);
    out.push(`  - { name: ${c.name}${c.when ? `, when: ${JSON.stringify(c.when)}` : ''}, from: ${c.from} }`);
  }
  out.push(x.workloads.length ? 'workloads:' : 'workloads: []  # TODO none found: check for pods created another way');
  for (const w of x.workloads) {
    out.push(`  - kind: ${w.kind}`, `    name: ${JSON.stringify(w.name)}`, `    from: ${w.from}`);
    for (const t of w.todos) out.push(`    # TODO ${t}`);
    if (w.when) out.push(`    when: ${JSON.stringify(w.when)}`);
    if (w.hook) out.push(`    hook: ${w.hook}`);
    if (w.hookWeight) out.push(`    hookWeight: ${JSON.stringify(w.hookWeight)}`);
    if (w.hookDeletePolicy) out.push(`    hookDeletePolicy: ${w.hookDeletePolicy}`);
    if (w.replicas) out.push(`    replicas: { path: ${w.replicas}, default: ${def(w.replicas)} }`);
    if (w.kind === 'Deployment') out.push('    maxSurge: "25%"  # TODO unless the template sets a strategy');
    for (const [field, refs] of [
      ['priorityClassName', w.priorityClassName],
      ['nodeSelector', w.nodeSelector],
      ['tolerations', w.tolerations],
      ['affinity', w.affinity],
    ] as const) {
      if (refs?.length === 1) out.push(`    ${field}: { path: ${refs[0]} }`);
      else if (refs && refs.length > 1)
        out.push(`    ${field}: { path: ${refs[0]}, or: [${refs.slice(1).join(', ')}] }  # TODO check the order`);
    }
    out.push('    containers:');
    const containers = w.containers.length ? w.containers : [{ name: 'TODO', init: false }];
    containers.forEach((c, i) => {
      const res = w.resources[i];
      const img = w.images[i] ?? w.images[0];
      const imgRef = x.images.find((im) => im.path === img)?.ref ?? 'TODO';
      out.push(`      - name: ${JSON.stringify(c.name)}${c.init ? '\n        init: true' : ''}`);
      out.push(`        image: { ${img ? `path: ${img}, ` : ''}ref: ${imgRef} }`);
      out.push(
        res
          ? `        resources: { path: ${res}, default: ${def(res)} }`
          : '        resources: { default: {} }  # TODO no .Values...resources found for this container: check the template',
      );
    });
  }
  out.push('services: []  # TODO Services the templates create, by rendered name');
  out.push(x.images.length ? 'images:' : 'images: []');
  for (const im of x.images) {
    out.push(
      `  - ref: ${im.ref}  # from values ${im.path}`,
      '    platforms: [TODO]',
      '    platformsFrom: TODO upstream build config (Makefile, goreleaser, workflow platforms:, bake file)',
    );
  }
  return `${out.join('\n')}\n`;
}
