// The public keys the control machine logs in with: the private key file (ssh_key) and whatever
// ssh-agent holds (SSH_AUTH_SOCK), the same credentials lib/ssh/auth.ts offers a host. A key is
// named by its identity "type base64" (no options, no comment), which is how two authorized_keys
// lines are told to be the same key.
import { existsSync, readFileSync } from 'node:fs';
import ssh2 from 'ssh2';

const AGENT_TIMEOUT_MS = 5_000;

/** "ssh-ed25519 AAAA..." of a public key line (options and comment dropped), or undefined. */
export function keyIdentity(line: string): string | undefined {
  const m = /(?:^|\s)((?:ssh|ecdsa|sk)-\S+)\s+([A-Za-z0-9+/]+={0,3})(?:\s|$)/.exec(line);
  return m ? `${m[1]} ${m[2]}` : undefined;
}

function parsedIdentity(key: unknown): string | undefined {
  const k = Array.isArray(key) ? key[0] : key;
  if (!k || k instanceof Error || typeof (k as ssh2.ParsedKey).getPublicSSH !== 'function') return undefined;
  return `${(k as ssh2.ParsedKey).type} ${(k as ssh2.ParsedKey).getPublicSSH().toString('base64')}`;
}

/**
 * The identity of the key a private key file logs in with: derived from the private key itself
 * (a stale .pub beside it must not vouch for a key the file does not hold), else, for a key with
 * a passphrase, read from its .pub; undefined when neither can tell.
 */
export function privateKeyIdentity(file: string): string | undefined {
  try {
    const derived = parsedIdentity(ssh2.utils.parseKey(readFileSync(file)));
    if (derived) return derived;
    if (existsSync(`${file}.pub`)) {
      const line = readFileSync(`${file}.pub`, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .find((l) => l && !l.startsWith('#'));
      return line ? keyIdentity(line) : undefined;
    }
  } catch {
    // unreadable: the connection checks (lib/inventory/connection-files.ts) say so
  }
  return undefined;
}

/** The identities ssh-agent at `socket` holds; [] when it cannot be asked (no agent, no answer in time). */
export function agentIdentities(socket: string | undefined = process.env.SSH_AUTH_SOCK): Promise<string[]> {
  if (!socket) return Promise.resolve([]);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve([]), AGENT_TIMEOUT_MS);
    try {
      new ssh2.OpenSSHAgent(socket).getIdentities((err, keys) => {
        clearTimeout(timer);
        resolve(err || !keys ? [] : keys.map(parsedIdentity).filter((x): x is string => !!x));
      });
    } catch {
      clearTimeout(timer);
      resolve([]);
    }
  });
}

export interface ControlIdentities {
  /** identities of every key the control machine can offer this host */
  keys: Set<string>;
  /** where they come from, for messages: "ssh_key /home/me/.ssh/id_ed25519 (ssh-ed25519 AAAA...)", "ssh-agent (2 keys)" */
  sources: string[];
}

/** The keys a login to a host with this ssh_key can use: the key file's, then the agent's. */
export async function controlIdentities(sshKey: string | undefined, agentKeys?: string[]): Promise<ControlIdentities> {
  const keys = new Set<string>();
  const sources: string[] = [];
  if (sshKey) {
    const id = privateKeyIdentity(sshKey);
    if (id) keys.add(id);
    sources.push(`ssh_key ${sshKey} (${id ? shortIdentity(id) : 'its public key cannot be read: passphrase and no .pub'})`);
  }
  const agent = agentKeys ?? (await agentIdentities());
  if (process.env.SSH_AUTH_SOCK || agentKeys) {
    for (const k of agent) keys.add(k);
    sources.push(`ssh-agent (${agent.length} key${agent.length === 1 ? '' : 's'})`);
  }
  return { keys, sources };
}

/** "ssh-ed25519 AAAAC3Nz...xyz0": enough to recognise a key in a message */
export function shortIdentity(id: string): string {
  const [type, b64 = ''] = id.split(' ');
  return b64.length > 24 ? `${type} ${b64.slice(0, 12)}...${b64.slice(-8)}` : id;
}
