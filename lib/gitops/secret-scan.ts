// Secret scanner: the last gate before a rendered GitOps repository is committed or pushed.
// Two kinds of rules:
//  - token rules, on every line of every text file: PEM and OpenSSH private keys, GitHub tokens,
//    AWS keys, K3s join tokens, passwords inside URLs (also inside base64-encoded values, where
//    kubeconfigs and Secret data hide PEM keys);
//  - config rules, on YAML/JSON/Handlebars and env/ini-style files: credential-named keys with
//    literal values, `kind: Secret` manifests carrying data in clear (they must be SealedSecrets),
//    and high-entropy base64 values in ConfigMap-style `data:` fields.
// References are not secrets: secretKeyRef/valueFrom/existingSecret/envFrom subtrees, empty values,
// ${VAR} / $VAR / {{ template }} placeholders, and SealedSecret encryptedData are allowed.
// Beside the project's own token rules runs a maintained rule set: secretlint's recommended preset
// (@secretlint/secretlint-rule-preset-recommend: AWS, GCP, GitHub, GitLab, Slack, Stripe, npm,
// OpenAI, database connection strings, ... kept up to date upstream), its rules driven directly
// (recommendedRuleFindings), without the secretlint engine. Its findings are named
// "secretlint/<rule>" and give way to a project rule that fired on the same line.
// YAML and JSON files are also scanned as parsed documents (the `yaml` package): every string
// value as the parser reads it, so a token split by a quoted line continuation, or inside a
// JSON-in-YAML value (also base64-encoded there), is still found, at the line the parser places it.
// The config rules read those parsed documents too (scanParsedConfig: the document's kind wherever
// it stands, key paths, flow maps, quoted keys, block scalars, aliases); a line-by-line reader
// (scanYamlLike) is kept only for what does not parse (Handlebars templates) and extension-less files.
// A line containing "clusterseed:allow-secret" is exempt (for deliberate, reviewed exceptions).
// Excerpts are masked: a finding never repeats the secret it found.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { rules as presetRules } from '@secretlint/secretlint-rule-preset-recommend';
import { LineCounter, Scalar, isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, type YAMLMap } from 'yaml';
import { maskPreview } from '../report/mask.ts';

export type SecretRule =
  | 'private-key'
  | 'openssh-private-key'
  | 'github-token'
  | 'aws-access-key'
  | 'aws-secret-key'
  | 'k3s-token'
  | 'url-credentials'
  | 'plaintext-secret-manifest'
  | 'plaintext-credential'
  | 'high-entropy-data'
  /** a rule of the maintained set (secretlint's recommended preset), by its short name */
  | `secretlint/${string}`;

export interface SecretFinding {
  file: string;
  /** 1-based */
  line: number;
  rule: SecretRule;
  /** the offending line, trimmed, with the secret masked */
  excerpt: string;
}

export const ALLOW_MARKER = 'clusterseed:allow-secret';
const EXCERPT_MAX = 160;
/** Heuristic rules give way to a specific rule that fired on the same line. */
const HEURISTIC_RULES = new Set<SecretRule>(['plaintext-credential', 'high-entropy-data']);

function isMaintainedRule(rule: SecretRule): boolean {
  return rule.startsWith('secretlint/');
}

interface TokenRule {
  rule: SecretRule;
  pattern: RegExp;
  /** index of the capture group holding the secret part to mask (0 = whole match) */
  secretGroup: number;
  /** matches that are documented examples or otherwise not secrets */
  ignore?: (match: RegExpExecArray) => boolean;
}

// Built from parts so this file does not itself look like it holds a key.
const PEM_DASHES = '-'.repeat(5);

const TOKEN_RULES: TokenRule[] = [
  {
    rule: 'openssh-private-key',
    pattern: new RegExp(`${PEM_DASHES}BEGIN OPENSSH PRIVATE KEY${PEM_DASHES}`, 'g'),
    secretGroup: 0,
  },
  {
    rule: 'private-key',
    pattern: new RegExp(`${PEM_DASHES}BEGIN (?:(?:RSA|EC|DSA|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?${PEM_DASHES}`, 'g'),
    secretGroup: 0,
  },
  {
    rule: 'github-token',
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b/g,
    secretGroup: 0,
  },
  {
    rule: 'aws-access-key',
    pattern: /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g,
    secretGroup: 0,
    ignore: (m) => m[0].endsWith('EXAMPLE'), // AWS documentation keys
  },
  {
    rule: 'aws-secret-key',
    pattern: /aws_?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi,
    secretGroup: 1,
    ignore: (m) => m[1].includes('EXAMPLEKEY'),
  },
  {
    // K3s secure token: K10<sha256 of the cluster CA>::<user>:<password>
    rule: 'k3s-token',
    pattern: /\bK10[0-9a-f]{64}::[A-Za-z0-9_.-]+:[A-Za-z0-9_.\-/+=]+/g,
    secretGroup: 0,
  },
  {
    rule: 'url-credentials',
    pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*:([^\s/@'"]+)@[^\s'"]/gi,
    secretGroup: 1,
    ignore: (m) => isPlaceholder(m[1]),
  },
];

// ---------------------------------------------------------------- value classification

/** `${VAR}`, `$VAR`, `$(cmd)`, `{{ template }}`, `<your-token>`: the value is supplied elsewhere. */
function isPlaceholder(value: string): boolean {
  return /\$\{[^}]*\}/.test(value) || /\{\{.*\}\}/.test(value) || /^\$[A-Za-z0-9_({]/.test(value) || /^<[^<>]+>$/.test(value);
}

/** Values that carry no secret: empty, null, booleans, placeholders, aliases, encrypted forms. */
function isHarmlessValue(value: string): boolean {
  const v = value.trim();
  if (v === '' || v === '~' || /^(null|true|false|yes|no|on|off)$/i.test(v)) return true;
  if (v === '{}' || v === '[]') return true;
  if (isPlaceholder(v)) return true;
  if (v.startsWith('*')) return true; // YAML alias
  if (/^!vault\b/.test(v) || /^ENC\[.*\]$/.test(v)) return true; // ansible-vault, sops
  return false;
}

const CREDENTIAL_SUFFIXES = [
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'accesskey',
  'secretkey',
  'privatekey',
  'clientsecret',
  'credential',
  'credentials',
];

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_.\s]/g, '');
}

/** Does this key name say its value is a credential? (`adminPassword`, `GITHUB_TOKEN`, `secret`) */
function isCredentialKey(key: string): boolean {
  // identifiers only: "@octokit/auth-token" in a lockfile names a package, not a credential
  if (!/^[A-Za-z0-9_.-]+$/.test(key)) return false;
  const k = normalizeKey(key);
  if (k.startsWith('existing')) return false; // existingSecret: names a Secret, holds no secret
  return CREDENTIAL_SUFFIXES.some((suffix) => k.endsWith(suffix));
}

/**
 * Charts name Secrets with keys like `tlsSecret: grafana-tls`; a hyphenated lowercase name under
 * a key ending in plain "secret" reads as a reference. Passwords, tokens and clientSecret values
 * get no such benefit of the doubt.
 */
function isSecretNameReference(key: string, value: string): boolean {
  const k = normalizeKey(key);
  return k.endsWith('secret') && !k.endsWith('clientsecret') && /^[a-z0-9]+(-[a-z0-9]+)+$/.test(value) && value.length <= 63;
}

/** Subtrees that reference secrets kept elsewhere, or hold ciphertext. */
const REFERENCE_PARENTS = new Set([
  'secretkeyref',
  'secretref',
  'valuefrom',
  'envfrom',
  'existingsecret',
  'encrypteddata',
  'remoteref',
  'secretstoreref',
]);

function shannonEntropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let entropy = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    entropy -= p * Math.log2(p);
  }
  return entropy;
}

/** Random-looking base64: long enough, mixed character classes, near the entropy of random data. */
function isHighEntropyBase64(value: string): boolean {
  if (value.length < 20 || !/^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+={0,2})$/.test(value)) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((re) => re.test(value)).length;
  if (classes < 2) return false;
  const body = value.replace(/=+$/, '');
  return shannonEntropy(body) >= Math.min(4.5, Math.log2(body.length) * 0.85);
}

/** The text behind a base64 value, when it decodes to mostly printable text. */
function decodeBase64Text(value: string): string | undefined {
  if (value.length < 24 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  const decoded = Buffer.from(value, 'base64').toString('latin1');
  const printable = decoded.replace(/[^\x20-\x7e\r\n\t]/g, '').length;
  return printable / decoded.length > 0.9 ? decoded : undefined;
}

// ---------------------------------------------------------------- masking

function excerpt(line: string, secrets: string[]): string {
  let text = line;
  for (const secret of secrets.filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    if (secret.length >= 6) {
      text = text.split(secret).join(maskPreview(secret));
    } else {
      // short values would match elsewhere in the line (the key name): mask the value at the end
      const at = text.lastIndexOf(secret);
      if (at >= 0) text = text.slice(0, at) + maskPreview(secret) + text.slice(at + secret.length);
    }
  }
  text = text.trim();
  return text.length > EXCERPT_MAX ? text.slice(0, EXCERPT_MAX - 1) + '…' : text;
}

// ---------------------------------------------------------------- line parsing

type FileKind = 'yaml' | 'json' | 'env' | 'yaml+env' | 'other';

function fileKind(file: string): FileKind {
  const base = path.basename(file).toLowerCase();
  const ext = path.extname(base);
  if (['.yaml', '.yml', '.hbs', '.handlebars', '.tpl'].includes(ext)) return 'yaml';
  if (ext === '.json') return 'json';
  if (base === '.env' || base.startsWith('.env.') || ext === '.env') return 'env';
  if (['.ini', '.toml', '.conf', '.cfg', '.properties', '.sh', '.bash'].includes(ext)) return 'env';
  if (ext === '') return 'yaml+env';
  return 'other';
}

interface KeyLine {
  /** column of the key (after any "- " list markers) */
  column: number;
  /** the line starts a list item */
  listItem: boolean;
  key: string;
  /** value with quotes and trailing comment removed; '' when the key opens a mapping */
  value: string;
  /** the raw value text as written (for masking) */
  rawValue: string;
  /** `|` or `>` block scalar follows */
  block: boolean;
}

const YAML_KEY_LINE = /^(\s*)((?:-\s+)*)(?:"([^"]+)"|'([^']+)'|([^\s#'"{}[\],&*!|>%@`-][^#]*?|-[^\s#][^#]*?))\s*:(?:\s+(.*?))?\s*$/;

function unquote(raw: string, json: boolean): string {
  let v = raw.trim();
  if (json) v = v.replace(/,$/, '').trim();
  const quoted = /^"((?:[^"\\]|\\.)*)"|^'((?:[^']|'')*)'/.exec(v);
  if (quoted) return quoted[1] !== undefined ? quoted[1].replace(/\\(.)/g, '$1') : quoted[2].replace(/''/g, "'");
  return v.replace(/\s+#.*$/, '').trim();
}

function parseYamlKeyLine(line: string, json: boolean): KeyLine | undefined {
  const m = YAML_KEY_LINE.exec(line);
  if (!m) return undefined;
  const key = m[3] ?? m[4] ?? m[5];
  const rawValue = (m[6] ?? '').replace(/\s+#.*$/, '');
  const value = unquote(m[6] ?? '', json);
  return {
    column: m[1].length + m[2].length,
    listItem: m[2].length > 0,
    key,
    value: /^[|>][-+0-9]*$/.test(value) ? '' : value,
    rawValue: rawValue.trim(),
    block: /^[|>][-+0-9]*$/.test(value),
  };
}

const ENV_LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$/;

// ---------------------------------------------------------------- scanning

interface Collector {
  add(line: number, rule: SecretRule, text: string, secrets: string[]): void;
}

function scanTokens(text: string, lineNo: number, lineText: string, out: Collector, decodedFrom?: string): void {
  for (const rule of TOKEN_RULES) {
    rule.pattern.lastIndex = 0;
    for (let m = rule.pattern.exec(text); m; m = rule.pattern.exec(text)) {
      if (rule.ignore?.(m)) continue;
      // inside a base64 value: mask the whole encoded value; after a PEM header on the same
      // line (JSON, one-line strings): mask the key body that follows it
      const isPem = rule.rule === 'private-key' || rule.rule === 'openssh-private-key';
      const secret = decodedFrom ?? (isPem ? text.slice(m.index + m[0].length) : m[rule.secretGroup]);
      out.add(lineNo, rule.rule, lineText, [secret]);
    }
  }
}

interface StackEntry {
  column: number;
  key: string;
}

/** Config rules over YAML-like text, tracking the key path by indentation, document by document. */
function scanYamlLike(lines: string[], json: boolean, out: Collector): void {
  // The manifest rule needs each document's kind, which may come after its data.
  const kinds: string[] = [];
  let doc = 0;
  for (const line of lines) {
    if (/^---(\s|$)/.test(line) || /^\.\.\.\s*$/.test(line)) {
      doc++;
      continue;
    }
    const m = /^kind:\s*["']?([A-Za-z]+)["']?\s*(#.*)?$/.exec(line);
    if (m && kinds[doc] === undefined) kinds[doc] = m[1];
  }

  let stack: StackEntry[] = [];
  let names = new Map<number, string>(); // `name:` of the current list item, by column
  let pendingBlock: { lineNo: number; key: KeyLine; path: string[]; kind: string | undefined } | undefined;
  doc = 0;

  lines.forEach((line, index) => {
    const lineNo = index + 1;
    if (/^---(\s|$)/.test(line) || /^\.\.\.\s*$/.test(line)) {
      doc++;
      stack = [];
      names = new Map();
      pendingBlock = undefined;
      return;
    }
    if (line.trim() === '' || /^\s*#/.test(line)) return;
    const kind = kinds[doc];
    const indent = line.length - line.trimStart().length;

    if (pendingBlock) {
      const block = pendingBlock;
      pendingBlock = undefined;
      if (indent > block.key.column) {
        const content = line.trim();
        checkValue(block.lineNo, lines[block.lineNo - 1], block.key, content, block.path, block.kind, content);
      }
    }

    const parsed = parseYamlKeyLine(line, json);
    if (!parsed) return;
    while (stack.length > 0 && stack[stack.length - 1].column >= parsed.column) stack.pop();
    for (const column of [...names.keys()]) {
      if (column > parsed.column || (parsed.listItem && column === parsed.column)) names.delete(column);
    }
    const parents = stack.map((e) => e.key);
    stack.push({ column: parsed.column, key: parsed.key });
    if (parsed.key === 'name') names.set(parsed.column, parsed.value);

    if (parsed.block) {
      pendingBlock = { lineNo, key: parsed, path: parents, kind };
      return;
    }
    checkValue(lineNo, line, parsed, parsed.value, parents, kind, parsed.rawValue);
  });

  function checkValue(
    lineNo: number,
    line: string,
    key: KeyLine,
    value: string,
    parents: string[],
    kind: string | undefined,
    rawValue: string,
  ): void {
    checkConfigValue(
      {
        lineNo,
        line,
        key: key.key,
        value,
        rawValue,
        parents,
        kind,
        json,
        block: key.block,
        itemName: names.get(key.column),
        nested: key.column > 0,
      },
      out,
    );
  }
}

/** One key and its scalar value, from the parsed documents or from the line pass. */
interface ConfigEntry {
  /** the line reported (the key's line for a block scalar, else the value's) */
  lineNo: number;
  line: string;
  key: string;
  value: string;
  /** the value as written on the line (for masking) */
  rawValue: string;
  /** the keys of the enclosing maps, outermost first (sequences add none) */
  parents: string[];
  /** the document's `kind` */
  kind: string | undefined;
  json: boolean;
  /** a `|` or `>` block scalar */
  block: boolean;
  /** the `name` of the same map (an env-style name/value pair) */
  itemName: string | undefined;
  /** the key is not at the document's top level */
  nested: boolean;
}

/** The config rules on one key and value: Secret manifests, credential keys, high-entropy data. */
function checkConfigValue(e: ConfigEntry, out: Collector): void {
  const { lineNo, line, key, value, parents, kind } = e;
  if (line.includes(ALLOW_MARKER)) return;
  const normalizedParents = parents.map(normalizeKey);
  if (normalizedParents.some((p) => REFERENCE_PARENTS.has(p))) return;
  if (REFERENCE_PARENTS.has(normalizeKey(key))) return;
  const secrets = [e.rawValue, value];

  // base64 values may hide PEM keys or tokens (kubeconfig client-key-data, Secret data)
  const decoded = decodeBase64Text(value);
  if (decoded) scanTokens(decoded, lineNo, line, out, value);

  // kind: Secret with literal data/stringData entries (top-level data or stringData only)
  const topLevel = normalizedParents.length === 1 && e.nested;
  const secretDataField = parents.length === 1 && (parents[0] === 'data' || parents[0] === 'stringData');
  if (kind === 'Secret' && !e.json) {
    if (secretDataField && topLevel && !isHarmlessValue(value)) {
      out.add(lineNo, 'plaintext-secret-manifest', line, secrets);
      return;
    }
    if (parents.length === 0 && (key === 'data' || key === 'stringData') && !isHarmlessValue(value)) {
      out.add(lineNo, 'plaintext-secret-manifest', line, secrets); // inline flow map
      return;
    }
  }

  if (isHarmlessValue(value)) return;
  if (isCredentialKey(key) && !isSecretNameReference(key, value)) {
    out.add(lineNo, 'plaintext-credential', line, secrets);
    return;
  }
  // env-style list items: `- name: DB_PASSWORD` / `value: hunter2`
  if (key === 'value' && e.itemName && isCredentialKey(e.itemName)) {
    out.add(lineNo, 'plaintext-credential', line, secrets);
    return;
  }
  // block scalars are file contents (configs, certificates), not single encoded values
  const parent = normalizedParents[normalizedParents.length - 1];
  const dataField = parent === 'data' || parent === 'binarydata';
  if (dataField && !e.block && kind !== 'Secret' && isHighEntropyBase64(value)) {
    out.add(lineNo, 'high-entropy-data', line, secrets);
  }
}

/**
 * The config rules on the parsed documents of a YAML or JSON file: key paths, kinds, flow maps,
 * quoted keys, block scalars and aliases as the parser reads them. False (and nothing reported)
 * when a document does not parse: such a file (a template) is left to the line pass.
 */
function scanParsedConfig(text: string, lines: string[], json: boolean, out: Collector): boolean {
  const lineCounter = new LineCounter();
  let docs;
  try {
    docs = parseAllDocuments(text, { lineCounter, uniqueKeys: false });
  } catch {
    return false;
  }
  if (!Array.isArray(docs) || docs.some((doc) => doc.errors.length > 0)) return false;
  const lineOf = (offset: number): number => lineCounter.linePos(offset).line;

  for (const doc of docs) {
    const kindValue = isMap(doc.contents) ? doc.get('kind') : undefined;
    const kind = typeof kindValue === 'string' ? kindValue : undefined;

    const visit = (node: unknown, parents: string[]): void => {
      if (isMap(node)) visitMap(node, parents);
      else if (isSeq(node)) for (const item of node.items) visit(item, parents);
    };
    const visitMap = (map: YAMLMap, parents: string[]): void => {
      const namePair = map.items.find((p) => isScalar(p.key) && p.key.value === 'name');
      const itemName = namePair && isScalar(namePair.value) && typeof namePair.value.value === 'string' ? namePair.value.value : undefined;
      for (const pair of map.items) {
        if (!isScalar(pair.key) || !pair.key.range) continue; // a complex key names nothing
        const key = String(pair.key.value);
        let node = pair.value;
        if (isAlias(node)) node = node.resolve(doc) ?? null; // the anchored value, reported where the alias is used
        if (!isScalar(node)) {
          visit(node, [...parents, key]);
          continue;
        }
        if (node.tag === '!vault') continue; // ansible-vault ciphertext
        const range = node.range ?? pair.key.range;
        const source = text.slice(range[0], range[1]);
        const value = typeof node.value === 'string' ? node.value : node.value === null || node.value === undefined ? '' : source;
        const block = node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED;
        const aliased = isAlias(pair.value);
        const lineNo = block || aliased || !node.range ? lineOf(pair.key.range[0]) : lineOf(range[0]);
        const line = lines[lineNo - 1] ?? '';
        let rawValue = aliased ? '' : source.split(/\r?\n/)[0].trim();
        if (json && !block && !aliased)
          rawValue = line
            .slice(lineCounter.linePos(range[0]).col - 1)
            .replace(/\s+#.*$/, '')
            .trim();
        if (block) rawValue = value.trim().split(/\r?\n/)[0].trim();
        checkConfigValue(
          {
            lineNo,
            line,
            key,
            value: block ? value.trim() : value,
            rawValue,
            parents,
            kind,
            json,
            block,
            itemName,
            nested: parents.length > 0,
          },
          out,
        );
      }
    };
    visit(doc.contents, []);
  }
  return true;
}

function scanEnvLike(lines: string[], out: Collector): void {
  lines.forEach((line, index) => {
    if (line.includes(ALLOW_MARKER) || /^\s*[#;]/.test(line)) return;
    const m = ENV_LINE.exec(line);
    if (!m) return;
    const value = unquote(m[2], false);
    const decoded = decodeBase64Text(value);
    if (decoded) scanTokens(decoded, index + 1, line, out, value);
    if (isCredentialKey(m[1]) && !isHarmlessValue(value)) {
      out.add(index + 1, 'plaintext-credential', line, [m[2].trim(), value]);
    }
  });
}

// ---------------------------------------------------------------- maintained rule set

/** The part of secretlint's rule interface the preset's rules use (@secretlint/types). */
interface LintRule {
  meta: { id: string };
  messages: unknown;
  create(
    context: {
      report(descriptor: { message: unknown; range: readonly [number, number] }): void;
      ignore(descriptor: unknown): void;
      createTranslator(messages: unknown): (id: string, data?: unknown) => unknown;
    },
    options: object,
  ): { file?(source: { content: string; filePath?: string; ext: string; contentType: 'text' }): unknown };
}

/** The preset's rules, less its comment filter (this scanner has its own allow marker). */
const RECOMMENDED_RULES = (presetRules as unknown as LintRule[]).filter((r) => r.meta.id !== '@secretlint/secretlint-rule-filter-comments');

/** Documented example values the maintained rules would flag (AWS's own documentation keys). */
function isExampleToken(text: string): boolean {
  return /EXAMPLE/.test(text);
}

/** Runs every rule of the maintained set over `content`; returns each match by rule and offsets. */
function recommendedRuleFindings(file: string, content: string): { rule: SecretRule; start: number; end: number }[] {
  const found: { rule: SecretRule; start: number; end: number }[] = [];
  const ext = path.extname(file).toLowerCase();
  for (const lintRule of RECOMMENDED_RULES) {
    const rule: SecretRule = `secretlint/${lintRule.meta.id.replace(/^@secretlint\/secretlint-rule-/, '')}`;
    const handlers = lintRule.create(
      {
        report: ({ range }) => {
          if (!isExampleToken(content.slice(range[0], range[1]))) found.push({ rule, start: range[0], end: range[1] });
        },
        ignore: () => {},
        createTranslator: () => (id) => id,
      },
      {},
    );
    // the rules are synchronous but for reading .p12 files, which a rendered text never is
    void handlers.file?.({ content, ext: ext === '.p12' ? '' : ext, contentType: 'text' });
  }
  return found;
}

// ---------------------------------------------------------------- parsed YAML values

interface ParsedValue {
  /** 1-based lines the value's node spans */
  fromLine: number;
  toLine: number;
  key: string;
  value: string;
}

/** Every string value of every YAML (or JSON) document, with the lines the parser places it on. */
function parsedStringValues(text: string): ParsedValue[] {
  const lineCounter = new LineCounter();
  let docs;
  try {
    docs = parseAllDocuments(text, { lineCounter, uniqueKeys: false });
  } catch {
    return [];
  }
  if (!Array.isArray(docs)) return [];
  const out: ParsedValue[] = [];
  const visit = (node: unknown, key: string): void => {
    if (isScalar(node)) {
      if (typeof node.value === 'string' && node.range) {
        out.push({
          fromLine: lineCounter.linePos(node.range[0]).line,
          toLine: lineCounter.linePos(Math.max(node.range[0], node.range[1] - 1)).line,
          key,
          value: node.value,
        });
      }
    } else if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const name = isScalar(pair.key) ? String(pair.key.value) : key;
        visit(pair.value, name);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) visit(item, key);
    }
  };
  // a document the parser refuses (a Handlebars template, an env file) is left to the line rules
  for (const doc of docs) if (doc.errors.length === 0) visit(doc.contents, '');
  return out;
}

/** The string values inside a JSON-in-YAML value (a registry config.json, a JSON blob in a ConfigMap). */
function jsonStrings(value: string): { key: string; value: string }[] {
  const trimmed = value.trim();
  if (!/^[[{]/.test(trimmed)) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return [];
  }
  const out: { key: string; value: string }[] = [];
  const walk = (v: unknown, key: string): void => {
    if (typeof v === 'string') out.push({ key, value: v });
    else if (Array.isArray(v)) v.forEach((item) => walk(item, key));
    else if (v && typeof v === 'object') for (const [k, item] of Object.entries(v)) walk(item, k);
  };
  walk(parsed, '');
  return out;
}

/** Token rules (own and maintained) over a text that is a value, not a file's lines. */
function valueTokenRules(file: string, text: string): { rule: SecretRule; secret: string }[] {
  const found: { rule: SecretRule; secret: string }[] = [];
  const collect: Collector = { add: (_line, rule, _text, secrets) => found.push({ rule, secret: secrets[0] ?? '' }) };
  scanTokens(text, 0, text, collect);
  for (const f of recommendedRuleFindings(file, text)) found.push({ rule: f.rule, secret: text.slice(f.start, f.end) });
  return found;
}

function scanParsedValues(
  file: string,
  text: string,
  lines: string[],
  out: Collector & { fired(rule: SecretRule, from: number, to: number): boolean },
): void {
  for (const v of parsedStringValues(text)) {
    if (lines.slice(v.fromLine - 1, v.toLine).some((l) => l.includes(ALLOW_MARKER))) continue;
    // a one-line value was seen whole by the line pass; a value over several lines may join there
    const texts = v.toLine > v.fromLine ? [{ key: v.key, value: v.value, encoded: undefined as string | undefined }] : [];
    for (const inner of jsonStrings(v.value)) {
      texts.push({ key: inner.key, value: inner.value, encoded: undefined });
      const decoded = decodeBase64Text(inner.value);
      if (decoded) texts.push({ key: inner.key, value: decoded, encoded: inner.value });
    }
    for (const t of texts) {
      for (const { rule, secret } of valueTokenRules(file, t.value)) {
        if (out.fired(rule, v.fromLine, v.toLine)) continue;
        const shown = t.encoded ?? secret;
        out.add(v.fromLine, rule, `${t.key}: ${shown}`, [shown]);
      }
    }
  }
}

/**
 * Lines of SealedSecret `spec.encryptedData` values: ciphertext, random base64 that a maintained
 * rule matches by chance (secretlint's aws rule fired on about 1 in 15 sealed
 * AWS_SECRET_ACCESS_KEY values), so no maintained rule is asked about them.
 */
function sealedValueLines(text: string): Set<number> {
  const lines = new Set<number>();
  const lineCounter = new LineCounter();
  let docs;
  try {
    docs = parseAllDocuments(text, { lineCounter, uniqueKeys: false });
  } catch {
    return lines;
  }
  if (!Array.isArray(docs)) return lines;
  for (const doc of docs) {
    if (doc.errors.length > 0 || doc.get('kind') !== 'SealedSecret') continue;
    const data = doc.getIn(['spec', 'encryptedData'], true);
    if (!isMap(data)) continue;
    for (const pair of data.items) {
      if (!isPair(pair) || !isScalar(pair.value) || !pair.value.range) continue;
      const from = lineCounter.linePos(pair.value.range[0]).line;
      const to = lineCounter.linePos(Math.max(pair.value.range[0], pair.value.range[1] - 1)).line;
      for (let line = from; line <= to; line++) lines.add(line);
    }
  }
  return lines;
}

/** Scans one file's text; `file` is only used to pick the rules (by extension) and to label findings. */
export function scanText(file: string, text: string): SecretFinding[] {
  const findings = new Map<string, SecretFinding>();
  const collector = {
    add(line: number, rule: SecretRule, lineText: string, secrets: string[]) {
      const key = `${line}\0${rule}`;
      if (!findings.has(key)) findings.set(key, { file, line, rule, excerpt: excerpt(lineText, secrets) });
    },
    /** a rule fired on one of these lines (the parsed pass must not report a value twice) */
    fired(rule: SecretRule, from: number, to: number): boolean {
      for (const f of findings.values()) {
        if (f.line < from || f.line > to) continue;
        if (f.rule === rule) return true;
        // a maintained rule gives way to a specific project rule
        if (isMaintainedRule(rule) && !isMaintainedRule(f.rule) && !HEURISTIC_RULES.has(f.rule)) return true;
      }
      return false;
    },
  };
  const lines = text.split(/\r?\n/);
  lines.forEach((line, index) => {
    if (!line.includes(ALLOW_MARKER)) scanTokens(line, index + 1, line, collector);
  });
  const lineStarts = [0];
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) lineStarts.push(at + 1);
  const lineOf = (offset: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  for (const f of recommendedRuleFindings(file, text)) {
    const line = lineOf(f.start);
    const lineText = lines[line - 1] ?? '';
    if (!lineText.includes(ALLOW_MARKER)) collector.add(line, f.rule, lineText, [text.slice(f.start, f.end)]);
  }
  const kind = fileKind(file);
  if (kind === 'yaml' || kind === 'json') {
    // templates (Handlebars) do not parse as YAML: the line pass reads them
    if (!scanParsedConfig(text, lines, kind === 'json', collector)) scanYamlLike(lines, kind === 'json', collector);
  }
  if (kind === 'yaml+env') scanYamlLike(lines, false, collector);
  if (kind === 'env' || kind === 'yaml+env') scanEnvLike(lines, collector);
  if (kind === 'yaml' || kind === 'json') scanParsedValues(file, text, lines, collector);

  const sealed = kind === 'yaml' || kind === 'json' ? sealedValueLines(text) : new Set<number>();
  const all = [...findings.values()].filter((f) => !(isMaintainedRule(f.rule) && sealed.has(f.line)));
  // the maintained set and the heuristics give way to a specific project rule on the same line
  const specificLines = new Set(all.filter((f) => !HEURISTIC_RULES.has(f.rule) && !isMaintainedRule(f.rule)).map((f) => f.line));
  const maintainedLines = new Set(all.filter((f) => isMaintainedRule(f.rule)).map((f) => f.line));
  return all
    .filter((f) => !(HEURISTIC_RULES.has(f.rule) || isMaintainedRule(f.rule)) || !specificLines.has(f.line))
    .filter((f) => !HEURISTIC_RULES.has(f.rule) || !maintainedLines.has(f.line))
    .sort((a, b) => a.line - b.line || a.rule.localeCompare(b.rule));
}

export interface ScanTreeOptions {
  /** paths relative to the root (files or directories, "/"-separated) to leave out */
  exclude?: string[];
}

const SKIPPED_DIRS = new Set(['.git', 'node_modules']);

/** Scans every text file under `dir` (not following symlinks); findings use "/"-separated relative paths. */
export async function scanTree(dir: string, opts: ScanTreeOptions = {}): Promise<SecretFinding[]> {
  const exclude = new Set((opts.exclude ?? []).map((p) => p.replace(/\/+$/, '')));
  const findings: SecretFinding[] = [];

  async function walk(abs: string, rel: string): Promise<void> {
    const entries = await fs.readdir(abs, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (exclude.has(childRel)) continue;
      const childAbs = path.join(abs, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) await walk(childAbs, childRel);
      } else if (entry.isFile()) {
        const content = await fs.readFile(childAbs);
        if (content.subarray(0, 8000).includes(0)) continue; // binary
        findings.push(...scanText(childRel, content.toString('utf8')));
      }
    }
  }

  await walk(dir, '');
  return findings.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.rule.localeCompare(b.rule)));
}

/** One line per finding, for reports: `file:line rule excerpt`. */
export function formatFindings(findings: SecretFinding[]): string {
  return findings.map((f) => `${f.file}:${f.line}  ${f.rule}  ${f.excerpt}`).join('\n');
}
