// Builds the self-signed X.509 v3 certificate that wraps the Sealed Secrets public key.
// It mirrors what the controller's crypto.SignKey produces with Go's x509.CreateCertificate:
// a 128-bit random serial, subject = issuer = CN, sha256WithRSAEncryption, and the extensions
// keyUsage (critical, encipherOnly), basicConstraints (critical, CA:TRUE) and a subjectKeyIdentifier
// (Go adds one to every CA certificate). kubeseal only reads the RSA public key and NotAfter from
// it, but a faithful copy keeps `openssl x509 -text` output looking like the controller's own.
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import {
  bitString,
  boolean,
  explicit,
  nullValue,
  objectIdentifier,
  octetString,
  sequence,
  set,
  smallInteger,
  unsignedInteger,
  utf8String,
  x509Time,
} from './der.ts';

const OID = {
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
} as const;

export interface SelfSignedCertificateOptions {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** subject and issuer CN; an empty string gives an empty Name, as the controller does by default */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

function name(commonName: string): Buffer {
  if (commonName === '') return sequence();
  return sequence(set(sequence(objectIdentifier(OID.commonName), utf8String(commonName))));
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  const parts = [objectIdentifier(oid)];
  // DEFAULT FALSE: DER forbids encoding the default, so a non-critical flag is left out.
  if (critical) parts.push(boolean(true));
  parts.push(octetString(value));
  return sequence(...parts);
}

/** The subjectPublicKey BIT STRING contents inside a DER SubjectPublicKeyInfo. */
function subjectPublicKeyBits(spki: Buffer): Buffer {
  // SPKI = SEQUENCE { AlgorithmIdentifier, BIT STRING }; walk the two TLVs without a full parser.
  const readHeader = (offset: number): { content: number; length: number } => {
    let length = spki[offset + 1];
    let content = offset + 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + spki[content + i];
      content += count;
    }
    return { content, length };
  };
  const outer = readHeader(0);
  const algorithm = readHeader(outer.content);
  const keyBits = readHeader(algorithm.content + algorithm.length);
  // skip the unused-bits octet
  return spki.subarray(keyBits.content + 1, keyBits.content + keyBits.length);
}

export function toPem(label: string, der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Returns the DER bytes of a self-signed certificate for an RSA key pair. */
export function createSelfSignedCertificate(opts: SelfSignedCertificateOptions): Buffer {
  if (opts.privateKey.asymmetricKeyType !== 'rsa') throw new Error('createSelfSignedCertificate: RSA keys only');
  if (!(opts.notAfter > opts.notBefore)) throw new Error('createSelfSignedCertificate: notAfter must follow notBefore');

  const spki = opts.publicKey.export({ type: 'spki', format: 'der' });
  const signatureAlgorithm = sequence(objectIdentifier(OID.sha256WithRSAEncryption), nullValue());
  // Like Go's rand.Int(2^128): up to 16 random bytes, positive; zero is not a valid serial.
  let serial = randomBytes(16);
  while (serial.every((b) => b === 0)) serial = randomBytes(16);
  const subjectKeyId = createHash('sha1').update(subjectPublicKeyBits(spki)).digest();
  // keyUsage named bits count from the most significant bit: encipherOnly (7) is 0x01 in the first octet.
  const keyUsageEncipherOnly = bitString(Buffer.from([0x01]), 0);

  const tbs = sequence(
    explicit(0, smallInteger(2)), // version v3
    unsignedInteger(serial),
    signatureAlgorithm,
    name(opts.commonName), // issuer
    sequence(x509Time(opts.notBefore), x509Time(opts.notAfter)),
    name(opts.commonName), // subject
    spki,
    explicit(
      3,
      sequence(
        extension(OID.keyUsage, true, keyUsageEncipherOnly),
        extension(OID.basicConstraints, true, sequence(boolean(true))),
        extension(OID.subjectKeyIdentifier, false, octetString(subjectKeyId)),
      ),
    ),
  );
  const signature = sign('sha256', tbs, opts.privateKey); // PKCS#1 v1.5 for RSA keys
  return sequence(tbs, signatureAlgorithm, bitString(signature));
}
