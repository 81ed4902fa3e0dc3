// The Sealed Secrets key pair, made on the control machine before the cluster exists, so the
// GitOps repo can hold SealedSecrets from its very first commit. At bootstrap the pair is
// installed as the controller's active key (sealingKeySecretManifest); the controller then
// uses it instead of generating its own.
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPair } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { createPrivate, ensurePrivateDir, privateExists, readPrivate, type Warn } from '../state/private-files.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The controller's defaults: --key-size 4096, --key-ttl 10*365*24h. */
export const DEFAULT_KEY_SIZE = 4096;
export const DEFAULT_VALID_DAYS = 3650;
/**
 * The controller's --my-cn defaults to "" (an empty subject); a named subject makes the
 * certificate recognisable in `openssl x509 -text` and in the cluster, and kubeseal ignores it.
 */
export const DEFAULT_COMMON_NAME = 'sealed-secret';
/** The label the controller uses to find its key pairs (pkg/controller SealedSecretsKeyLabel). */
export const SEALING_KEY_LABEL = 'sealedsecrets.bitnami.com/sealed-secrets-key';
/** The controller's --key-prefix; it names its own keys with this generateName. */
export const SEALING_KEY_PREFIX = 'sealed-secrets-key';

export interface SealingKeyPair {
  /** PKCS#1 "RSA PRIVATE KEY" PEM, the encoding the controller writes into tls.key */
  privateKeyPem: string;
  certificatePem: string;
}

export interface GenerateSealingKeyPairOptions {
  commonName?: string;
  validDays?: number;
  /** RSA modulus bits; 4096 like the controller (smaller sizes only make sense in tests) */
  keySize?: number;
  /** start of validity; defaults to now */
  notBefore?: Date;
}

export async function generateSealingKeyPair(opts: GenerateSealingKeyPairOptions = {}): Promise<SealingKeyPair> {
  const validDays = opts.validDays ?? DEFAULT_VALID_DAYS;
  const keySize = opts.keySize ?? DEFAULT_KEY_SIZE;
  if (!Number.isInteger(validDays) || validDays < 1) {
    throw new Error(`generateSealingKeyPair: validDays must be a positive integer, got ${validDays}`);
  }
  if (!Number.isInteger(keySize) || keySize < 2048 || keySize % 8 !== 0) {
    throw new Error(`generateSealingKeyPair: keySize must be a multiple of 8 and at least 2048, got ${keySize}`);
  }
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: keySize, publicExponent: 65537 });
  const notBefore = opts.notBefore ?? new Date();
  const notAfter = new Date(notBefore.getTime() + validDays * 24 * 3600 * 1000);
  // loaded here, not at start-up: @peculiar/x509 with its DI container costs every run about 0.2 s
  // and only a new key pair needs it (test/unit/startup-imports.test.ts)
  const { createSelfSignedCertificate, toPem } = await import('./x509.ts');
  const der = await createSelfSignedCertificate({
    privateKey,
    publicKey,
    commonName: opts.commonName ?? DEFAULT_COMMON_NAME,
    notBefore,
    notAfter,
  });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    certificatePem: toPem('CERTIFICATE', der),
  };
}

/** Throws unless the PEMs parse, the key is RSA and the certificate carries its public key. */
export function assertKeyPairMatches(keyPair: SealingKeyPair, where = 'sealing key pair'): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(keyPair.certificatePem);
  } catch (err) {
    throw new Error(`${where}: the certificate does not parse (${(err as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(keyPair.privateKeyPem);
  } catch (err) {
    throw new Error(`${where}: the private key does not parse (${(err as Error).message})`);
  }
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error(`${where}: the private key is not an RSA key`);
  const fromKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const fromCert = cert.publicKey.export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(fromCert)) throw new Error(`${where}: the certificate does not belong to the private key`);
}

export interface SealingKeySecretOptions {
  /** Secret name; defaults to sealed-secrets-key-<8 hex of the certificate fingerprint> */
  name?: string;
}

/** A stable per-key name, so re-applying the same key is a no-op and a new key adds a new Secret. */
export function sealingKeySecretName(keyPair: SealingKeyPair): string {
  const fingerprint = new X509Certificate(keyPair.certificatePem).fingerprint256.replace(/:/g, '').toLowerCase();
  return `${SEALING_KEY_PREFIX}-${fingerprint.slice(0, 8)}`;
}

/**
 * The kubernetes.io/tls Secret that installs the key pair as the controller's active sealing key,
 * shaped like the ones the controller writes itself (pkg/controller writeKey).
 *
 * SECURITY: the returned text contains the private key in clear (base64 is not encryption). It must
 * only be piped to `kubectl apply -f -` on stdin or written to a 0600 file during bootstrap; it is
 * never rendered into the GitOps repository or committed anywhere. secret-scan.ts flags it if it is.
 */
export function sealingKeySecretManifest(keyPair: SealingKeyPair, namespace: string, opts: SealingKeySecretOptions = {}): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) {
    throw new Error(`sealingKeySecretManifest: namespace "${namespace}" is not a valid Kubernetes namespace name`);
  }
  assertKeyPairMatches(keyPair);
  const name = opts.name ?? sealingKeySecretName(keyPair);
  const manifest = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { [SEALING_KEY_LABEL]: 'active' },
    },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': Buffer.from(keyPair.certificatePem).toString('base64'),
      'tls.key': Buffer.from(keyPair.privateKeyPem).toString('base64'),
    },
  };
  return YAML.stringify(manifest, { lineWidth: 0 });
}

export interface StoredSealingKeys extends SealingKeyPair {
  privateKeyPath: string;
  certificatePath: string;
  /** true when this call generated the pair */
  created: boolean;
}

export const PRIVATE_KEY_FILE = 'sealed-secrets.key';
export const CERTIFICATE_FILE = 'sealed-secrets.crt';

/** How long a key without its certificate may be a pair being created by a concurrent run. */
const PARTNER_WAIT_MS = 2000;

/** The stored pair, or undefined when there is none; waits briefly for a partner being created. */
async function readStoredPair(
  dir: string,
  privateKeyPath: string,
  certificatePath: string,
  warn?: Warn,
): Promise<StoredSealingKeys | undefined> {
  const deadline = Date.now() + PARTNER_WAIT_MS;
  let [haveKey, haveCert] = [privateExists(privateKeyPath), privateExists(certificatePath)];
  while (haveKey !== haveCert && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    [haveKey, haveCert] = [privateExists(privateKeyPath), privateExists(certificatePath)];
  }
  if (haveKey !== haveCert) {
    const missing = haveKey ? certificatePath : privateKeyPath;
    throw new Error(
      `${missing} is missing while its partner exists; restore it from backup (a new key pair would make existing SealedSecrets undecryptable)`,
    );
  }
  if (!haveKey) return undefined;
  const keyPair = {
    privateKeyPem: readPrivateKey(privateKeyPath, warn),
    // the certificate is public (kubeseal --cert reads it), so looser modes on it are fine
    certificatePem: await fs.readFile(certificatePath, 'utf8'),
  };
  assertKeyPairMatches(keyPair, dir);
  return { ...keyPair, privateKeyPath, certificatePath, created: false };
}

/** The private key, by lib/state's policy: a link refused, a loose mode tightened to 0600 and said so. */
function readPrivateKey(file: string, warn?: Warn): string {
  const text = readPrivate(file, { warn });
  if (text === undefined) throw new Error(`${file} vanished while it was being read`);
  return text;
}

/**
 * Returns the control machine's sealing key pair from `dir`, generating it on first use.
 * The directory is created 0700 and both files 0600. The key is created once and reused on every
 * later run, so SealedSecrets in the repo stay decryptable and re-runs change nothing.
 */
export async function loadOrCreateSealingKeys(
  dir: string,
  opts: GenerateSealingKeyPairOptions & { warn?: Warn } = {},
): Promise<StoredSealingKeys> {
  const privateKeyPath = path.join(dir, PRIVATE_KEY_FILE);
  const certificatePath = path.join(dir, CERTIFICATE_FILE);

  ensurePrivateDir(dir, { warn: opts.warn });

  const stored = await readStoredPair(dir, privateKeyPath, certificatePath, opts.warn);
  if (stored) return stored;

  const keyPair = await generateSealingKeyPair(opts);
  // The key goes first: a crash in between leaves a key without a certificate, which the check
  // above reports instead of silently replacing the key. Each file appears complete (temp file +
  // link, never overwriting): a run that created the key at the same time wins, and this one uses
  // the winner's pair (it waits for its certificate).
  if (!createPrivate(privateKeyPath, keyPair.privateKeyPem)) {
    const theirs = await readStoredPair(dir, privateKeyPath, certificatePath, opts.warn);
    if (!theirs) throw new Error(`${privateKeyPath} vanished while it was being created by another run`);
    return theirs;
  }
  if (!createPrivate(certificatePath, keyPair.certificatePem)) {
    throw new Error(`${certificatePath} appeared while this run created its key ${privateKeyPath}; remove both and run again`);
  }
  return { ...keyPair, privateKeyPath, certificatePath, created: true };
}
