// Which credential for which publish target: what Argo CD's repository Secret holds (a
// RepoCredential, or none) and what the push itself sends. Decided from the target's URL and the
// inventory's gitops.repo settings:
//   GitHub                      → the read-only deploy key the GitHub backend registers
//   ssh://… or user@host:path   → the deploy key the user names (ssh_key), else one generated once
//                                 under .clusterseed/repo-keys/ whose public half the user adds
//   https:// with token_env     → username + token, for Argo CD and for the push (in a header)
//   public, or https/git/file without a token, or the local default → none
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_REPO_USERNAME } from '../inventory/defaults.ts';
import type { RepoAuthSpec } from '../inventory/model.ts';
import { gitUrlTransport } from '../inventory/git-url.ts';
import type { Logger } from '../runner/types.ts';
import { loadOrCreateKeyPair } from './deploy-key.ts';
import { privateKeyFileProblem } from './key-file.ts';
import type { RepoCredential } from './repo-credential.ts';
import { redactUrl } from '../report/mask.ts';
import { STATE_DIR } from './state.ts';
import { UserError } from '../report/user-error.ts';

// how git reaches a URL is inventory knowledge (the inventory checks credential settings against it)
export { gitUrlTransport, type GitTransport } from '../inventory/git-url.ts';

/** A credential setting that does not fit the URL it is used with (e.g. token_env with --remote ssh://...). */
export class RepoCredentialError extends UserError {}

/** Where the credential comes from, decided from the settings alone (nothing is read yet). */
export type CredentialSource =
  | { kind: 'github-deploy-key' }
  /** generated: clusterseed makes the key (once) and the user adds its public half to the remote */
  | { kind: 'ssh-key'; keyFile: string; generated: boolean }
  | { kind: 'https-token'; username: string; tokenEnv: string }
  | { kind: 'none'; why: string };

export interface CredentialTarget {
  github?: boolean;
  /** the URL pushed to (and read by Argo CD); absent: the local default repository */
  url?: string;
  auth?: RepoAuthSpec;
}

export const GENERATED_KEY_TITLE = 'clusterseed-argocd';

/** The key clusterseed generates for an ssh remote: one per remote, under .clusterseed/repo-keys/. */
export function generatedKeyPath(workDir: string, url: string): string {
  const shown = redactUrl(url).replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const safe = shown
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 80);
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 8);
  return path.join(path.resolve(workDir), STATE_DIR, 'repo-keys', `${safe}-${hash}_ed25519`);
}

export function credentialSource(target: CredentialTarget, workDir: string): CredentialSource {
  if (target.github) return { kind: 'github-deploy-key' };
  if (!target.url) return { kind: 'none', why: 'local repository' };
  const auth = target.auth ?? {};
  const url = redactUrl(target.url);
  const transport = gitUrlTransport(target.url);
  if (transport !== 'http' && auth.tokenEnv) {
    throw new RepoCredentialError(`gitops.repo.token_env: a token needs an https URL, and ${url} is not one (an ssh URL uses ssh_key)`);
  }
  if (transport !== 'ssh' && auth.sshKey) {
    throw new RepoCredentialError(`gitops.repo.ssh_key: a deploy key needs an ssh URL, and ${url} is not one (https uses token_env)`);
  }
  if (auth.public) return { kind: 'none', why: 'public repository' };
  if (transport === 'ssh') {
    return auth.sshKey
      ? { kind: 'ssh-key', keyFile: auth.sshKey, generated: false }
      : { kind: 'ssh-key', keyFile: generatedKeyPath(workDir, target.url), generated: true };
  }
  if (transport === 'http' && auth.tokenEnv)
    return { kind: 'https-token', username: auth.username ?? DEFAULT_REPO_USERNAME, tokenEnv: auth.tokenEnv };
  return {
    kind: 'none',
    why: transport === 'http' ? 'https without a token: read as a public repository' : 'no credential over this transport',
  };
}

/** What the push sends over https (the token in a header, never in argv or the URL); none otherwise. */
export function pushAuth(
  source: CredentialSource,
  env: Record<string, string | undefined> = process.env,
): { username: string; password: string } | undefined {
  if (source.kind !== 'https-token') return undefined;
  return { username: source.username, password: tokenOf(source, env) };
}

function tokenOf(source: Extract<CredentialSource, { kind: 'https-token' }>, env: Record<string, string | undefined>): string {
  const token = env[source.tokenEnv];
  if (!token)
    throw new RepoCredentialError(
      `gitops.repo.token_env: environment variable ${source.tokenEnv} is not set; it must hold the token for the GitOps repository`,
    );
  return token;
}

export interface LoadCredentialOptions {
  /** the URL Argo CD reads, for messages */
  url: string;
  /** false (check mode): read what exists, generate nothing */
  create: boolean;
  log: Logger;
  env?: Record<string, string | undefined>;
  /** GitHub: where the publish put the deploy key's private half */
  deployKeyPath?: string;
}

/** The credential Argo CD's repository Secret gets; undefined for a public or local repository. */
export async function loadRepoCredential(source: CredentialSource, opts: LoadCredentialOptions): Promise<RepoCredential | undefined> {
  switch (source.kind) {
    case 'none':
      return undefined;
    case 'https-token':
      return { type: 'https', ...pushAuth(source, opts.env ?? process.env)! };
    case 'github-deploy-key':
      return opts.deployKeyPath ? { type: 'ssh', sshPrivateKey: await readFile(opts.deployKeyPath, 'utf8') } : undefined;
    case 'ssh-key':
      return { type: 'ssh', sshPrivateKey: source.generated ? await generatedKey(source.keyFile, opts) : await namedKey(source.keyFile) };
  }
}

async function namedKey(file: string): Promise<string> {
  const problem = privateKeyFileProblem(file);
  if (problem) throw new RepoCredentialError(`gitops.repo.ssh_key: ${problem}`);
  return readFile(file, 'utf8');
}

async function generatedKey(file: string, opts: LoadCredentialOptions): Promise<string> {
  if (!opts.create) {
    // check mode: the key a real run would generate does not exist yet; report its Secret as pending
    try {
      return await readFile(file, 'utf8');
    } catch {
      return `(generated on the next run: ${file})`;
    }
  }
  const pair = await loadOrCreateKeyPair(file, GENERATED_KEY_TITLE, opts.log);
  const ask =
    `add this public key as a READ-ONLY deploy key to ${redactUrl(opts.url)} ` +
    `(Argo CD clones the GitOps repository with it; the private half stays in ${file}):\n  ${pair.publicKey}`;
  if (pair.generated) opts.log.warn(ask);
  else opts.log.verbose(ask);
  return pair.privateKey;
}
