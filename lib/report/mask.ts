// Every secret the run learns (tokens, passwords, keys) is registered here; everything printed or
// written to the JSON report goes through mask(), so a secret cannot leak by accident.
const secrets = new Set<string>();

export const MASK = '********';

export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 4) secrets.add(value);
}

export function mask(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

/** for tests */
export function clearSecrets(): void {
  secrets.clear();
}
