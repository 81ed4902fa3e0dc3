// SSH key pairs for test fixtures, made in process by ssh2 (OpenSSH formats, as ssh-keygen writes
// them): a test in test/unit needs no ssh-keygen. Tests that compare with ssh-keygen itself are in
// test/system.
import { writeFileSync } from 'node:fs';
import { generateSshKeyPair } from '../../lib/ssh/keygen.ts';

export interface KeyPairOptions {
  /** encrypts the private key (aes256-ctr, bcrypt KDF) like `ssh-keygen -N <passphrase>` */
  passphrase?: string;
  /** the comment of the public key line (ssh-keygen -C) */
  comment?: string;
}

/** Writes an ed25519 private key to `file` (mode 0600) and its public line to `file.pub` (0644), like `ssh-keygen -t ed25519 -f file`; returns the public line. */
export function writeKeyPair(file: string, opts: KeyPairOptions = {}): string {
  const { private: priv, public: pub } = generateSshKeyPair('ed25519', { comment: opts.comment, passphrase: opts.passphrase });
  writeFileSync(file, `${priv.trim()}\n`, { mode: 0o600 });
  writeFileSync(`${file}.pub`, `${pub.trim()}\n`, { mode: 0o644 });
  return pub.trim();
}
