// What the hardened sshd configuration says, as pure functions of the OpenSSH version, the host
// keys found on the host and the vars: algorithm lists per version, the drop-in text, and the
// check of `sshd -T` output (the effective configuration) against what the drop-in asks for.
//
// Why a drop-in and not our own sshd_config: the distribution's main file carries settings we do
// not want to own (Subsystem sftp path, UsePAM, AcceptEnv differ between Debian, Ubuntu and
// Raspberry Pi OS), and Debian/Ubuntu/Raspberry Pi OS include /etc/ssh/sshd_config.d/*.conf at the
// very top. sshd keeps the FIRST value it reads for most keywords, so the file is named to sort
// first (00-...), the Include is added at the top of the main file when missing, and before
// installing, the effective configuration (`sshd -T`) of the candidate is compared with ours:
// anything read earlier that overrides us (another 00-* drop-in, settings above the Include) fails
// the run with the keyword named instead of leaving a weaker sshd than the report claims.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderTemplate } from '../../lib/blocks/file.ts';
import type { VarsReader } from '../../lib/settings/index.ts';

export const SSHD_DROPIN = '/etc/ssh/sshd_config.d/00-clusterseed-harden.conf';
export const MIN_OPENSSH = '7.4';

/** "9.2" >= "8.5" */
export function versionAtLeast(version: string, min: string): boolean {
  const a = version.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

type Versioned = [name: string, since: string][];

// Strongest first. Post-quantum hybrids only where OpenSSH has them; curve25519 for every client
// (clusterseed's own ssh2 client included); finite-field groups of 4096+ bits as the fallback.
const KEX: Versioned = [
  ['mlkem768x25519-sha256', '9.9'],
  ['sntrup761x25519-sha512@openssh.com', '8.5'],
  ['curve25519-sha256', '7.4'],
  ['curve25519-sha256@libssh.org', '6.5'],
  ['diffie-hellman-group18-sha512', '7.3'],
  ['diffie-hellman-group16-sha512', '7.3'],
  // only with the moduli file cut to strong groups (the moduli task does that)
  ['diffie-hellman-group-exchange-sha256', '4.4'],
];

// AEAD ciphers first; CTR modes are kept for old clients and are paired with EtM MACs only.
const CIPHERS: Versioned = [
  ['chacha20-poly1305@openssh.com', '6.5'],
  ['aes256-gcm@openssh.com', '6.2'],
  ['aes128-gcm@openssh.com', '6.2'],
  ['aes256-ctr', '3.7'],
  ['aes192-ctr', '3.7'],
  ['aes128-ctr', '3.7'],
];

// Encrypt-then-MAC only, SHA-2 or UMAC-128 (no SHA-1, no 64-bit tags).
const MACS: Versioned = [
  ['hmac-sha2-512-etm@openssh.com', '6.2'],
  ['hmac-sha2-256-etm@openssh.com', '6.2'],
  ['umac-128-etm@openssh.com', '6.2'],
];

const HOST_KEY_ALGORITHMS: Record<HostKeyType, Versioned> = {
  ed25519: [
    ['ssh-ed25519-cert-v01@openssh.com', '6.5'],
    ['ssh-ed25519', '6.5'],
  ],
  rsa: [
    ['rsa-sha2-512-cert-v01@openssh.com', '7.8'],
    ['rsa-sha2-256-cert-v01@openssh.com', '7.8'],
    ['rsa-sha2-512', '7.2'],
    ['rsa-sha2-256', '7.2'],
  ],
  ecdsa: [
    ['ecdsa-sha2-nistp521', '5.7'],
    ['ecdsa-sha2-nistp384', '5.7'],
    ['ecdsa-sha2-nistp256', '5.7'],
  ],
};

export type HostKeyType = 'ed25519' | 'rsa' | 'ecdsa';
export const HOST_KEY_TYPES: readonly HostKeyType[] = ['ed25519', 'rsa', 'ecdsa'];

const supported = (list: Versioned, version: string) => list.filter(([, since]) => versionAtLeast(version, since)).map(([name]) => name);

export interface Algorithms {
  kex: string[];
  ciphers: string[];
  macs: string[];
  hostKeyAlgorithms: string[];
}

/** The algorithm lists for an OpenSSH version and the host key types that are offered. */
export function algorithmsFor(version: string, keyTypes: HostKeyType[]): Algorithms {
  if (!versionAtLeast(version, MIN_OPENSSH)) {
    throw new Error(
      `OpenSSH ${version} is older than ${MIN_OPENSSH}, the oldest release clusterseed knows how to harden; upgrade openssh-server`,
    );
  }
  return {
    kex: supported(KEX, version),
    ciphers: supported(CIPHERS, version),
    macs: supported(MACS, version),
    hostKeyAlgorithms: keyTypes.flatMap((t) => supported(HOST_KEY_ALGORITHMS[t], version)),
  };
}

/** One host key found on the host (read from its .pub). */
export interface HostKeyInfo {
  path: string;
  bits: number;
  /** ED25519, RSA, ECDSA, DSA, ... as ssh-keygen prints it */
  type: string;
}

/**
 * Probe text: "key PATH <the .pub line>" per host key. The shell's `read` instead of one
 * `ssh-keygen -l | awk` per key: type and size come out of the public key blob here.
 */
export const HOST_KEYS_PROBE =
  'for k in /etc/ssh/ssh_host_*_key; do [ -f "$k.pub" ] && IFS= read -r l < "$k.pub" && echo "key $k $l"; done';

/** Probe lines "key /etc/ssh/ssh_host_rsa_key ssh-rsa AAAA... root@host" (HOST_KEYS_PROBE). */
export function parseHostKeys(lines: string[]): HostKeyInfo[] {
  const keys: HostKeyInfo[] = [];
  for (const line of lines) {
    const m = /^key (\S+) (\S+) ([A-Za-z0-9+/=]+)/.exec(line.trim());
    const info = m && publicKeyInfo(m[2], Buffer.from(m[3], 'base64'));
    if (info) keys.push({ path: m[1], ...info });
  }
  return keys;
}

/** Type and size of an OpenSSH public key blob (RFC 4253 6.6, RFC 5656 3.1), as `ssh-keygen -l` names them. */
export function publicKeyInfo(keyType: string, blob: Buffer): { bits: number; type: string } | null {
  const fields: Buffer[] = [];
  for (let at = 0; at + 4 <= blob.length && fields.length < 3;) {
    const len = blob.readUInt32BE(at);
    if (at + 4 + len > blob.length) return null;
    fields.push(blob.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (fields[0]?.toString('latin1') !== keyType) return null;
  const mpintBits = (b: Buffer | undefined): number => {
    if (!b) return 0;
    let i = 0;
    while (i < b.length && b[i] === 0) i++; // mpint's sign byte
    return i === b.length ? 0 : (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]));
  };
  if (keyType === 'ssh-ed25519') return { bits: 256, type: 'ED25519' };
  if (keyType === 'ssh-rsa') return fields[2] ? { bits: mpintBits(fields[2]), type: 'RSA' } : null; // e, then n
  if (keyType === 'ssh-dss') return fields[1] ? { bits: mpintBits(fields[1]), type: 'DSA' } : null; // p
  const ecdsa = /^ecdsa-sha2-nistp(256|384|521)$/.exec(keyType);
  if (ecdsa) return { bits: Number(ecdsa[1]), type: 'ECDSA' };
  return null;
}

export interface HostKeyChoice {
  /** HostKey lines, strongest first */
  offered: HostKeyInfo[];
  /** keys left out and why, for the report */
  dropped: string[];
  /** no ed25519 key exists but one is wanted: generate it */
  generateEd25519: boolean;
}

export const ED25519_KEY = '/etc/ssh/ssh_host_ed25519_key';

/** Which of the host's keys sshd offers: the allowed types, RSA only from `rsaMinBits`; never DSA. */
export function chooseHostKeys(found: HostKeyInfo[], allowed: HostKeyType[], rsaMinBits: number): HostKeyChoice {
  const offered: HostKeyInfo[] = [];
  const dropped: string[] = [];
  for (const key of found) {
    const type = key.type.toLowerCase();
    if (type === 'ed25519' && allowed.includes('ed25519')) offered.push(key);
    else if (type === 'rsa' && allowed.includes('rsa') && key.bits >= rsaMinBits) offered.push(key);
    else if (type === 'ecdsa' && allowed.includes('ecdsa')) offered.push(key);
    else dropped.push(`${key.path} (${key.type} ${key.bits})`);
  }
  const rank = (k: HostKeyInfo) => ['ED25519', 'RSA', 'ECDSA'].indexOf(k.type);
  offered.sort((a, b) => rank(a) - rank(b));
  const generateEd25519 = allowed.includes('ed25519') && !offered.some((k) => k.type === 'ED25519');
  if (generateEd25519) offered.unshift({ path: ED25519_KEY, bits: 256, type: 'ED25519' });
  if (offered.length === 0) {
    throw new Error(
      `no host key left to offer: the host has ${found.map((k) => `${k.type} ${k.bits}`).join(', ') || 'none'}, vars.harden.sshd.host_key_types allows ${allowed.join(', ')}`,
    );
  }
  return { offered, dropped, generateEd25519 };
}

/** Keywords the vars may not set through `settings` because they have their own var or meaning. */
const RESERVED = new Map([
  ['hostkey', 'host keys come from vars.harden.sshd.host_key_types and rsa_min_bits'],
  ['ciphers', 'use vars.harden.sshd.ciphers'],
  ['macs', 'use vars.harden.sshd.macs'],
  ['kexalgorithms', 'use vars.harden.sshd.kex_algorithms'],
  ['hostkeyalgorithms', 'follows the offered host keys'],
  ['match', 'Match blocks do not belong in this drop-in; put them in your own file after it'],
  ['include', 'Include is not allowed here'],
  ['port', "sshd keeps the inventory's port: clusterseed proves every change with a fresh login on it"],
  ['listenaddress', 'sshd keeps listening where it does: clusterseed proves every change with a fresh login'],
  ['allowgroups', 'use vars.harden.sshd.allow_groups (checked against the users clusterseed logs in as)'],
]);

/** Keyword renames by version: [new keyword, old keyword, version the new one appeared]. */
const RENAMED: [string, string, string][] = [
  ['KbdInteractiveAuthentication', 'ChallengeResponseAuthentication', '8.7'],
  ['PubkeyAcceptedAlgorithms', 'PubkeyAcceptedKeyTypes', '8.5'],
];

export interface SshdSettings {
  /** keyword → value, in the order they are written */
  settings: [string, string][];
}

function settingValue(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v;
  return undefined;
}

/** vars.harden.sshd.settings → checked keyword/value pairs; null drops a default keyword. */
export function readSettings(r: VarsReader, version: string): [string, string][] {
  const map = r.map('sshd.settings');
  const out: [string, string][] = [];
  for (const [key, raw] of Object.entries(map)) {
    if (raw === null) continue;
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(key)) r.fail(`sshd.settings.${key}`, 'an sshd_config keyword (letters and digits)', key);
    const reserved = RESERVED.get(key.toLowerCase());
    if (reserved) r.fail(`sshd.settings.${key}`, `no value here (${reserved})`, raw);
    const value = settingValue(raw);
    if (value === undefined || value.trim() === '' || /[\n\r#]/.test(value))
      r.fail(`sshd.settings.${key}`, 'a one-line value (string, number or true/false) without #', raw);
    // keywords are case-insensitive: an override spelled differently replaces the default in place
    const same = out.findIndex(([k]) => k.toLowerCase() === key.toLowerCase());
    if (same >= 0) out[same] = [key, value.trim()];
    else out.push([key, value.trim()]);
  }
  return renameForVersion(out, version);
}

/** Older sshd only knows the old keyword of a renamed one; up to 8.6 both kbd-int keywords matter. */
export function renameForVersion(settings: [string, string][], version: string): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of settings) {
    const rename = RENAMED.find(([now]) => now.toLowerCase() === key.toLowerCase());
    if (rename && !versionAtLeast(version, rename[2])) {
      out.push([rename[1], value]);
      // before 8.7 KbdInteractiveAuthentication existed too, with a narrower meaning: set both
      if (rename[0] === 'KbdInteractiveAuthentication') out.push([key, value]);
      continue;
    }
    out.push([key, value]);
  }
  return out;
}

export interface SshdConfigInput {
  version: string;
  hostKeys: HostKeyInfo[];
  algorithms: Algorithms;
  settings: [string, string][];
}

const TEMPLATE = fileURLToPath(new URL('./templates/sshd-harden.conf.hbs', import.meta.url));

export function renderSshdConfig(input: SshdConfigInput): string {
  return renderTemplate(path.normalize(TEMPLATE), {
    version: input.version,
    hostKeys: input.hostKeys.map((k) => k.path),
    settings: input.settings.map(([key, value]) => ({ key, value })),
    kex: input.algorithms.kex.join(','),
    ciphers: input.algorithms.ciphers.join(','),
    macs: input.algorithms.macs.join(','),
    hostKeyAlgorithms: input.algorithms.hostKeyAlgorithms.join(','),
  });
}

/** Keywords whose effective value must be ours; sshd -T prints them in the form we write them. */
/** keywords whose entries sshd -T prints on lines of their own (servconf.c dump_cfg_strarray) */
const LIST_KEYWORDS = new Set(['allowgroups', 'allowusers', 'denygroups', 'denyusers']);

const MUST_MATCH = [
  'permitrootlogin',
  'passwordauthentication',
  'kbdinteractiveauthentication',
  'challengeresponseauthentication',
  'permitemptypasswords',
  'authenticationmethods',
  'pubkeyauthentication',
  'hostbasedauthentication',
  'x11forwarding',
  'allowagentforwarding',
  'allowtcpforwarding',
  'allowstreamlocalforwarding',
  'permittunnel',
  'gatewayports',
  'permituserenvironment',
  'loglevel',
  'maxauthtries',
  'ciphers',
  'macs',
  'kexalgorithms',
  'hostkeyalgorithms',
  'allowgroups',
  'maxstartups',
];

/**
 * Values sshd accepts under two spellings and prints in one: OpenSSH 9.2's `sshd -T` still prints
 * `without-password` for `prohibit-password` (servconf.c's multistate table lists the old spelling
 * first; seen with `sshd -T` of Debian 12's 9.2p1), `yes` for `all` forwarding, `DEBUG1` for `DEBUG`.
 */
const SYNONYMS: Record<string, Record<string, string>> = {
  permitrootlogin: { 'without-password': 'prohibit-password' },
  allowtcpforwarding: { all: 'yes' },
  allowstreamlocalforwarding: { all: 'yes' },
  loglevel: { debug: 'debug1' },
};

/** Whether an effective value means what we asked for (case, spacing and synonyms aside). */
export function sameSshdValue(keyword: string, effective: string, wanted: string): boolean {
  const canon = (v: string) => {
    const n = v.toLowerCase().split(/\s+/).join(' ');
    return SYNONYMS[keyword.toLowerCase()]?.[n] ?? n;
  };
  return canon(effective) === canon(wanted);
}

/** `sshd -T` output → keyword (lower case) → values (HostKey and friends repeat). */
export function parseEffective(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const list = map.get(m[1].toLowerCase()) ?? [];
    list.push(m[2].trim());
    map.set(m[1].toLowerCase(), list);
  }
  return map;
}

/**
 * Differences between what the drop-in asks for and what sshd would really use. Each entry names
 * the keyword, ours and the effective value. Keywords sshd -T does not print are not compared.
 */
export function effectiveMismatches(input: SshdConfigInput, effective: Map<string, string[]>): string[] {
  const wanted = new Map<string, string>(input.settings.map(([k, v]) => [k.toLowerCase(), v]));
  wanted.set('ciphers', input.algorithms.ciphers.join(','));
  wanted.set('macs', input.algorithms.macs.join(','));
  wanted.set('kexalgorithms', input.algorithms.kex.join(','));
  wanted.set('hostkeyalgorithms', input.algorithms.hostKeyAlgorithms.join(','));
  const problems: string[] = [];
  for (const key of MUST_MATCH) {
    const want = wanted.get(key);
    const have = effective.get(key);
    if (want === undefined || !have) continue;
    // sshd -T prints a list keyword one line per entry (AllowGroups a b -> two lines)
    const value = LIST_KEYWORDS.has(key) ? have.join(' ') : have[0];
    if (!sameSshdValue(key, value, want)) problems.push(`${key}: effective "${value}", wanted "${want}"`);
  }
  const keys = effective.get('hostkey') ?? [];
  const extra = keys.filter((k) => !input.hostKeys.some((h) => h.path === k));
  if (extra.length) problems.push(`hostkey: also offers ${extra.join(', ')} (HostKey lines add up across files)`);
  return problems;
}

/** Reads vars.harden.sshd: the algorithm overrides, host key policy and settings. */
export interface SshdVars {
  hostKeyTypes: HostKeyType[];
  rsaMinBits: number;
  moduliMinBits: number;
  kex: string[];
  ciphers: string[];
  macs: string[];
  settings: [string, string][];
}

const ALGORITHM = /^[a-z0-9@._+-]+$/;

export function readSshdVars(r: VarsReader, version: string): SshdVars {
  const types = r.stringList('sshd.host_key_types').map((t, i) => {
    if (!HOST_KEY_TYPES.includes(t as HostKeyType))
      r.fail(`sshd.host_key_types[${i}]`, `one of ${HOST_KEY_TYPES.join(', ')} (DSA is never offered)`, t);
    return t as HostKeyType;
  });
  if (types.length === 0) r.fail('sshd.host_key_types', 'at least one host key type', []);
  const algos = (key: string) => r.stringList(`sshd.${key}`, { pattern: ALGORITHM, expected: 'an algorithm name' });
  return {
    hostKeyTypes: types,
    rsaMinBits: r.int('sshd.rsa_min_bits', 2048, 16384),
    moduliMinBits: r.int('sshd.moduli_min_bits', 2048, 8192),
    kex: algos('kex_algorithms'),
    ciphers: algos('ciphers'),
    macs: algos('macs'),
    settings: [...readSettings(r, version), ...allowGroupsSetting(r)],
  };
}

/** vars.harden.sshd.allow_groups → AllowGroups (none when []); who must be in them: sshd-access.ts. */
export function allowGroupsSetting(r: VarsReader): [string, string][] {
  const groups = r.stringList('sshd.allow_groups', { pattern: /^[a-z_][a-z0-9_-]*\$?$/, expected: 'a group name' });
  return groups.length ? [['AllowGroups', groups.join(' ')]] : [];
}

/** Everything the drop-in needs for this host, from the probed host keys. */
export function buildSshdConfig(vars: SshdVars, version: string, found: HostKeyInfo[]): { input: SshdConfigInput; keys: HostKeyChoice } {
  const keys = chooseHostKeys(found, vars.hostKeyTypes, vars.rsaMinBits);
  const offeredTypes = [...new Set(keys.offered.map((k) => k.type.toLowerCase() as HostKeyType))];
  const chosen = algorithmsFor(version, offeredTypes);
  const algorithms: Algorithms = {
    kex: vars.kex.length ? vars.kex : chosen.kex,
    ciphers: vars.ciphers.length ? vars.ciphers : chosen.ciphers,
    macs: vars.macs.length ? vars.macs : chosen.macs,
    hostKeyAlgorithms: chosen.hostKeyAlgorithms,
  };
  return { input: { version, hostKeys: keys.offered, algorithms, settings: vars.settings }, keys };
}
