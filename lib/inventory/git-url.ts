// How git reaches a URL. Inventory knowledge: the inventory checks that gitops.repo's credential
// settings fit its URL (semantic.ts); lib/publish chooses the credential by it (credentials.ts).
export type GitTransport = 'ssh' | 'http' | 'other';

/** How git reaches a URL: scp-like user@host:path is ssh; git://, file:// and paths carry no credential. */
export function gitUrlTransport(url: string): GitTransport {
  if (/^(ssh|git\+ssh|ssh\+git):\/\//i.test(url)) return 'ssh';
  if (/^https?:\/\//i.test(url)) return 'http';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return 'other';
  if (/^[^@\s/]+@[^:\s/]+:/.test(url)) return 'ssh';
  return 'other';
}
