// Sealing Kubernetes Secrets into bitnami-labs/sealed-secrets SealedSecrets with node:crypto alone,
// byte-compatible with kubeseal and the controller:
//  - pkg/crypto HybridEncrypt: a fresh 32-byte AES-256 session key, RSA-OAEP(SHA-256) of that key
//    with the scope label, AES-GCM of the value under a zero nonce (safe: the key is used once);
//    output = uint16 big-endian RSA ciphertext length || RSA ciphertext || AES ciphertext || GCM tag;
//  - v1alpha1 EncryptionLabel: strict "namespace/name", namespace-wide "namespace", cluster-wide "";
//  - v1alpha1 NewSealedSecret: one ciphertext per key, base64 (standard) in spec.encryptedData.
// The controller recomputes the label from the SealedSecret's own metadata when it unseals, so a
// SealedSecret copied to another name or namespace than its scope allows fails to decrypt.
import {
  X509Certificate,
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { assertKeyPairMatches } from './sealing-keys.ts';

export {
  generateSealingKeyPair,
  loadOrCreateSealingKeys,
  sealingKeySecretManifest,
  sealingKeySecretName,
  SEALING_KEY_LABEL,
  type SealingKeyPair,
  type StoredSealingKeys,
} from './sealing-keys.ts';

export const SEALED_SECRET_API_VERSION = 'bitnami.com/v1alpha1';
export const NAMESPACE_WIDE_ANNOTATION = 'sealedsecrets.bitnami.com/namespace-wide';
export const CLUSTER_WIDE_ANNOTATION = 'sealedsecrets.bitnami.com/cluster-wide';

export type SealingScope = 'strict' | 'namespace-wide' | 'cluster-wide';

export interface SealedSecretTemplateMetadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface SealedSecret {
  apiVersion: typeof SEALED_SECRET_API_VERSION;
  kind: 'SealedSecret';
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec: {
    encryptedData: Record<string, string>;
    template: { metadata: SealedSecretTemplateMetadata; type: string };
  };
}

export interface SealSecretInput {
  name: string;
  /** required except for cluster-wide scope, where it may be left to the applier */
  namespace?: string;
  /** values as the pod will read them (plain text or bytes), NOT base64 as in a Secret's data */
  data: Record<string, string | Uint8Array>;
  /** plain-text values as in a Secret's stringData; they win over `data` on the same key */
  stringData?: Record<string, string>;
  /** Secret type, default Opaque */
  type?: string;
  /** default strict, like kubeseal */
  scope?: SealingScope;
  certificatePem: string;
  /** labels and annotations of the Secret the controller will create */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /**
   * Idempotent re-sealing: sealing is randomised, so every run would rewrite every ciphertext.
   * With the previous SealedSecret and the private key, each value that still decrypts (under the
   * current name/namespace/scope) to the same plaintext keeps its old ciphertext.
   */
  previous?: SealedSecret;
  privateKeyPem?: string;
}

const SESSION_KEY_BYTES = 32;
const GCM_NONCE_BYTES = 12;
const GCM_TAG_BYTES = 16;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/** The RSA-OAEP label binding a ciphertext to its scope (v1alpha1 EncryptionLabel). */
export function encryptionLabel(namespace: string, name: string, scope: SealingScope): Buffer {
  switch (scope) {
    case 'cluster-wide':
      return Buffer.alloc(0);
    case 'namespace-wide':
      return Buffer.from(namespace, 'utf8');
    case 'strict':
      return Buffer.from(`${namespace}/${name}`, 'utf8');
  }
}

/** Scope from annotations; cluster-wide wins over namespace-wide, as in v1alpha1 SecretScope. */
export function scopeFromAnnotations(annotations: Record<string, string> | undefined): SealingScope {
  if (annotations?.[CLUSTER_WIDE_ANNOTATION] === 'true') return 'cluster-wide';
  if (annotations?.[NAMESPACE_WIDE_ANNOTATION] === 'true') return 'namespace-wide';
  return 'strict';
}

function scopeAnnotations(scope: SealingScope): Record<string, string> {
  if (scope === 'namespace-wide') return { [NAMESPACE_WIDE_ANNOTATION]: 'true' };
  if (scope === 'cluster-wide') return { [CLUSTER_WIDE_ANNOTATION]: 'true' };
  return {};
}

/** pkg/crypto HybridEncrypt. */
export function hybridEncrypt(publicKey: KeyObject, plaintext: Uint8Array, label: Uint8Array): Buffer {
  const sessionKey = randomBytes(SESSION_KEY_BYTES);
  const rsaCiphertext = publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label },
    sessionKey,
  );
  const length = Buffer.alloc(2);
  length.writeUInt16BE(rsaCiphertext.length);
  // The session key is used for exactly one message, so the all-zero nonce never repeats under it.
  const cipher = createCipheriv('aes-256-gcm', sessionKey, Buffer.alloc(GCM_NONCE_BYTES));
  const aesCiphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return Buffer.concat([length, rsaCiphertext, aesCiphertext]);
}

/** pkg/crypto HybridDecrypt; throws when the key or the label is wrong or the data was altered. */
export function hybridDecrypt(privateKey: KeyObject, ciphertext: Uint8Array, label: Uint8Array): Buffer {
  const data = Buffer.from(ciphertext);
  if (data.length < 2) throw new Error('SealedSecret data is too short');
  const rsaLength = data.readUInt16BE(0);
  if (data.length < rsaLength + 2 + GCM_TAG_BYTES) throw new Error('SealedSecret data is too short');
  const sessionKey = privateDecrypt(
    { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label },
    data.subarray(2, rsaLength + 2),
  );
  if (sessionKey.length !== SESSION_KEY_BYTES) throw new Error('SealedSecret session key has the wrong size');
  const sealed = data.subarray(rsaLength + 2);
  const decipher = createDecipheriv('aes-256-gcm', sessionKey, Buffer.alloc(GCM_NONCE_BYTES));
  decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES)), decipher.final()]);
}

/** The RSA public key of a sealing certificate; refuses expired ones, as kubeseal does. */
export function sealingPublicKey(certificatePem: string, now = new Date()): KeyObject {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certificatePem);
  } catch (err) {
    throw new Error(`sealing certificate does not parse: ${(err as Error).message}`);
  }
  if (cert.publicKey.asymmetricKeyType !== 'rsa') {
    throw new Error(`sealing certificate holds a ${cert.publicKey.asymmetricKeyType} key; Sealed Secrets needs RSA`);
  }
  if (now > new Date(cert.validTo)) {
    throw new Error(`sealing certificate expired on ${cert.validTo}; rotate the sealing key before sealing`);
  }
  return cert.publicKey;
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((k) => [k, record[k]]),
  );
}

function validateInput(input: SealSecretInput, scope: SealingScope): void {
  const where = `sealSecret ${input.namespace ?? ''}/${input.name}`;
  if (!input.name || input.name.length > 253 || !DNS_SUBDOMAIN.test(input.name)) {
    throw new Error(`${where}: name "${input.name}" is not a valid Kubernetes object name`);
  }
  if (input.namespace !== undefined && input.namespace !== '' && !DNS_LABEL.test(input.namespace)) {
    throw new Error(`${where}: namespace "${input.namespace}" is not a valid Kubernetes namespace name`);
  }
  if (scope !== 'cluster-wide' && !input.namespace) {
    throw new Error(`${where}: a ${scope} SealedSecret must declare a namespace`);
  }
  const keys = [...Object.keys(input.data ?? {}), ...Object.keys(input.stringData ?? {})];
  if (keys.length === 0) throw new Error(`${where}: no data to seal`);
  for (const key of keys) {
    if (key.length > 253 || !SECRET_KEY.test(key)) {
      throw new Error(`${where}: data key "${key}" is invalid (allowed: letters, digits, "-", "_", ".")`);
    }
  }
}

/** Plaintext bytes per key, stringData overriding data as the API server does. */
function plaintextValues(input: SealSecretInput): Map<string, Buffer> {
  const values = new Map<string, Buffer>();
  for (const [key, value] of Object.entries(input.data ?? {})) {
    values.set(key, typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value));
  }
  for (const [key, value] of Object.entries(input.stringData ?? {})) values.set(key, Buffer.from(value, 'utf8'));
  return values;
}

/** Returns the previous ciphertext of `key` if it still opens, under `label`, to `plaintext`. */
function reusableCiphertext(
  previous: SealedSecret | undefined,
  privateKey: KeyObject | undefined,
  key: string,
  plaintext: Buffer,
  label: Buffer,
): string | undefined {
  const old = previous?.spec?.encryptedData?.[key];
  if (!old || !privateKey) return undefined;
  try {
    return hybridDecrypt(privateKey, Buffer.from(old, 'base64'), label).equals(plaintext) ? old : undefined;
  } catch {
    return undefined; // sealed for another key, name, namespace or scope: seal afresh
  }
}

/** Seals a Secret into a SealedSecret object (keys in a stable order, ready for YAML). */
export function sealSecret(input: SealSecretInput): SealedSecret {
  const scope = input.scope ?? 'strict';
  validateInput(input, scope);
  const publicKey = sealingPublicKey(input.certificatePem);
  let privateKey: KeyObject | undefined;
  if (input.previous && input.privateKeyPem) {
    assertKeyPairMatches(
      { privateKeyPem: input.privateKeyPem, certificatePem: input.certificatePem },
      `sealSecret ${input.namespace ?? ''}/${input.name}`,
    );
    privateKey = createPrivateKey(input.privateKeyPem);
  }

  const namespace = input.namespace || undefined;
  const label = encryptionLabel(namespace ?? '', input.name, scope);
  const encryptedData: Record<string, string> = {};
  for (const [key, plaintext] of [...plaintextValues(input)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    encryptedData[key] =
      reusableCiphertext(input.previous, privateKey, key, plaintext, label) ??
      hybridEncrypt(publicKey, plaintext, label).toString('base64');
  }

  const outerAnnotations = scopeAnnotations(scope);
  // Like kubeseal: the scope annotations go on the Secret (hence the template) too, and the
  // user's annotations cannot override them.
  const templateAnnotations = sortedRecord({ ...(input.annotations ?? {}), ...outerAnnotations });
  const templateMetadata: SealedSecretTemplateMetadata = { name: input.name };
  if (namespace) templateMetadata.namespace = namespace;
  if (input.labels && Object.keys(input.labels).length > 0) templateMetadata.labels = sortedRecord(input.labels);
  if (Object.keys(templateAnnotations).length > 0) templateMetadata.annotations = templateAnnotations;

  const metadata: SealedSecret['metadata'] = { name: input.name };
  if (namespace) metadata.namespace = namespace;
  if (Object.keys(outerAnnotations).length > 0) metadata.annotations = outerAnnotations;

  return {
    apiVersion: SEALED_SECRET_API_VERSION,
    kind: 'SealedSecret',
    metadata,
    spec: {
      encryptedData,
      template: { metadata: templateMetadata, type: input.type ?? 'Opaque' },
    },
  };
}

/**
 * Decrypts every value the way the controller does: the label comes from the SealedSecret's own
 * metadata (name, namespace, scope annotations), so a moved SealedSecret fails here as it would
 * in the cluster. Throws naming the keys that do not decrypt.
 */
export function unsealSecretBytes(sealed: SealedSecret, privateKeyPem: string): Record<string, Buffer> {
  const meta = sealed?.metadata;
  if (!meta?.name) throw new Error('unsealSecret: the SealedSecret has no metadata.name');
  const where = `SealedSecret ${meta.namespace ?? ''}/${meta.name}`;
  const encrypted = sealed.spec?.encryptedData;
  if (!encrypted || typeof encrypted !== 'object') throw new Error(`unsealSecret: ${where} has no spec.encryptedData`);
  const privateKey = createPrivateKey(privateKeyPem);
  const label = encryptionLabel(meta.namespace ?? '', meta.name, scopeFromAnnotations(meta.annotations));

  const out: Record<string, Buffer> = {};
  const failed: string[] = [];
  for (const key of Object.keys(encrypted).sort()) {
    try {
      out[key] = hybridDecrypt(privateKey, Buffer.from(encrypted[key], 'base64'), label);
    } catch {
      failed.push(key);
    }
  }
  if (failed.length > 0) {
    throw new Error(
      `unsealSecret: cannot decrypt ${failed.join(', ')} of ${where} ` +
        `(sealed with another key, or for another name, namespace or scope)`,
    );
  }
  return out;
}

/** unsealSecretBytes with values read as UTF-8 text. */
export function unsealSecret(sealed: SealedSecret, privateKeyPem: string): Record<string, string> {
  const bytes = unsealSecretBytes(sealed, privateKeyPem);
  return Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, v.toString('utf8')]));
}
