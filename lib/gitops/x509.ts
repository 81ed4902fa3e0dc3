// Builds the self-signed X.509 v3 certificate that wraps the Sealed Secrets public key, with
// @peculiar/x509 over node's WebCrypto (node:crypto parses certificates but cannot build them).
// It mirrors what the controller's crypto.SignKey produces with Go's x509.CreateCertificate:
// a 128-bit random serial, subject = issuer = CN, sha256WithRSAEncryption, and the extensions
// keyUsage (critical, encipherOnly), basicConstraints (critical, CA:TRUE) and a subjectKeyIdentifier
// (Go adds one to every CA certificate: SHA-1 of the subjectPublicKey bits, RFC 5280 4.2.1.2 method 1).
// kubeseal only reads the RSA public key and NotAfter from it, but a faithful copy keeps
// `openssl x509 -text` output looking like the controller's own. The openssl cross-checks in
// test/unit/sealed-secrets.test.ts are the contract.
// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect metadata API
import 'reflect-metadata';
import { randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import {
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  PemConverter,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
} from '@peculiar/x509';

export interface SelfSignedCertificateOptions {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** subject and issuer CN; an empty string gives an empty Name, as the controller does by default */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/** PKCS#1 v1.5 with SHA-256: sha256WithRSAEncryption, what Go signs an RSA-keyed certificate with. */
const SIGNING = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

// the provider passed explicitly (node's WebCrypto), never the library's global default
const crypto = webcrypto as unknown as Crypto;

function name(commonName: string): Name {
  // UTF8String, as the certificates this module has always written (RFC 5280 prefers it)
  return new Name(commonName === '' ? [] : [{ CN: [{ utf8String: commonName }] }]);
}

export function toPem(label: string, der: Uint8Array): string {
  return `${PemConverter.encode(new Uint8Array(der), label)}\n`;
}

/** Returns the DER bytes of a self-signed certificate for an RSA key pair. */
export async function createSelfSignedCertificate(opts: SelfSignedCertificateOptions): Promise<Buffer> {
  if (opts.privateKey.asymmetricKeyType !== 'rsa') throw new Error('createSelfSignedCertificate: RSA keys only');
  if (!(opts.notAfter > opts.notBefore)) throw new Error('createSelfSignedCertificate: notAfter must follow notBefore');

  const [privateKey, publicKey] = await Promise.all([
    crypto.subtle.importKey('pkcs8', opts.privateKey.export({ type: 'pkcs8', format: 'der' }), SIGNING, false, ['sign']),
    crypto.subtle.importKey('spki', opts.publicKey.export({ type: 'spki', format: 'der' }), SIGNING, true, ['verify']),
  ]);
  // Like Go's rand.Int(2^128): up to 16 random bytes, positive (the library drops leading zeros and
  // adds a sign octet when needed); zero is not a valid serial.
  let serial = randomBytes(16);
  while (serial.every((b) => b === 0)) serial = randomBytes(16);

  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: serial.toString('hex'),
      issuer: name(opts.commonName),
      subject: name(opts.commonName),
      notBefore: opts.notBefore,
      notAfter: opts.notAfter,
      publicKey,
      signingKey: privateKey,
      signingAlgorithm: SIGNING,
      extensions: [
        new KeyUsagesExtension(KeyUsageFlags.encipherOnly, true),
        new BasicConstraintsExtension(true, undefined, true),
        await SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return Buffer.from(cert.rawData);
}
