// Publish handles a token (GitHub) and possibly credentials inside a remote URL. Every message that
// leaves this module (log line or error) passes through these helpers first.
export const MASK = '********';

/** Replaces every occurrence of each secret in text. */
export function maskSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join(MASK);
  return out;
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
