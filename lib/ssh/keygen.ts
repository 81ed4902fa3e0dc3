// SSH key pairs made in process (ssh2's generator, OpenSSH formats as ssh-keygen writes them).
// ssh2 1.17's generator now and then writes an ed25519 private key that neither ssh2 nor OpenSSH
// can load (about 1 in 170: "Malformed OpenSSH private key", ssh-keygen: "error in libcrypto"),
// so every pair is parsed back before it is used, and made again when it does not load.
import ssh2 from 'ssh2';

export interface SshKeyPair {
  /** OpenSSH private key, ending in a newline */
  private: string;
  /** "type base64 comment" */
  public: string;
}

export interface SshKeyOptions {
  comment?: string;
  /** RSA/ECDSA size */
  bits?: number;
  /** encrypts the private key (aes256-ctr, bcrypt KDF) like `ssh-keygen -N` */
  passphrase?: string;
}

const ATTEMPTS = 20;

export function generateSshKeyPair(type: 'ed25519' | 'ecdsa' | 'rsa', opts: SshKeyOptions = {}): SshKeyPair {
  const genOpts = {
    comment: opts.comment ?? '',
    ...(opts.bits ? { bits: opts.bits } : {}),
    ...(opts.passphrase ? { passphrase: opts.passphrase, cipher: 'aes256-ctr', rounds: 16 } : {}),
  };
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const keys = (ssh2.utils.generateKeyPairSync as (t: string, o: object) => { private: string; public: string })(type, genOpts);
    const priv = `${keys.private.trim()}\n`;
    if (!(ssh2.utils.parseKey(priv, opts.passphrase) instanceof Error)) return { private: priv, public: keys.public.trim() };
  }
  throw new Error(`could not generate a loadable ${type} SSH key in ${ATTEMPTS} attempts`);
}
