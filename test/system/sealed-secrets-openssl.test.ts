// The sealing certificate and a sealed value (lib/gitops/sealed-secrets.ts) read by openssl itself: the
// contract the in-process X.509/RSA code is held to (test/system: needs openssl). The rest of the
// sealing tests: test/unit/sealed-secrets.test.ts.
import { needTool, test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { generateSealingKeyPair, sealSecret, type SealingKeyPair } from '../../lib/gitops/sealed-secrets.ts';
import { tempDirs } from '../support/temp-dirs.ts';
import { opensslOaepDecrypt } from '../support/openssl-oaep.ts';

// The 2048-bit pair with a common name that the unit tests use for the same checks.
let small: SealingKeyPair;

test.before(async () => {
  small = await generateSealingKeyPair({ keySize: 2048, commonName: 'clusterseed-test' });
});

const tmpDir = tempDirs(test, 'clusterseed-sealing-');

test('openssl reads the certificate with the controller extensions', async () => {
  needTool('openssl', ['version']);
  const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: small.certificatePem }).toString();
  assert.match(text, /Version: 3 \(0x2\)/);
  assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
  assert.match(text, /Subject: CN = clusterseed-test/);
  assert.match(text, /Public-Key: \(2048 bit\)/);
  assert.match(text, /X509v3 Key Usage: critical\s+Encipher Only/);
  assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
  assert.match(text, /X509v3 Subject Key Identifier/);
  const certFile = path.join(await tmpDir(), 'cert.pem');
  await fs.writeFile(certFile, small.certificatePem);
  const verify = execFileSync('openssl', ['verify', '-CAfile', certFile, certFile]).toString();
  assert.match(verify, /: OK/);
});

test('openssl independently opens the session key (RSA-OAEP, SHA-256 OAEP and MGF1 digests, label)', async () => {
  needTool('openssl', ['version']);
  const dir = await tmpDir();
  const keyFile = path.join(dir, 'key.pem');
  await fs.writeFile(keyFile, small.privateKeyPem, { mode: 0o600 });
  const sealed = sealSecret({ name: 'db', namespace: 'apps', data: { v: 'x' }, certificatePem: small.certificatePem });
  const raw = Buffer.from(sealed.spec.encryptedData.v, 'base64');
  const rsaPart = raw.subarray(2, 2 + raw.readUInt16BE(0));
  const sessionKey = opensslOaepDecrypt(keyFile, 'apps/db', rsaPart);
  assert.is(sessionKey.length, 32, 'a 32-byte AES-256 session key');
});

test.run();
