// Is a file named as `ssh_key` a private key clusterseed can log in with? Checked on the control
// machine before any host is contacted, so a wrong file is named up front instead of surfacing as
// an authentication failure on every host (or, worse, being used although OpenSSH would refuse it).
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import ssh2 from 'ssh2';

/** A public key line as ssh-keygen writes it into `<key>.pub`. */
const PUBLIC_KEY_LINE = /^(?:ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)\s+AAAA[A-Za-z0-9+/]+={0,3}(?:\s|$)/;

export interface KeyFileOptions {
  /** an ssh-agent is running (SSH_AUTH_SOCK): it may hold an encrypted key unlocked */
  agent: boolean;
  /** the user the run is (default: this process's uid) */
  uid?: number;
}

/** What is wrong with `file` as a private key, one sentence naming the file; undefined when usable. */
export function privateKeyProblem(file: string, opts: KeyFileOptions): string | undefined {
  let mode: number;
  let owner: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) return `ssh key is not a file (${st.isDirectory() ? 'it is a directory' : 'not a regular file'}): ${file}`;
    mode = st.mode & 0o777;
    owner = st.uid;
    accessSync(file, constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `ssh key file does not exist: ${file}`;
    if (code === 'EACCES') return `ssh key file is not readable (permission denied): ${file}`;
    return `ssh key file cannot be used (${code ?? (err as Error).message}): ${file}`;
  }
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    return `ssh key file cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ${file}`;
  }
  const text = data.toString('utf8').trim();
  // the public half by mistake: it cannot log in, and the private one is probably next to it
  if (PUBLIC_KEY_LINE.test(text)) {
    const hint = file.endsWith('.pub') ? ` (the private key is probably ${file.slice(0, -4)})` : '';
    return `ssh key file is a public key, not the private key: ${file}${hint}`;
  }
  // OpenSSH (authfile.c sshkey_perm_ok) ignores a private key of the user's own that others may
  // read or write: "Permissions 0644 ... are too open". So does clusterseed.
  const uid = opts.uid ?? process.getuid?.();
  if (uid !== undefined && owner === uid && (mode & 0o077) !== 0) {
    return `ssh key file ${file} has mode ${mode.toString(8).padStart(4, '0')}: a private key others can read or write is refused (as OpenSSH does); run chmod 600 ${file}`;
  }
  const parsed = ssh2.utils.parseKey(data);
  if (parsed instanceof Error) {
    if (/encrypted|passphrase/i.test(parsed.message)) {
      if (opts.agent) return undefined; // the agent may hold it unlocked (lib/ssh/auth.ts falls back to it)
      return `ssh key file ${file} is encrypted and there is no way to unlock it: clusterseed takes no passphrase; add it to ssh-agent (ssh-add ${file}) and run with SSH_AUTH_SOCK set`;
    }
    return `ssh key file is not a private key clusterseed can read (${parsed.message}): ${file}`;
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || !key.isPrivateKey()) return `ssh key file holds no private key: ${file}`;
  return undefined;
}
