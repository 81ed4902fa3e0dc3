// Opening one authenticated SSH connection: host key checked against known_hosts, key/agent login,
// optionally over a stream forwarded by a jump host. Every failure becomes a TransportError whose
// kind tells the runner what happened.
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { Client as ClientType, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { resolveCredentials } from './auth.ts';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  keyTypeOf,
  knownKeyTypes,
  lookupName,
  readKnownHosts,
  type HostKeyVerdict,
} from './known-hosts.ts';
import { DEFAULT_KEEPALIVE_MS, type TransportOptions } from './options.ts';
import { TransportError } from './types.ts';

const { Client } = ssh2;

export interface DialTarget {
  /** inventory name (or "jump host of <name>") for messages */
  label: string;
  address: string;
  port: number;
  user: string;
  keyFile?: string;
}

/** host key algorithms that produce each known_hosts key type */
const ALGORITHMS_FOR_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};
const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
];

export function where(target: DialTarget): string {
  return `${target.label} (${target.user}@${target.address}:${target.port})`;
}

/** Connect and log in; resolves with a ready client. */
export function dial(target: DialTarget, opts: TransportOptions, timeoutMs: number, sock?: Duplex): Promise<ClientType> {
  const log = opts.log;
  const creds = resolveCredentials(target.label, opts.privateKey ?? target.keyFile, log);
  const entries = readKnownHosts(opts.knownHostsFile);
  // like OpenSSH: ask for a key type we already know, so a host with several keys is not "changed"
  const preferred = knownKeyTypes(entries, target.address, target.port).flatMap((t) => ALGORITHMS_FOR_TYPE[t] ?? []);
  const serverHostKey = [...new Set([...preferred, ...DEFAULT_HOST_KEY_ALGORITHMS])];

  let rejection: TransportError | undefined;
  const hostVerifier = (key: Buffer): boolean => {
    // read again: another connection may just have added a key
    const verdict = checkHostKey(readKnownHosts(opts.knownHostsFile), target.address, target.port, key);
    if (verdict.status === 'known') return true;
    if (verdict.status === 'unknown' && opts.acceptNewHostKeys) {
      appendKnownHost(opts.knownHostsFile, target.address, target.port, key);
      log?.(
        `${target.label}: added ${keyTypeOf(key)} ${fingerprint(key)} for ${lookupName(target.address, target.port)} to ${opts.knownHostsFile}`,
      );
      return true;
    }
    rejection = hostKeyError(target, opts.knownHostsFile, verdict, key);
    return false;
  };

  const config: ConnectConfig = {
    host: target.address,
    port: target.port,
    username: target.user,
    privateKey: creds.privateKey,
    agent: creds.agent,
    readyTimeout: timeoutMs,
    keepaliveInterval: opts.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
    keepaliveCountMax: 3,
    hostVerifier,
    algorithms: { serverHostKey: serverHostKey as ServerHostKeyAlgorithm[] },
    sock: sock as ConnectConfig['sock'],
  };

  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    const fail = (err: Error & { level?: string; code?: string }) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(rejection ?? classify(target, err, creds.describe, timeoutMs));
    };
    client.once('ready', () => {
      settled = true;
      log?.(`${where(target)}: connected (${creds.describe})`);
      resolve(client);
    });
    client.on('error', fail);
    client.once('close', () => fail(new Error('connection closed during handshake')));
    client.connect(config);
  });
}

function classify(target: DialTarget, err: Error & { level?: string; code?: string }, auth: string, timeoutMs: number): TransportError {
  const at = where(target);
  if (err.level === 'client-timeout') {
    return new TransportError(`${at}: no SSH login within ${timeoutMs} ms (${err.message})`, 'timeout');
  }
  if (err.level === 'client-authentication' || err.level === 'agent') {
    return new TransportError(`${at}: authentication failed with ${auth}: ${err.message}`, 'auth');
  }
  return new TransportError(
    `${at}: cannot connect: ${err.message}${err.code && !err.message.includes(String(err.code)) ? ` (${err.code})` : ''}`,
    'unreachable',
  );
}

function hostKeyError(
  target: DialTarget,
  file: string,
  verdict: Exclude<HostKeyVerdict, { status: 'known' }>,
  key: Buffer,
): TransportError {
  const name = lookupName(target.address, target.port);
  const presented = `${keyTypeOf(key)} ${fingerprint(key)}`;
  if (verdict.status === 'unknown') {
    return new TransportError(
      `host key of ${target.label} (${name}) is not in ${file}; the server presented ${presented}. ` +
        `Check that fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and add the key to ${file}, ` +
        `or trust it on first use with --accept-new-host-keys.`,
      'hostkey-unknown',
    );
  }
  const entry = verdict.entry;
  const known = `${entry.keyType} ${fingerprint(entry.key)}`;
  if (verdict.status === 'revoked') {
    return new TransportError(
      `REFUSED: host key ${presented} of ${target.label} (${name}) is marked @revoked in ${file} line ${entry.line}.`,
      'hostkey-changed',
    );
  }
  return new TransportError(
    `WARNING: HOST KEY OF ${target.label} (${name}) HAS CHANGED. ${file} line ${entry.line} has ${known}, ` +
      `the server presented ${presented}. Someone could be intercepting the connection, or the host was reinstalled. ` +
      `Refusing to connect. If the change is expected, remove line ${entry.line} from ${file} ` +
      `(ssh-keygen -R '${name}' -f ${file}) and connect again.`,
    'hostkey-changed',
  );
}

/** A TCP stream to address:port opened by the jump host (direct-tcpip). */
export function forwardedStream(jump: ClientType, address: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    jump.forwardOut('127.0.0.1', 0, address, port, (err, stream) => (err ? reject(err) : resolve(stream)));
  });
}
