// OpenSSH known_hosts handling: parsing (plain, wildcard, negated and hashed `|1|` host fields,
// `[host]:port` for non-22 ports, @revoked / @cert-authority markers), the verdict for a key
// a server presents, fingerprints in OpenSSH's SHA256 form, and appending newly trusted keys.
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface KnownHostEntry {
  /** 1-based line number in the file */
  line: number;
  marker?: 'revoked' | 'cert-authority';
  /** the host field as written (comma-separated patterns, or one `|1|salt|hash`) */
  hosts: string;
  keyType: string;
  key: Buffer;
}

export type HostKeyVerdict =
  | { status: 'known'; line: number }
  | { status: 'unknown' }
  /** an entry for this host has a different key (same key type, or only other key types are known) */
  | { status: 'changed'; entry: KnownHostEntry }
  | { status: 'revoked'; entry: KnownHostEntry };

/** Parse known_hosts text. Lines OpenSSH would ignore (comments, garbage) are skipped. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      const name = fields.shift()!.slice(1);
      if (name !== 'revoked' && name !== 'cert-authority') return;
      marker = name;
    }
    const [hosts, keyType, keyText] = fields;
    if (!hosts || !keyType || !keyText || !/^[A-Za-z0-9+/]+=*$/.test(keyText)) return;
    const key = Buffer.from(keyText, 'base64');
    // the blob starts with its own type name; a mismatch means a corrupt line
    if (keyTypeOf(key) !== keyType) return;
    entries.push({ line: index + 1, marker, hosts, keyType, key });
  });
  return entries;
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function lookupName(address: string, port: number): string {
  const host = address.toLowerCase();
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Does an entry's host field apply to this address and port? */
export function entryMatches(entry: KnownHostEntry, address: string, port: number): boolean {
  const name = lookupName(address, port);
  if (entry.hosts.startsWith('|1|')) return hashedMatches(entry.hosts, name);
  let matched = false;
  for (const pattern of entry.hosts.split(',')) {
    const negated = pattern.startsWith('!');
    if (globMatches(negated ? pattern.slice(1) : pattern, name)) {
      if (negated) return false; // a negated match overrides any positive one
      matched = true;
    }
  }
  return matched;
}

function hashedMatches(field: string, name: string): boolean {
  const [, , salt, hash] = field.split('|');
  if (!salt || !hash) return false;
  const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return digest === hash;
}

function globMatches(pattern: string, name: string): boolean {
  const regex = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(name);
}

/** Key types known for a host (to ask the server for one of those first, as OpenSSH does). */
export function knownKeyTypes(entries: KnownHostEntry[], address: string, port: number): string[] {
  const types = entries.filter((e) => !e.marker && entryMatches(e, address, port)).map((e) => e.keyType);
  return [...new Set(types)];
}

/** What to make of the key a server presented. */
export function checkHostKey(entries: KnownHostEntry[], address: string, port: number, key: Buffer): HostKeyVerdict {
  // a revoked key is refused whatever host pattern it was listed under
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked };
  const forHost = entries.filter((e) => !e.marker && entryMatches(e, address, port));
  const same = forHost.find((e) => e.key.equals(key));
  if (same) return { status: 'known', line: same.line };
  if (forHost.length === 0) return { status: 'unknown' };
  // Stricter than OpenSSH's accept-new on purpose: a host known under another key type that now
  // presents a new type is treated as changed, not as new.
  const type = keyTypeOf(key);
  return { status: 'changed', entry: forHost.find((e) => e.keyType === type) ?? forHost[0] };
}

/** The key type name at the start of an SSH public key blob (e.g. ssh-ed25519). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  if (len > 64 || 4 + len > blob.length) return '';
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** OpenSSH's fingerprint format: SHA256:<unpadded base64 of sha256(blob)> */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export function formatEntry(address: string, port: number, key: Buffer): string {
  return `${lookupName(address, port)} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/** Read a known_hosts file; a missing file is an empty one. */
export function readKnownHosts(file: string): KnownHostEntry[] {
  try {
    return parseKnownHosts(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Append a trusted key (creating the file 0600 and its directory 0700 when missing). */
export function appendKnownHost(file: string, address: string, port: number, key: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const current = fs.readFileSync(file, 'utf8');
    if (current.length > 0 && !current.endsWith('\n')) prefix = '\n';
  } catch {
    // new file
  }
  // one write with O_APPEND: concurrent appends from several hosts do not interleave
  fs.appendFileSync(file, `${prefix}${formatEntry(address, port, key)}\n`, { mode: 0o600 });
}
