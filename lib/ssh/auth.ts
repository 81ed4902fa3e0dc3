// Credentials for one login: a private key file (TransportOptions.privateKey or the host's sshKey)
// and ssh-agent as fallback. ssh2 tries the key first, then the agent.
import fs from 'node:fs';
import ssh2 from 'ssh2';
import { TransportError } from './types.ts';

export interface Credentials {
  privateKey?: Buffer;
  agent?: string;
  /** for messages: where the credentials came from */
  describe: string;
}

export function resolveCredentials(label: string, keyFile: string | undefined, log?: (line: string) => void): Credentials {
  const agent = process.env.SSH_AUTH_SOCK || undefined;
  const sources: string[] = [];
  let privateKey: Buffer | undefined;
  if (keyFile) {
    let data: Buffer;
    try {
      data = fs.readFileSync(keyFile);
    } catch (err) {
      throw new TransportError(`${label}: cannot read private key file ${keyFile}: ${(err as Error).message}`, 'auth');
    }
    const parsed = ssh2.utils.parseKey(data);
    if (parsed instanceof Error) {
      // typically an encrypted key: the agent may hold it unlocked
      if (!agent) throw new TransportError(`${label}: private key file ${keyFile} is not usable: ${parsed.message}`, 'auth');
      log?.(`${label}: private key ${keyFile} not usable (${parsed.message}); using ssh-agent`);
    } else {
      privateKey = data;
      sources.push(`key ${keyFile}`);
    }
  }
  if (agent) sources.push(`ssh-agent ${agent}`);
  if (!privateKey && !agent) {
    throw new TransportError(`${label}: no private key configured (sshKey) and no ssh-agent (SSH_AUTH_SOCK is not set)`, 'auth');
  }
  return { privateKey, agent, describe: sources.join(', ') };
}
