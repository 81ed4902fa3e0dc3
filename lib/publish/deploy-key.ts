// The read-only deploy key Argo CD uses to read the GitOps repository. An ed25519 pair is made with
// node:crypto and stored on the control machine under .clusterseed/deploy-keys/ (private key 0600,
// in OpenSSH's own format so ssh, ssh2 and Argo CD all read it). The public half is registered on
// the repository once, and found again by its title on later runs.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from '../runner/types.ts';
import type { RepoApi } from './github-api.ts';
import { createPrivate, ensurePrivateDir, readPrivate, STATE_DIR, writePrivate } from '../state/private-files.ts';

export interface DeployKeyPair {
  /** "ssh-ed25519 AAAA... comment" */
  publicKey: string;
  /** OpenSSH private key (PEM-armoured openssh-key-v1) */
  privateKey: string;
}

const KEY_TYPE = 'ssh-ed25519';
const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const ARMOR_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const ARMOR_END = '-----END OPENSSH PRIVATE KEY-----';

function sshString(b: Buffer | string): Buffer {
  const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return Buffer.concat([len, buf]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function publicBlob(pub: Buffer): Buffer {
  return Buffer.concat([sshString(KEY_TYPE), sshString(pub)]);
}

function publicLine(pub: Buffer, comment: string): string {
  return `${KEY_TYPE} ${publicBlob(pub).toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** Encodes an ed25519 key in the unencrypted openssh-key-v1 format (what ssh-keygen writes). */
function encodeOpenSshPrivate(seed: Buffer, pub: Buffer, comment: string): string {
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, sshString(KEY_TYPE), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const pad: number[] = [];
  for (let i = 1; (priv.length + pad.length) % 8 !== 0; i++) pad.push(i);
  priv = Buffer.concat([priv, Buffer.from(pad)]);
  const body = Buffer.concat([
    MAGIC,
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(publicBlob(pub)),
    sshString(priv),
  ]);
  const b64 = body.toString('base64').replace(/.{1,70}/g, '$&\n');
  return `${ARMOR_BEGIN}\n${b64}${ARMOR_END}\n`;
}

/** Reads back the public key of an unencrypted ed25519 openssh-key-v1 private key. */
export function publicKeyOf(privateKey: string, comment = ''): string {
  const bad = (why: string) => new Error(`deploy key: not an unencrypted ed25519 OpenSSH private key (${why})`);
  const text = privateKey.trim();
  if (!text.startsWith(ARMOR_BEGIN) || !text.endsWith(ARMOR_END)) throw bad('missing OPENSSH PRIVATE KEY armour');
  const body = Buffer.from(text.slice(ARMOR_BEGIN.length, -ARMOR_END.length).replace(/\s+/g, ''), 'base64');
  if (!body.subarray(0, MAGIC.length).equals(MAGIC)) throw bad('bad magic');
  let off = MAGIC.length;
  const next = (): Buffer => {
    if (off + 4 > body.length) throw bad('truncated');
    const len = body.readUInt32BE(off);
    const out = body.subarray(off + 4, off + 4 + len);
    if (out.length !== len) throw bad('truncated');
    off += 4 + len;
    return out;
  };
  const cipher = next().toString();
  if (cipher !== 'none') throw bad(`encrypted with ${cipher}`);
  next(); // kdf name
  next(); // kdf options
  off += 4; // key count
  const blob = next();
  let boff = 0;
  const blobNext = (): Buffer => {
    const len = blob.readUInt32BE(boff);
    const out = blob.subarray(boff + 4, boff + 4 + len);
    boff += 4 + len;
    return out;
  };
  if (blobNext().toString() !== KEY_TYPE) throw bad('not ed25519');
  return publicLine(blobNext(), comment);
}

/** A fresh ed25519 pair; the comment ends up in both halves (it is the key's title). */
export function generateDeployKey(comment: string): DeployKeyPair {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const pub = Buffer.from(jwk.x!, 'base64url');
  return { publicKey: publicLine(pub, comment), privateKey: encodeOpenSshPrivate(seed, pub, comment) };
}

/** "type base64" of a public key line: what GitHub compares (it drops the comment). */
export function keyIdentity(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(' ');
}

export function deployKeyPath(workDir: string, owner: string, repo: string): string {
  const safe = `${owner}__${repo}`.replace(/[^A-Za-z0-9._-]/g, '_');
  return path.join(path.resolve(workDir), STATE_DIR, 'deploy-keys', `${safe}_ed25519`);
}

/**
 * The key pair for a repository: read from disk, or generated and stored (private 0600 in a 0700
 * folder). A private key readable by others is tightened back to 0600.
 */
export async function loadOrCreateKeyPair(file: string, title: string, log: Logger): Promise<DeployKeyPair & { generated: boolean }> {
  const privateKey = readPrivate(file, { warn: (m) => log.warn(m) });
  if (privateKey !== undefined) return { privateKey, publicKey: publicKeyOf(privateKey, title), generated: false };
  const pair = generateDeployKey(title);
  ensurePrivateDir(path.dirname(file), { warn: (m) => log.warn(m) });
  // complete file linked into place, never overwriting: a run creating it at the same time wins
  // and this one uses its key (one key registered, not two)
  if (!createPrivate(file, pair.privateKey)) return loadOrCreateKeyPair(file, title, log);
  writePrivate(`${file}.pub`, pair.publicKey + '\n');
  log.info(`generated deploy key ${file} (ed25519)`);
  return { ...pair, generated: true };
}

export interface DeployKeyResult {
  title: string;
  publicKey: string;
  /** where the private key is on the control machine (Argo CD's repository secret reads it) */
  privateKeyPath: string;
  id: number;
  /** registered on this run */
  created: boolean;
  /** a key with this title but another public key was replaced (the local key changed) */
  replaced: boolean;
}

interface RemoteKey {
  id: number;
  key: string;
  title: string;
  read_only: boolean;
}

/** Registers the read-only deploy key once; later runs find it by title and change nothing. */
export async function ensureDeployKey(opts: { api: RepoApi; workDir: string; title: string; log: Logger }): Promise<DeployKeyResult> {
  const { api, title, log } = opts;
  const file = deployKeyPath(opts.workDir, api.owner, api.repo);
  const pair = await loadOrCreateKeyPair(file, title, log);
  const want = keyIdentity(pair.publicKey);
  const base = { title, publicKey: pair.publicKey, privateKeyPath: file };
  const octokit = api.octokit;

  const keys = (await api.call('list deploy keys', () =>
    octokit.paginate(octokit.rest.repos.listDeployKeys, { owner: api.owner, repo: api.repo, per_page: 100 }),
  )) as RemoteKey[];
  const same = keys.find((k) => keyIdentity(k.key) === want);
  if (same) {
    if (!same.read_only) log.warn(`deploy key "${same.title}" on ${api.fullName} has write access; clusterseed only needs read`);
    return { ...base, id: same.id, created: false, replaced: false };
  }
  // Same title, other key: the local pair was regenerated (e.g. the state folder was lost); the
  // old public key is useless without its private half, so it is replaced.
  const stale = keys.filter((k) => k.title === title);
  for (const k of stale) {
    await api.call('delete stale deploy key', () => octokit.rest.repos.deleteDeployKey({ owner: api.owner, repo: api.repo, key_id: k.id }));
    log.warn(`replaced deploy key "${title}" on ${api.fullName}: its private key is not the one in ${file}`);
  }
  const res = await api.call('add deploy key', () =>
    octokit.rest.repos.createDeployKey({ owner: api.owner, repo: api.repo, title, key: pair.publicKey, read_only: true }),
  );
  log.info(`registered read-only deploy key "${title}" on ${api.fullName}`);
  return { ...base, id: res.data.id, created: true, replaced: stale.length > 0 };
}
