// The one masker. Every secret the run learns (tokens, passwords, keys) is registered here;
// everything printed or written to the JSON report goes through mask(), so a secret cannot leak
// by accident. The same MASK hides the secrets a caller holds itself (maskSecrets: publish's token),
// the credentials of a URL (redactUrl) and, shortened, a finding of the secret scanner (maskPreview).
const secrets = new Set<string>();

export const MASK = '********';

export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 4) secrets.add(value);
}

/** Replaces every occurrence of each secret (of 4 characters or more) in text. */
export function maskSecrets(text: string, values: Iterable<string | undefined>): string {
  let out = text;
  for (const s of values) if (s && s.length >= 4 && out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

/** `text` with every registered secret masked. */
export function mask(text: string): string {
  return maskSecrets(text, secrets);
}

/** for tests */
export function clearSecrets(): void {
  secrets.clear();
}

/**
 * A secret shown by its first few characters (at most 4, a quarter of it) and half a MASK, so a
 * finding can be told apart without being readable: "ghp_****".
 */
export function maskPreview(secret: string): string {
  const keep = Math.min(4, Math.floor(secret.length / 4));
  return secret.slice(0, keep) + MASK.slice(0, 4);
}

/**
 * A URL with its credentials masked, safe to print and to store. Over http(s) the whole user part is
 * masked (a token is often passed as the user name); over ssh only a password is.
 */
export function redactUrl(url: string): string {
  // scp-like "git@host:path" carries no password; only scheme URLs can.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url;
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    if (/^https?:$/.test(u.protocol)) {
      u.username = MASK;
      u.password = '';
    } else if (u.password) {
      u.password = MASK;
    }
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, `//${MASK}@`);
  }
}

/** The credentials embedded in a URL (its user part), to mask in git's own output. */
export function urlSecrets(url: string): string[] {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/]*)@/i.exec(url);
  if (!m) return [];
  const [user = '', pass = ''] = m[1].split(':');
  const parts = [m[1], user, pass, safeDecode(user), safeDecode(pass)];
  return [...new Set(parts)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
