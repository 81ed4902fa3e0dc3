import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { formatFindings, scanText, scanTree, type SecretFinding } from '../../lib/gitops/secret-scan.ts';
import { generateSealingKeyPair, sealSecret, sealingKeySecretManifest, type SealingKeyPair } from '../../lib/gitops/sealed-secrets.ts';

// Token-shaped test values are assembled at run time, so this file holds no literal that other
// scanners (or GitHub push protection) would take for a real credential.
// Deterministic (xorshift32) so failures reproduce.
let seed = 0x2545f491;
function fake(length: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    out += alphabet[seed % alphabet.length];
  }
  return out;
}
const HEX = '0123456789abcdef';
const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const dashes = '-'.repeat(5);
const pemHeader = (label: string) => `${dashes}BEGIN ${label}${dashes}`;
const pemFooter = (label: string) => `${dashes}END ${label}${dashes}`;

function rules(findings: SecretFinding[]): string[] {
  return findings.map((f) => `${f.line}:${f.rule}`);
}

function assertMasked(findings: SecretFinding[], secret: string): void {
  assert.ok(findings.length > 0, 'expected findings');
  for (const f of findings) assert.not.ok(f.excerpt.includes(secret), `excerpt leaks the secret: ${f.excerpt}`);
}

let keyPair: SealingKeyPair;
const tmpDirs: string[] = [];
test.before(async () => {
  keyPair = await generateSealingKeyPair({ keySize: 2048 });
});
test.after(async () => {
  for (const dir of tmpDirs) await fs.rm(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ private keys

test('private-key: PEM private keys in any file; certificates and public keys are fine', () => {
  const body = fake(64, B64);
  const text = [
    'notes',
    pemHeader('RSA PRIVATE KEY'),
    body,
    pemFooter('RSA PRIVATE KEY'),
    pemHeader('PRIVATE KEY'),
    pemHeader('EC PRIVATE KEY'),
  ].join('\n');
  assert.equal(rules(scanText('docs/notes.md', text)), ['2:private-key', '5:private-key', '6:private-key']);

  const harmless = [
    pemHeader('CERTIFICATE'),
    fake(64, B64),
    pemFooter('CERTIFICATE'),
    pemHeader('PUBLIC KEY'),
    pemHeader('RSA PUBLIC KEY'),
  ].join('\n');
  assert.equal(scanText('ca.pem', harmless), []);
});

test('private-key: a one-line PEM (JSON string) is found and its body masked', () => {
  const body = fake(80, B64);
  const findings = scanText('key.json', `{"key": "${pemHeader('RSA PRIVATE KEY')}\\n${body}\\n"}`);
  assert.equal(rules(findings), ['1:private-key']);
  assertMasked(findings, body.slice(0, 20));
});

test('private-key: a base64-encoded PEM key (kubeconfig client-key-data) is found', () => {
  const pem = `${pemHeader('RSA PRIVATE KEY')}\n${fake(64, B64)}\n${pemFooter('RSA PRIVATE KEY')}\n`;
  const encoded = Buffer.from(pem).toString('base64');
  const kubeconfig = `apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    client-certificate-data: ${Buffer.from(pemHeader('CERTIFICATE')).toString('base64')}\n    client-key-data: ${encoded}\n`;
  const findings = scanText('kubeconfig.yaml', kubeconfig);
  assert.equal(rules(findings), ['7:private-key']);
  assertMasked(findings, encoded.slice(8, 40));
});

test('openssh-private-key: found; an OpenSSH public key line is not', () => {
  const findings = scanText('id', `${pemHeader('OPENSSH PRIVATE KEY')}\n${fake(70, B64)}\n${pemFooter('OPENSSH PRIVATE KEY')}`);
  assert.equal(rules(findings), ['1:openssh-private-key']);
  assert.equal(scanText('id.pub', `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${fake(43, B64)} me@laptop`), []);
});

// ------------------------------------------------------------------ tokens

test('github-token: classic, OAuth and fine-grained tokens; short or templated ones are not', () => {
  const classic = 'ghp_' + fake(36);
  const oauth = 'gho_' + fake(36);
  const fine = 'github_pat_' + fake(22) + '_' + fake(59);
  const findings = scanText('README.md', `a ${classic}\nb ${oauth}\nc ${fine}\n`);
  assert.equal(rules(findings), ['1:github-token', '2:github-token', '3:github-token']);
  for (const t of [classic, oauth, fine]) assertMasked(findings, t);
  assert.ok(findings[0].excerpt.startsWith('a ghp_****'));

  assert.equal(scanText('README.md', 'ghp_short\nmyghp_' + fake(36) + '\n'), []);
  assert.equal(scanText('.github/workflows/ci.yaml', 'env:\n  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n'), []);
});

test('aws-access-key and aws-secret-key: real-shaped keys; the documentation examples are not', () => {
  const id = 'AKIA' + fake(16, UPPER_DIGITS);
  const secret = fake(40, B64);
  const findings = scanText('setup.md', `id ${id}\naws_secret_access_key = ${secret}\n`);
  assert.equal(rules(findings), ['1:aws-access-key', '2:aws-secret-key']);
  assertMasked(findings, id);
  assertMasked(findings, secret);

  const docs = 'AKIA' + 'IOSFODNN7' + 'EXAMPLE';
  const docsSecret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCY' + 'EXAMPLEKEY';
  assert.equal(scanText('setup.md', `id ${docs}\naws_secret_access_key = ${docsSecret}\n`), []);
});

test('k3s-token: the K10<ca-hash>::server:<password> form; a bare prefix is not', () => {
  const password = fake(32, HEX);
  const token = `K10${fake(64, HEX)}::server:${password}`;
  const findings = scanText('join.sh', `k3s agent --token-file /etc/k3s-token # ${token}\n`);
  assert.equal(rules(findings), ['1:k3s-token']);
  assertMasked(findings, password);
  assert.equal(scanText('join.sh', `echo K10${fake(10, HEX)}::server\n`), []);
});

test('url-credentials: passwords inside URLs; user-only, port-only and placeholder URLs are not', () => {
  const password = fake(12);
  const findings = scanText('values.md', `db at postgres://app:${password}@db.internal:5432/app\n`);
  assert.equal(rules(findings), ['1:url-credentials']);
  assertMasked(findings, password);
  const fine = [
    'https://user@git.example',
    'https://x-access-token:${TOKEN}@git.example/o/r.git',
    'http://host:8080/path',
    'git@host:org/repo.git',
  ];
  assert.equal(scanText('values.md', fine.join('\n')), []);
});

// ------------------------------------------------------------------ credential keys

test('plaintext-credential: credential-named YAML keys with literal values', () => {
  const yaml = [
    'db:',
    '  password: hunter2hunter2', // 2
    '  adminPassword: "quoted-one"', // 3
    "  GITHUB_TOKEN: 'abc123def'", // 4
    '  api_key: 12345678', // 5
    '  clientSecret: sEcReT # trailing comment', // 6
    'tls:',
    '  privateKey: |', // 8
    '    literal-block-value',
    'secret: plain', // 10
    'oidc:',
    '  clientSecret: not-a-name-but-a-secret', // 12
  ].join('\n');
  const findings = scanText('values.yaml', yaml);
  assert.equal(rules(findings), [
    '2:plaintext-credential',
    '3:plaintext-credential',
    '4:plaintext-credential',
    '5:plaintext-credential',
    '6:plaintext-credential',
    '8:plaintext-credential',
    '10:plaintext-credential',
    '12:plaintext-credential',
  ]);
  for (const s of ['hunter2hunter2', 'quoted-one', 'abc123def', '12345678', 'sEcReT', 'literal-block-value']) assertMasked(findings, s);
  assert.match(findings[1].excerpt, /^adminPassword: "/);
});

test('plaintext-credential: references, placeholders and empty values are allowed', () => {
  const yaml = [
    'auth:',
    '  password: ""',
    "  token: ''",
    '  secret:',
    '    name: app-secret',
    '  existingSecret: app-secret',
    '  existingSecretPasswordKey: password',
    '  passwordKey: password',
    '  tlsSecret: grafana-tls',
    '  createSecret: false',
    'issuer:',
    '  privateKeySecretRef:',
    '    name: letsencrypt',
    '  apiTokenSecretRef:',
    '    name: cloudflare-api-token',
    '    key: api-token',
    '  secretName: app-secret',
    '  tokenFile: /var/lib/rancher/k3s/server/token',
    '  password: ${DB_PASSWORD}',
    '  token: "{{ .Values.token }}"',
    '  apiKey: {{{apiKey}}}',
    '  clientSecret: <your-client-secret>',
    '  credentials: ~',
    '  passphrase: null',
    'automountServiceAccountToken: false',
    'env:',
    '  - name: DB_PASSWORD',
    '    valueFrom:',
    '      secretKeyRef:',
    '        name: db',
    '        key: password',
    'envFrom:',
    '  - secretRef:',
    '      name: app-env',
    'secrets:',
    '  - gh-token',
    'sops:',
    '  password: ENC[AES256_GCM,data:abc,iv:def]',
  ].join('\n');
  assert.equal(scanText('values.yaml', yaml), []);
});

test('plaintext-credential: env-style name/value pairs in containers and Helm parameters', () => {
  const yaml = [
    'containers:',
    '  - name: app',
    '    env:',
    '      - name: DB_PASSWORD',
    '        value: hunter2', // 5
    '      - name: LOG_LEVEL',
    '        value: debug',
    '      - name: API_TOKEN',
    '        value: ""',
    'helm:',
    '  parameters:',
    '    - name: admin.password',
    '      value: "s3cret!"', // 13
  ].join('\n');
  assert.equal(rules(scanText('deploy.yaml', yaml)), ['5:plaintext-credential', '13:plaintext-credential']);
});

test('plaintext-credential: env, ini and JSON files', () => {
  const env = [
    'API_TOKEN=abc123',
    'export DB_PASSWORD="hunter2"',
    'EMPTY_SECRET=',
    'FROM_ARG_PASSWORD="$1"',
    'REF_TOKEN=${GH_TOKEN}',
    'LOG_LEVEL=debug',
    '# OLD_PASSWORD=x',
  ].join('\n');
  assert.equal(rules(scanText('.env', env)), ['1:plaintext-credential', '2:plaintext-credential']);
  assert.equal(rules(scanText('app.ini', 'password = letmein\nuser = admin\n')), ['1:plaintext-credential']);
  const json = '{\n  "user": "admin",\n  "password": "pa55word",\n  "token": "",\n  "@octokit/auth-token": "^6.0.0"\n}';
  const findings = scanText('config.json', json);
  assert.equal(rules(findings), ['3:plaintext-credential']);
  assertMasked(findings, 'pa55word');
});

test('plaintext-credential: TypeScript sources only get the token rules', () => {
  assert.equal(scanText('lib/x.ts', 'const opts = { password: input.password, token: "" };\n'), []);
});

// ------------------------------------------------------------------ Secret manifests

test('plaintext-secret-manifest: kind Secret with data or stringData in clear', () => {
  const yaml = [
    'apiVersion: v1',
    'kind: Secret',
    'metadata:',
    '  name: db',
    'stringData:',
    '  username: admin', // 6
    '  config.yaml: |', // 7
    '    url: x',
    '---',
    'apiVersion: v1',
    'data:',
    `  token: ${Buffer.from('hunter2').toString('base64')}`, // 12
    'metadata:',
    '  name: late-kind',
    'kind: Secret',
  ].join('\n');
  const findings = scanText('secret.yaml', yaml);
  assert.equal(rules(findings), ['6:plaintext-secret-manifest', '7:plaintext-secret-manifest', '12:plaintext-secret-manifest']);
  assertMasked(findings, Buffer.from('hunter2').toString('base64'));
});

test('plaintext-secret-manifest: empty or templated Secrets, ConfigMaps and SealedSecrets are fine', () => {
  const empty = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata: {}\n';
  const templated = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  password: "{{ .Values.password }}"\n  url: ""\n';
  const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  LOG_LEVEL: debug\n  url: http://svc:8080\n';
  assert.equal(scanText('a.yaml', empty), []);
  assert.equal(scanText('b.yaml.hbs', templated), []);
  assert.equal(scanText('c.yaml', configMap), []);
  const sealed = sealSecret({
    name: 'db',
    namespace: 'apps',
    data: { password: 'hunter2', token: 'x'.repeat(40) },
    certificatePem: keyPair.certificatePem,
  });
  assert.equal(scanText('sealed.yaml', YAML.stringify(sealed)), []);
  assert.equal(scanText('sealed.json', JSON.stringify(sealed, null, 2)), []);
});

test('the sealing key Secret (bootstrap only) is flagged if it ever lands in a repo', () => {
  const findings = scanText('sealing-key.yaml', sealingKeySecretManifest(keyPair, 'kube-system'));
  const found = new Set(findings.map((f) => f.rule));
  assert.ok(found.has('plaintext-secret-manifest'));
  assert.ok(found.has('private-key'), 'the base64 PEM inside tls.key is recognised');
  const keyBody = keyPair.privateKeyPem.split('\n')[1];
  assertMasked(findings, keyBody.slice(0, 24));
  assertMasked(findings, Buffer.from(keyPair.privateKeyPem).toString('base64').slice(10, 60));
});

// ------------------------------------------------------------------ entropy

test('high-entropy-data: random base64 in ConfigMap-style data; plain values are not', () => {
  const random = Buffer.from(fake(32, B64)).toString('base64').slice(0, 16) + fake(28, B64);
  const yaml = [
    'kind: ConfigMap',
    'data:',
    `  blob: ${random}`, // 3
    '  LOG_LEVEL: debug',
    '  greeting: HelloWorldThisIsPlainText',
    '  name: some-long-plain-configuration-value',
    '  repeated: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    '  ca.crt: |',
    `    ${pemHeader('CERTIFICATE')}`,
    `    ${fake(64, B64)}`,
    '  blob.b64: |',
    `    ${fake(64, B64)}`,
    'binaryData:',
    `  icon: ${fake(48, B64)}`, // 14
    'other:',
    `  notData: ${fake(48, B64)}`,
  ].join('\n');
  const findings = scanText('cm.yaml', yaml);
  assert.equal(rules(findings), ['3:high-entropy-data', '14:high-entropy-data']);
  assertMasked(findings, random);
});

// ------------------------------------------------------------------ mechanics

test('the allow marker exempts a reviewed line', () => {
  const token = 'ghp_' + fake(36);
  assert.equal(scanText('a.yaml', `demoPassword: not-real # clusterseed:allow-secret\nx: ${token} # clusterseed:allow-secret\n`), []);
});

test('findings carry 1-based lines and CRLF files work', () => {
  const findings = scanText('w.yaml', 'a: 1\r\nb: 2\r\npassword: hunter22\r\n');
  assert.equal(findings, [{ file: 'w.yaml', line: 3, rule: 'plaintext-credential', excerpt: 'password: hu****' }]);
});

test('a specific rule on a line replaces the generic one', () => {
  const token = 'ghp_' + fake(36);
  assert.equal(rules(scanText('values.yaml', `githubToken: ${token}\n`)), ['1:github-token']);
});

test('scanTree: walks the repo, skips .git, node_modules, binaries and symlinks, honours exclude', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'clusterseed-scan-'));
  tmpDirs.push(root);
  const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'clusterseed-scan-out-'));
  tmpDirs.push(outside);
  const token = 'ghp_' + fake(36);
  const write = async (rel: string, content: string | Buffer) => {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), content);
  };
  const sealed = sealSecret({ name: 'db', namespace: 'apps', data: { password: 'hunter2' }, certificatePem: keyPair.certificatePem });
  await write('apps/db/sealed-secret.yaml', YAML.stringify(sealed));
  await write('apps/db/secret.yaml', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n');
  await write('README.md', `push with ${token}\n`);
  await write('.git/config', `url = https://x:${token}@git.example/o/r.git\n`);
  await write('node_modules/pkg/index.js', `const t = "${token}";\n`);
  await write('assets/logo.bin', Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(token)]));
  await write('vendor/ignored.yaml', 'password: hunter2\n');
  await fs.writeFile(path.join(outside, 'leak.txt'), `${token}\n`);
  await fs.symlink(path.join(outside, 'leak.txt'), path.join(root, 'link.txt'));
  await fs.symlink(outside, path.join(root, 'linkdir'));

  const findings = await scanTree(root, { exclude: ['vendor'] });
  assert.equal(
    findings.map((f) => `${f.file}:${f.line}:${f.rule}`),
    ['README.md:1:github-token', 'apps/db/secret.yaml:6:plaintext-secret-manifest'],
  );
  assertMasked(findings, token);
  assertMasked(findings, 'hunter2');
  assert.equal(formatFindings(findings).split('\n'), [
    'README.md:1  github-token  push with ghp_****',
    'apps/db/secret.yaml:6  plaintext-secret-manifest  password: h****',
  ]);
});

// ------------------------------------------------------------------ maintained rule set, parsed YAML

test('rendered values: a GitHub token, an AWS key, a private key block and a Slack token are refused', () => {
  const gh = 'ghp_' + fake(36);
  const aws = 'AKIA' + fake(16, UPPER_DIGITS);
  const slack = ['xoxb', fake(11, '0123456789'), fake(12, '0123456789'), fake(24)].join('-');
  const key = `${pemHeader('RSA PRIVATE KEY')}\n    ${fake(64, B64)}\n    ${pemFooter('RSA PRIVATE KEY')}`;
  const doc = [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: app',
    'data:',
    `  github: ${gh}`,
    `  aws: ${aws}`,
    `  slack: ${slack}`,
    '  key: |',
    `    ${key}`,
    '',
  ].join('\n');
  const findings = scanText('apps/app/configmap.yaml', doc);
  const byLine = new Map(findings.map((f) => [f.line, f.rule]));
  assert.is(byLine.get(6), 'github-token');
  assert.is(byLine.get(7), 'aws-access-key');
  assert.is(byLine.get(8), 'secretlint/slack', 'the maintained rule set finds what the project rules do not');
  assert.is(byLine.get(10), 'private-key');
  for (const secret of [gh, aws, slack]) assertMasked(findings, secret);
});

test('parsed YAML: a token split by a quoted line continuation is found at its value', () => {
  const token = 'ghp_' + fake(36);
  const doc = `data:\n  note: "see ${token.slice(0, 20)}\\\n    ${token.slice(20)} for access"\n`;
  assert.not.ok(doc.includes(token), 'no line holds the whole token');
  const findings = scanText('config.yaml', doc);
  assert.equal(rules(findings), ['2:github-token']);
  assertMasked(findings, token.slice(0, 20));
});

test('parsed YAML: a token inside a JSON-in-YAML value, also base64-encoded there, is found', () => {
  const token = 'ghp_' + fake(36);
  const auth = Buffer.from(`user:${token}`).toString('base64');
  const json = JSON.stringify({ auths: { 'ghcr.io': { auth } } });
  const findings = scanText('registry.yaml', `kind: ConfigMap\ndata:\n  config.json: '${json}'\n`);
  assert.equal(rules(findings), ['3:github-token']);
  assertMasked(findings, auth);
  const allowed = scanText('registry.yaml', `kind: ConfigMap\ndata:\n  config.json: '${json}' # clusterseed:allow-secret\n`);
  assert.equal(allowed, []);
});

test('parsed config rules: a flow map, a quoted key in one-line JSON, a block scalar and an alias are read as the parser reads them', () => {
  const flow = scanText('values.yaml', 'db: {password: hunter2x, user: admin}\n');
  assert.equal(rules(flow), ['1:plaintext-credential']);
  assertMasked(flow, 'hunter2x');
  const json = scanText('config.json', '{"auth": {"password": "hunter2x", "user": "admin"}}\n');
  assert.equal(rules(json), ['1:plaintext-credential']);
  assertMasked(json, 'hunter2x');
  // the block's first line reads like a comment to a line reader; the parser knows it is the value
  const block = scanText('values.yaml', 'db:\n  password: |\n    # hunter2x\n');
  assert.equal(rules(block), ['2:plaintext-credential']);
  assertMasked(block, 'hunter2x');
  // a value on the line after its key, and an alias to an anchored literal, are reported where the key is
  assert.equal(rules(scanText('values.yaml', 'db:\n  password:\n    hunter2x\n')), ['3:plaintext-credential']);
  assert.equal(rules(scanText('values.yaml', 'common: &pw hunter2x\ndb:\n  password: *pw\n')), ['3:plaintext-credential']);
  assert.equal(rules(scanText('values.yaml', 'common: &pw ${DB_PASSWORD}\ndb:\n  password: *pw\n')), []);
});

test('parsed config rules: a Secret whose kind comes after its data, also as a flow map', () => {
  const encoded = Buffer.from('hunter2').toString('base64');
  const late = scanText('secret.yaml', `apiVersion: v1\ndata:\n  token: ${encoded}\nmetadata:\n  name: x\nkind: Secret\n`);
  assert.equal(rules(late), ['3:plaintext-secret-manifest']);
  assertMasked(late, encoded);
  const flow = scanText('secret.yaml', `{apiVersion: v1, data: {token: ${encoded}}, kind: Secret}\n`);
  assert.equal(rules(flow), ['1:plaintext-secret-manifest']);
  assertMasked(flow, encoded);
  assert.equal(scanText('cm.yaml', `{apiVersion: v1, data: {greeting: ${encoded}}, kind: ConfigMap}\n`), []);
});

test('parsed config rules: no finding for a credential-looking line inside a block scalar or for a JSON object under a credential key', () => {
  assert.equal(scanText('cm.yaml', 'kind: ConfigMap\ndata:\n  README.md: |\n    password: is set by the operator\n'), []);
  assert.equal(scanText('config.json', '{\n  "credentials": {\n    "user": "admin"\n  },\n  "tokens": [\n  ]\n}\n'), []);
  // a Handlebars template does not parse: the line rules still read it
  const template = 'db:\n{{#if auth}}\n  password: hunter2x\n{{/if}}\n';
  assert.equal(rules(scanText('values.yaml.hbs', template)), ['3:plaintext-credential']);
});

test('maintained rules: placeholders, documentation keys and an Argo CD Application pass', () => {
  const docs = 'AKIA' + 'IOSFODNN7' + 'EXAMPLE';
  assert.equal(scanText('values.yaml', `aws:\n  id: ${docs}\n  url: https://\${USER}:\${PASS}@example.org\n`), []);
  const app =
    'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: root\nspec:\n  source:\n    repoURL: https://github.com/o/r.git\n';
  assert.equal(scanText('apps/root.yaml', app), []);
});

test('scanTree: a clean tree gives no findings', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'clusterseed-scan-'));
  tmpDirs.push(root);
  await fs.writeFile(path.join(root, 'app.yaml'), 'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: root\n');
  assert.equal(await scanTree(root), []);
});

test('sealed ciphertext is never taken for a token by the maintained rules (secretlint aws matched ~1 in 15 sealed AWS_SECRET_ACCESS_KEY values)', () => {
  // 300 deterministic ciphertext-like values: base64 of xorshift bytes, as SealedSecret values look
  let x = 2463534242;
  const bytes = (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 0xff;
    }
    return b;
  };
  const key = ['AWS', 'SECRET', 'ACCESS', 'KEY'].join('_');
  const docs: string[] = [];
  for (let i = 0; i < 300; i++) {
    docs.push(
      [
        'apiVersion: bitnami.com/v1alpha1',
        'kind: SealedSecret',
        'metadata:',
        `  name: s${i}`,
        'spec:',
        '  encryptedData:',
        `    ${key}: AgB${bytes(300).toString('base64')}`,
      ].join('\n'),
    );
  }
  assert.equal(scanText('sealed.yaml', docs.join('\n---\n')), []);
  // the same line in a plain ConfigMap is still a finding of some rule
  const plain = [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: c',
    'data:',
    `  ${key}: ${bytes(30).toString('base64').slice(0, 40)}`,
  ].join('\n');
  assert.ok(scanText('plain.yaml', plain).length > 0);
});

test.run();
