// Is this file a private key Argo CD can use as a read-only deploy key? Argo CD has no way to
// enter a passphrase, so the key must be unencrypted; and it is a secret, so only its owner may
// read it. Used by the inventory check (file:line errors) and again when the key is read.
import { readFileSync, statSync } from 'node:fs';

const OPENSSH_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const OPENSSH_END = '-----END OPENSSH PRIVATE KEY-----';
const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const PEM_PRIVATE = /^-----BEGIN (RSA |EC |DSA )?PRIVATE KEY-----/;
const PUBLIC_LINE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-\S+|sk-\S+)\s+AAAA/;

/** Why the text is not an unencrypted private key, or undefined when it is one. */
export function privateKeyTextProblem(text: string): string | undefined {
  const t = text.trim();
  if (PUBLIC_LINE.test(t)) return 'is a public key: name the private key (the file without .pub)';
  if (t.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /^Proc-Type: 4,ENCRYPTED$/m.test(t)) {
    return 'is encrypted with a passphrase, which Argo CD cannot enter: use a key without one (it only needs read access)';
  }
  if (PEM_PRIVATE.test(t)) return undefined;
  if (!t.startsWith(OPENSSH_BEGIN) || !t.endsWith(OPENSSH_END)) return 'is not a private key (expected an OpenSSH or PEM private key)';
  const body = Buffer.from(t.slice(OPENSSH_BEGIN.length, -OPENSSH_END.length).replace(/\s+/g, ''), 'base64');
  if (!body.subarray(0, MAGIC.length).equals(MAGIC) || body.length < MAGIC.length + 4) return 'is not a valid OpenSSH private key';
  const len = body.readUInt32BE(MAGIC.length);
  const cipher = body.subarray(MAGIC.length + 4, MAGIC.length + 4 + len).toString('latin1');
  if (cipher !== 'none')
    return `is encrypted (${cipher}) with a passphrase, which Argo CD cannot enter: use a key without one (it only needs read access)`;
  return undefined;
}

/** Why the file cannot be the deploy key Argo CD reads with, or undefined when it can. */
export function privateKeyFileProblem(file: string): string | undefined {
  let mode: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) return `${file} is not a file`;
    mode = st.mode & 0o777;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${file} does not exist` : `${file} cannot be used (${code ?? (err as Error).message})`;
  }
  if (mode & 0o077) return `${file} is readable by others (mode ${mode.toString(8).padStart(3, '0')}): chmod 600 it`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return `${file} is not readable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  const problem = privateKeyTextProblem(text);
  return problem ? `${file} ${problem}` : undefined;
}
