// SSH keys of a lab: one client key accepted by every login user, and per host its own ed25519
// host key (generated at start, never shared between hosts) plus the matching known_hosts line.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { runOk } from '../../lib/process/index.ts';

/** Generates an ed25519 key pair (OpenSSH format, no passphrase); returns the public key line. */
export async function generateEd25519(privateKeyPath: string, comment: string): Promise<string> {
  fs.rmSync(privateKeyPath, { force: true });
  fs.rmSync(`${privateKeyPath}.pub`, { force: true });
  await runOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', privateKeyPath], { timeoutMs: 30_000 });
  return fs.readFileSync(`${privateKeyPath}.pub`, 'utf8').trim();
}

/** "address keytype base64" (or "[address]:port ..." off port 22), without the comment. */
export function knownHostsLine(address: string, port: number, publicKeyLine: string): string {
  const [type, key] = publicKeyLine.split(/\s+/);
  const hostField = port === 22 ? address : `[${address}]:${port}`;
  return `${hostField} ${type} ${key}`;
}

/** Writes `publicKeyLine` as the only authorized key of a user inside a host's tree. */
export function installAuthorizedKey(root: string, home: string, uid: number, gid: number, publicKeyLine: string): void {
  const sshDir = path.join(root, home, '.ssh');
  fs.mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  const file = path.join(sshDir, 'authorized_keys');
  fs.writeFileSync(file, `${publicKeyLine}\n`, { mode: 0o600 });
  fs.chownSync(sshDir, uid, gid);
  fs.chmodSync(sshDir, 0o700);
  fs.chownSync(file, uid, gid);
}

export function randomPassword(): string {
  return randomBytes(12).toString('base64url');
}

/** SHA-512 crypt hash for /etc/shadow; the password goes through stdin, never argv. */
export async function shadowHash(password: string): Promise<string> {
  return (await runOk(['openssl', 'passwd', '-6', '-stdin'], { input: `${password}\n`, timeoutMs: 30_000 })).trim();
}

/** Replaces the password field of `user` in the tree's /etc/shadow. */
export function setShadowPassword(root: string, user: string, hash: string): void {
  const file = path.join(root, 'etc/shadow');
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const index = lines.findIndex((l) => l.startsWith(`${user}:`));
  if (index < 0) throw new Error(`${file}: no user ${user}`);
  const fields = lines[index].split(':');
  fields[1] = hash;
  lines[index] = fields.join(':');
  fs.writeFileSync(file, lines.join('\n'), { mode: 0o640 });
}
