// The inventory's YAML with its positions kept: every later check asks this module where a
// field is (line and column) so its error can point there.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node, Pair } from 'yaml';
import { formatPath, type FieldPath, type InventoryIssue } from './errors.ts';

export interface Location {
  line: number;
  column: number;
}

interface Found {
  /** the value node at the deepest path segment that exists */
  node: unknown;
  /** the key node of that segment, when it was a mapping key */
  key: unknown;
  /** how many path segments exist in the document */
  depth: number;
}

export class SourceDoc {
  constructor(
    /** the file name as the user gave it (used in messages) */
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Where the value at `path` starts; the nearest existing ancestor when it is absent. */
  locateValue(path: FieldPath): Location {
    const found = this.find(path);
    const valueHasPosition = rangeOf(found.node) !== undefined && !isEmptyScalar(found.node);
    if (found.depth === path.length && valueHasPosition) return this.position(found.node);
    return this.position(found.key ?? found.node);
  }

  /** Where the key of the last segment of `path` is (for unknown or misspelled keys). */
  locateKey(path: FieldPath): Location {
    const found = this.find(path);
    return this.position(found.key ?? found.node);
  }

  /** Keys of the mapping at `path` in document order (JS objects reorder integer-like keys). */
  keysInOrder(path: FieldPath): string[] {
    const { node, depth } = this.find(path);
    const map = this.resolve(node);
    if (depth !== path.length || !isMap(map)) return [];
    return map.items.map((pair) => keyText(pair));
  }

  /** The path of the mapping key that starts at `offset`, e.g. for a duplicate-key error. */
  pathOfKeyAt(offset: number): FieldPath | undefined {
    const search = (node: unknown, path: Array<string | number>): FieldPath | undefined => {
      const n = this.resolve(node);
      if (isMap(n)) {
        for (const pair of n.items) {
          const key = keyText(pair);
          if (rangeOf(pair.key)?.[0] === offset) return [...path, key];
          const inner = search(pair.value, [...path, key]);
          if (inner) return inner;
        }
      } else if (isSeq(n)) {
        for (let i = 0; i < n.items.length; i++) {
          const inner = search(n.items[i], [...path, i]);
          if (inner) return inner;
        }
      }
      return undefined;
    };
    return search(this.doc.contents, []);
  }

  /** Line of the first key equal to the last segment of `path`, for "first defined at line N". */
  firstKeyLine(path: FieldPath): number | undefined {
    const parent = this.find(path.slice(0, -1));
    const map = this.resolve(parent.node);
    if (parent.depth !== path.length - 1 || !isMap(map)) return undefined;
    const first = map.items.find((pair) => keyText(pair) === String(path[path.length - 1]));
    return first ? this.position(first.key).line : undefined;
  }

  position(node: unknown): Location {
    const range = rangeOf(node) ?? rangeOf(this.doc.contents);
    if (!range) return { line: 1, column: 1 };
    const { line, col } = this.lines.linePos(range[0]);
    return { line, column: col };
  }

  private find(path: FieldPath): Found {
    let node: unknown = this.doc.contents;
    let key: unknown;
    let depth = 0;
    for (const seg of path) {
      const current = this.resolve(node);
      let next: { node: unknown; key?: unknown } | undefined;
      if (isMap(current)) {
        const pair = current.items.find((p) => keyText(p) === String(seg));
        if (pair) next = { node: pair.value, key: pair.key };
      } else if (isSeq(current) && typeof seg === 'number' && seg < current.items.length) {
        next = { node: current.items[seg] };
      }
      if (!next) break;
      node = next.node;
      key = next.key;
      depth++;
    }
    return { node, key, depth };
  }

  private resolve(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }
}

function keyText(pair: Pair): string {
  const key = pair.key;
  if (isScalar(key)) return String(key.value);
  return String(key);
}

function rangeOf(node: unknown): [number, number, number] | undefined {
  if (node && typeof node === 'object' && 'range' in node) {
    const range = (node as Node).range;
    if (range) return range;
  }
  return undefined;
}

/** `port:` with nothing after it: the scalar's range points past the line, so use the key. */
function isEmptyScalar(node: unknown): boolean {
  return isScalar(node) && node.value === null && node.source === '';
}

export interface ParsedSource {
  source: SourceDoc;
  /** the document as plain data; undefined when it could not be parsed */
  data: unknown;
  issues: InventoryIssue[];
}

/** Parses YAML, reporting syntax errors, duplicate keys and unknown tags at their positions. */
export function parseYamlSource(text: string, file: string): ParsedSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, merge: true });
  const source = new SourceDoc(file, doc, lines);
  const issues: InventoryIssue[] = [];
  const report = (offset: number, path: FieldPath, message: string) => {
    const { line, col } = lines.linePos(Math.min(offset, Math.max(text.length - 1, 0)));
    issues.push({ file, line, column: col, path: formatPath(path), message, severity: 'error' });
  };

  for (const problem of [...doc.errors, ...doc.warnings]) {
    const offset = problem.pos[0];
    if (problem.code === 'DUPLICATE_KEY') {
      const path = source.pathOfKeyAt(offset) ?? [];
      const first = path.length ? source.firstKeyLine(path) : undefined;
      const key = path.length ? String(path[path.length - 1]) : text.slice(problem.pos[0], problem.pos[1]);
      report(offset, path, `duplicate key "${key}"${first ? ` (first defined at line ${first})` : ''}`);
    } else if (problem.code === 'MULTIPLE_DOCS') {
      report(offset, [], 'the inventory must be a single YAML document (a second one starts here)');
    } else {
      report(offset, [], `YAML: ${cleanYamlMessage(problem.message)}`);
    }
  }
  if (issues.length) return { source, data: undefined, issues };

  try {
    return { source, data: doc.toJS({ maxAliasCount: 100 }), issues };
  } catch (err) {
    // only excessive alias expansion (a "billion laughs" document) gets here
    report(0, [], `YAML: ${(err as Error).message}`);
    return { source, data: undefined, issues };
  }
}

/** The yaml package appends "at line N, column M:" and a source excerpt; we print our own position. */
function cleanYamlMessage(message: string): string {
  const firstLine = message.split('\n')[0];
  return firstLine.replace(/ at line \d+, column \d+:?$/, '').replace(/[.:]$/, '');
}
