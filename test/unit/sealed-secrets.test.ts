import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { X509Certificate, createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import 'reflect-metadata';
import { X509Certificate as PeculiarCertificate } from '@peculiar/x509';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  CLUSTER_WIDE_ANNOTATION,
  NAMESPACE_WIDE_ANNOTATION,
  SEALING_KEY_LABEL,
  encryptionLabel,
  generateSealingKeyPair,
  hybridDecrypt,
  hybridEncrypt,
  loadOrCreateSealingKeys,
  sealSecret,
  sealingKeySecretManifest,
  unsealSecret,
  unsealSecretBytes,
  type SealedSecret,
  type SealingKeyPair,
} from '../../lib/gitops/sealed-secrets.ts';
import { createSelfSignedCertificate, toPem } from '../../lib/gitops/x509.ts';
import { tempDirs } from '../support/temp-dirs.ts';

// One controller-sized (4096-bit) pair for the acceptance checks; a faster 2048-bit one elsewhere.
let controllerSized: SealingKeyPair;
let small: SealingKeyPair;
let other: SealingKeyPair;

test.before(async () => {
  [controllerSized, small, other] = await Promise.all([
    generateSealingKeyPair(),
    generateSealingKeyPair({ keySize: 2048, commonName: 'clusterseed-test' }),
    generateSealingKeyPair({ keySize: 2048 }),
  ]);
});

const tmpDir = tempDirs(test, 'clusterseed-sealing-');

function moved(sealed: SealedSecret, changes: { name?: string; namespace?: string }): SealedSecret {
  const copy = structuredClone(sealed);
  if (changes.name) copy.metadata.name = changes.name;
  if (changes.namespace) copy.metadata.namespace = changes.namespace;
  return copy;
}

test('the generated key is RSA 4096 and the certificate parses and verifies with its own key', () => {
  const key = createPrivateKey(controllerSized.privateKeyPem);
  assert.is(key.asymmetricKeyType, 'rsa');
  assert.is(key.asymmetricKeyDetails?.modulusLength, 4096);
  assert.ok(controllerSized.privateKeyPem.startsWith(`${'-'.repeat(5)}BEGIN RSA PRIVATE KEY`), 'PKCS#1 PEM like the controller');

  const cert = new X509Certificate(controllerSized.certificatePem);
  assert.ok(cert.verify(cert.publicKey), 'self-signature verifies');
  assert.ok(cert.verify(createPublicKey(key)), 'signed by the generated private key');
  assert.not.ok(cert.verify(new X509Certificate(other.certificatePem).publicKey), 'does not verify with another key');
  assert.is(cert.subject, 'CN=sealed-secret');
  assert.is(cert.issuer, cert.subject);
  assert.ok(
    createPublicKey(key)
      .export({ type: 'spki', format: 'der' })
      .equals(cert.publicKey.export({ type: 'spki', format: 'der' })),
  );
  // serial: 128 random bits, positive
  assert.match(cert.serialNumber, /^[0-9A-F]+$/);
  assert.ok(cert.serialNumber.replace(/^0+/, '').length <= 32);
});

test('the certificate is valid for validDays (default 3650 like --key-ttl) from notBefore', async () => {
  const cert = new X509Certificate(controllerSized.certificatePem);
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
  assert.is(days, 3650);
  const start = new Date('2030-01-02T03:04:05Z');
  const custom = await generateSealingKeyPair({ keySize: 2048, validDays: 30, notBefore: start });
  const c = new X509Certificate(custom.certificatePem);
  assert.is(Date.parse(c.validFrom), start.getTime());
  assert.is((Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000, 30);
});

test('dates from 2050 on use GeneralizedTime and still parse', async () => {
  const start = new Date('2049-12-31T00:00:00Z');
  const kp = await generateSealingKeyPair({ keySize: 2048, validDays: 2, notBefore: start });
  const c = new X509Certificate(kp.certificatePem);
  assert.is(Date.parse(c.validFrom), start.getTime());
  assert.is(Date.parse(c.validTo), Date.parse('2050-01-02T00:00:00Z'));
});

test('an empty common name (the controller default) gives an empty subject that still verifies', async () => {
  const key = createPrivateKey(small.privateKeyPem);
  const der = await createSelfSignedCertificate({
    privateKey: key,
    publicKey: createPublicKey(key),
    commonName: '',
    notBefore: new Date(),
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const cert = new X509Certificate(toPem('CERTIFICATE', der));
  assert.ok(!cert.subject, 'no subject attributes');
  assert.ok(cert.verify(cert.publicKey));
});

test('the certificate carries exactly the extensions Go writes for the controller, in DER', () => {
  const cert = new PeculiarCertificate(small.certificatePem);
  const raw = (oid: string) => Buffer.from(cert.getExtension(oid)?.value ?? new ArrayBuffer(0)).toString('hex');
  assert.is(
    cert.extensions.map((e) => `${e.type}${e.critical ? ' critical' : ''}`).join(', '),
    '2.5.29.15 critical, 2.5.29.19 critical, 2.5.29.14',
  );
  assert.is(raw('2.5.29.15'), '03020001', 'keyUsage: BIT STRING encipherOnly, no padding bits');
  assert.is(raw('2.5.29.19'), '30030101ff', 'basicConstraints: CA:TRUE, no path length');
  const keyBits = createPublicKey(small.privateKeyPem).export({ type: 'pkcs1', format: 'der' });
  assert.is(raw('2.5.29.14'), '0414' + createHash('sha1').update(keyBits).digest('hex'), 'SKI: SHA-1 of the key bits');
  assert.ok(cert.serialNumber.length <= 32 && !/^0+$/.test(cert.serialNumber), 'serial: at most 128 bits, not zero');
  // the subject's CN is a UTF8String (tag 0x0c), as this module has always written it
  const cn = Buffer.concat([Buffer.from('0603550403' + '0c10', 'hex'), Buffer.from('clusterseed-test')]);
  assert.ok(Buffer.from(cert.subjectName.toArrayBuffer()).includes(cn));
});

test('seal then unseal with the generated private key, in all three scopes (4096-bit key)', () => {
  const data = { password: 's3cr3t-Pa55!', 'tls.key': 'multi\nline\nvalue', empty: '' };
  for (const scope of ['strict', 'namespace-wide', 'cluster-wide'] as const) {
    const sealed = sealSecret({ name: 'db-creds', namespace: 'apps', data, scope, certificatePem: controllerSized.certificatePem });
    assert.equal(
      unsealSecret(sealed, controllerSized.privateKeyPem),
      { empty: '', password: 's3cr3t-Pa55!', 'tls.key': 'multi\nline\nvalue' },
      scope,
    );
  }
});

test('strict scope: another namespace or another name does not decrypt', () => {
  const sealed = sealSecret({
    name: 'db',
    namespace: 'apps',
    data: { password: 'x' },
    scope: 'strict',
    certificatePem: small.certificatePem,
  });
  assert.is(sealed.metadata.annotations, undefined, 'strict carries no scope annotation');
  assert.throws(
    () => unsealSecret(moved(sealed, { namespace: 'other' }), small.privateKeyPem),
    /cannot decrypt password of SealedSecret other\/db/,
  );
  assert.throws(() => unsealSecret(moved(sealed, { name: 'db2' }), small.privateKeyPem), /cannot decrypt password/);
  assert.equal(unsealSecret(sealed, small.privateKeyPem), { password: 'x' });
});

test('namespace-wide scope: another name decrypts, another namespace does not', () => {
  const sealed = sealSecret({
    name: 'db',
    namespace: 'apps',
    data: { password: 'x' },
    scope: 'namespace-wide',
    certificatePem: small.certificatePem,
  });
  assert.equal(sealed.metadata.annotations, { [NAMESPACE_WIDE_ANNOTATION]: 'true' });
  assert.equal(unsealSecret(moved(sealed, { name: 'renamed' }), small.privateKeyPem), { password: 'x' });
  assert.throws(() => unsealSecret(moved(sealed, { namespace: 'other' }), small.privateKeyPem), /cannot decrypt/);
});

test('cluster-wide scope: decrypts under any name and namespace', () => {
  const sealed = sealSecret({
    name: 'db',
    namespace: 'apps',
    data: { password: 'x' },
    scope: 'cluster-wide',
    certificatePem: small.certificatePem,
  });
  assert.equal(sealed.metadata.annotations, { [CLUSTER_WIDE_ANNOTATION]: 'true' });
  assert.equal(unsealSecret(moved(sealed, { name: 'n2', namespace: 'elsewhere' }), small.privateKeyPem), { password: 'x' });
  const noNamespace = sealSecret({ name: 'db', data: { a: 'b' }, scope: 'cluster-wide', certificatePem: small.certificatePem });
  assert.is(noNamespace.metadata.namespace, undefined);
  assert.equal(unsealSecret(moved(noNamespace, { namespace: 'anywhere' }), small.privateKeyPem), { a: 'b' });
});

test('dropping the scope annotation makes the controller compute a different label', () => {
  const sealed = sealSecret({
    name: 'db',
    namespace: 'apps',
    data: { password: 'x' },
    scope: 'namespace-wide',
    certificatePem: small.certificatePem,
  });
  const stripped = structuredClone(sealed);
  delete stripped.metadata.annotations;
  assert.throws(() => unsealSecret(stripped, small.privateKeyPem), /cannot decrypt/);
});

test('another private key does not decrypt', () => {
  const sealed = sealSecret({ name: 'db', namespace: 'apps', data: { password: 'x' }, certificatePem: small.certificatePem });
  assert.throws(() => unsealSecret(sealed, other.privateKeyPem), /cannot decrypt password/);
});

test('wire format: uint16 RSA length || RSA-OAEP ciphertext || AES-GCM ciphertext and 16-byte tag', () => {
  const sealed = sealSecret({ name: 'db', namespace: 'apps', data: { v: 'hello' }, certificatePem: controllerSized.certificatePem });
  const raw = Buffer.from(sealed.spec.encryptedData.v, 'base64');
  assert.is(sealed.spec.encryptedData.v, raw.toString('base64'), 'standard base64 with padding');
  assert.is(raw.readUInt16BE(0), 512, '4096-bit RSA ciphertext');
  assert.is(raw.length, 2 + 512 + 'hello'.length + 16);
  // labels exactly as v1alpha1 EncryptionLabel
  assert.is(encryptionLabel('apps', 'db', 'strict').toString(), 'apps/db');
  assert.is(encryptionLabel('apps', 'db', 'namespace-wide').toString(), 'apps');
  assert.is(encryptionLabel('apps', 'db', 'cluster-wide').length, 0);
});

test('tampering with the AES part or the session key is detected', () => {
  const key = createPrivateKey(small.privateKeyPem);
  const label = Buffer.from('apps/db');
  const ct = hybridEncrypt(createPublicKey(key), Buffer.from('payload'), label);
  assert.is(hybridDecrypt(key, ct, label).toString(), 'payload');
  const flipped = Buffer.from(ct);
  flipped[flipped.length - 20] ^= 1;
  assert.throws(() => hybridDecrypt(key, flipped, label));
  assert.throws(() => hybridDecrypt(key, ct.subarray(0, 1), label), /too short/);
  assert.throws(() => hybridDecrypt(key, ct, Buffer.from('apps/other')));
});

test('the SealedSecret object has the controller schema and a stable key order', () => {
  const sealed = sealSecret({
    name: 'registry',
    namespace: 'ml',
    data: { zeta: 'z', alpha: Buffer.from([0, 1, 2, 255]) },
    stringData: { mid: 'm', zeta: 'overrides data' },
    type: 'kubernetes.io/dockerconfigjson',
    scope: 'namespace-wide',
    labels: { b: '2', a: '1' },
    annotations: { note: 'hi' },
    certificatePem: small.certificatePem,
  });
  assert.equal(Object.keys(sealed), ['apiVersion', 'kind', 'metadata', 'spec']);
  assert.is(sealed.apiVersion, 'bitnami.com/v1alpha1');
  assert.is(sealed.kind, 'SealedSecret');
  assert.equal(Object.keys(sealed.metadata), ['name', 'namespace', 'annotations']);
  assert.equal(Object.keys(sealed.spec), ['encryptedData', 'template']);
  assert.equal(Object.keys(sealed.spec.encryptedData), ['alpha', 'mid', 'zeta']);
  assert.equal(sealed.spec.template, {
    metadata: {
      name: 'registry',
      namespace: 'ml',
      labels: { a: '1', b: '2' },
      annotations: { note: 'hi', [NAMESPACE_WIDE_ANNOTATION]: 'true' },
    },
    type: 'kubernetes.io/dockerconfigjson',
  });
  assert.equal(Object.keys(sealed.spec.template.metadata.labels!), ['a', 'b']);
  const bytes = unsealSecretBytes(sealed, small.privateKeyPem);
  assert.ok(bytes.alpha.equals(Buffer.from([0, 1, 2, 255])));
  assert.is(bytes.zeta.toString(), 'overrides data');
  // plain JSON-able object: YAML round trip keeps it intact
  assert.equal(YAML.parse(YAML.stringify(sealed)), sealed);
  assert.is(sealSecret({ name: 'x', namespace: 'y', data: { k: 'v' }, certificatePem: small.certificatePem }).spec.template.type, 'Opaque');
});

test('re-sealing with the previous SealedSecret keeps unchanged ciphertexts and replaces changed ones', () => {
  const base = { name: 'db', namespace: 'apps', certificatePem: small.certificatePem };
  const first = sealSecret({ ...base, data: { user: 'admin', password: 'one' } });
  const fresh = sealSecret({ ...base, data: { user: 'admin', password: 'one' } });
  assert.is.not(fresh.spec.encryptedData.user, first.spec.encryptedData.user, 'sealing is randomised');

  const again = sealSecret({ ...base, data: { user: 'admin', password: 'two' }, previous: first, privateKeyPem: small.privateKeyPem });
  assert.is(again.spec.encryptedData.user, first.spec.encryptedData.user, 'unchanged value keeps its ciphertext');
  assert.is.not(again.spec.encryptedData.password, first.spec.encryptedData.password);
  assert.equal(unsealSecret(again, small.privateKeyPem), { password: 'two', user: 'admin' });

  // moved to another namespace: the old ciphertext is bound to apps/db and must not be reused
  const movedNs = sealSecret({
    ...base,
    namespace: 'prod',
    data: { user: 'admin', password: 'one' },
    previous: first,
    privateKeyPem: small.privateKeyPem,
  });
  assert.is.not(movedNs.spec.encryptedData.user, first.spec.encryptedData.user);
  assert.equal(unsealSecret(movedNs, small.privateKeyPem), { password: 'one', user: 'admin' });

  assert.throws(
    () => sealSecret({ ...base, data: { user: 'admin' }, previous: first, privateKeyPem: other.privateKeyPem }),
    /does not belong to the private key/,
  );
});

test('bad input is rejected with a message naming the field', () => {
  const cert = small.certificatePem;
  assert.throws(() => sealSecret({ name: 'Bad_Name', namespace: 'apps', data: { a: 'b' }, certificatePem: cert }), /name "Bad_Name"/);
  assert.throws(() => sealSecret({ name: 'db', namespace: 'Apps', data: { a: 'b' }, certificatePem: cert }), /namespace "Apps"/);
  assert.throws(() => sealSecret({ name: 'db', data: { a: 'b' }, certificatePem: cert }), /strict SealedSecret must declare a namespace/);
  assert.throws(
    () => sealSecret({ name: 'db', data: { a: 'b' }, scope: 'namespace-wide', certificatePem: cert }),
    /namespace-wide SealedSecret must declare a namespace/,
  );
  assert.throws(() => sealSecret({ name: 'db', namespace: 'apps', data: {}, certificatePem: cert }), /no data to seal/);
  assert.throws(() => sealSecret({ name: 'db', namespace: 'apps', data: { 'bad key': 'x' }, certificatePem: cert }), /data key "bad key"/);
  assert.throws(
    () => sealSecret({ name: 'db', namespace: 'apps', data: { a: 'b' }, certificatePem: 'not a pem' }),
    /certificate does not parse/,
  );
});

test('an expired sealing certificate is refused, as kubeseal does', async () => {
  const expired = await generateSealingKeyPair({ keySize: 2048, validDays: 1, notBefore: new Date('2020-01-01T00:00:00Z') });
  assert.throws(() => sealSecret({ name: 'db', namespace: 'apps', data: { a: 'b' }, certificatePem: expired.certificatePem }), /expired/);
});

test('sealingKeySecretManifest: a kubernetes.io/tls Secret labelled as the active sealing key', () => {
  const text = sealingKeySecretManifest(small, 'kube-system');
  const doc = YAML.parse(text);
  assert.is(doc.apiVersion, 'v1');
  assert.is(doc.kind, 'Secret');
  assert.is(doc.type, 'kubernetes.io/tls');
  assert.is(doc.metadata.namespace, 'kube-system');
  assert.match(doc.metadata.name, /^sealed-secrets-key-[0-9a-f]{8}$/);
  assert.equal(doc.metadata.labels, { [SEALING_KEY_LABEL]: 'active' });
  assert.is(Buffer.from(doc.data['tls.crt'], 'base64').toString(), small.certificatePem);
  assert.is(Buffer.from(doc.data['tls.key'], 'base64').toString(), small.privateKeyPem);
  assert.is(YAML.parse(sealingKeySecretManifest(small, 'kube-system')).metadata.name, doc.metadata.name, 'stable name');
  assert.is.not(YAML.parse(sealingKeySecretManifest(other, 'kube-system')).metadata.name, doc.metadata.name);
  assert.is(YAML.parse(sealingKeySecretManifest(small, 'sealed-secrets', { name: 'custom' })).metadata.name, 'custom');
  assert.throws(() => sealingKeySecretManifest(small, 'Bad NS'), /namespace "Bad NS"/);
  assert.throws(
    () => sealingKeySecretManifest({ privateKeyPem: other.privateKeyPem, certificatePem: small.certificatePem }, 'kube-system'),
    /does not belong/,
  );
});

test('loadOrCreateSealingKeys: creates once with 0700/0600, then reuses the same pair', async () => {
  const root = await tmpDir();
  const dir = path.join(root, 'keys');
  const first = await loadOrCreateSealingKeys(dir, { keySize: 2048 });
  assert.ok(first.created);
  assert.is((await fs.stat(dir)).mode & 0o777, 0o700);
  assert.is((await fs.stat(first.privateKeyPath)).mode & 0o777, 0o600);
  assert.is((await fs.stat(first.certificatePath)).mode & 0o777, 0o600);
  assert.is(await fs.readFile(first.privateKeyPath, 'utf8'), first.privateKeyPem);

  const second = await loadOrCreateSealingKeys(dir, { keySize: 2048 });
  assert.not.ok(second.created);
  assert.is(second.privateKeyPem, first.privateKeyPem);
  assert.is(second.certificatePem, first.certificatePem);
  const sealed = sealSecret({ name: 'a', namespace: 'b', data: { k: 'v' }, certificatePem: second.certificatePem });
  assert.equal(unsealSecret(sealed, first.privateKeyPem), { k: 'v' });
});

test('loadOrCreateSealingKeys: 0600 even under a permissive umask', async () => {
  const dir = path.join(await tmpDir(), 'k');
  const previous = process.umask(0o000);
  try {
    const keys = await loadOrCreateSealingKeys(dir, { keySize: 2048 });
    assert.is((await fs.stat(keys.privateKeyPath)).mode & 0o777, 0o600);
    assert.is((await fs.stat(dir)).mode & 0o777, 0o700);
  } finally {
    process.umask(previous);
  }
});

test('loadOrCreateSealingKeys: tightens a pre-existing directory to 0700', async () => {
  const dir = path.join(await tmpDir(), 'existing');
  await fs.mkdir(dir, { mode: 0o755 });
  await fs.chmod(dir, 0o755);
  const warnings: string[] = [];
  await loadOrCreateSealingKeys(dir, { keySize: 2048, warn: (m) => void warnings.push(m) });
  assert.is((await fs.stat(dir)).mode & 0o777, 0o700);
  assert.equal(warnings, [`${dir} was open to group or others (mode 755); its mode is now 700`]);
});

test('loadOrCreateSealingKeys: tightens a world-readable key (and says so), refuses a lone file or a mismatched pair', async () => {
  const dir = await tmpDir();
  const keys = await loadOrCreateSealingKeys(dir, { keySize: 2048 });
  await fs.chmod(keys.privateKeyPath, 0o644);
  const warnings: string[] = [];
  await loadOrCreateSealingKeys(dir, { warn: (m) => void warnings.push(m) });
  assert.is((await fs.stat(keys.privateKeyPath)).mode & 0o777, 0o600);
  assert.equal(warnings, [`${keys.privateKeyPath} was readable by group or others (mode 644); its mode is now 600`]);

  await fs.writeFile(keys.certificatePath, other.certificatePem);
  await assert_rejects(loadOrCreateSealingKeys(dir), /does not belong to the private key/);

  await fs.rm(keys.certificatePath);
  await assert_rejects(loadOrCreateSealingKeys(dir), /sealed-secrets\.crt is missing/);
  assert.ok((await fs.readFile(keys.privateKeyPath, 'utf8')).includes('RSA PRIVATE KEY'), 'the key was not replaced');
});

async function assert_rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected rejection matching ${pattern}`);
}

test.run();
