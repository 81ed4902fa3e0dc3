// The cluster join token. It lives on the control machine only, in the cluster's token_file (mode
// 0600, generated from a CSPRNG on first use), is registered as a secret the moment it is read, and
// reaches hosts only inside 0600 files uploaded over SFTP (never argv, logs or reports).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { ClusterSpec } from '../inventory/model.ts';
import { registerSecret } from '../report/mask.ts';
import type { HostContext } from '../runner/types.ts';
import { clusterOf } from './settings.ts';
import { ensurePrivateDir } from './private-dir.ts';
import { createPrivate, privateExists, readPrivate, StateFileError } from '../state/private-files.ts';
import { UserError } from '../report/user-error.ts';

export class TokenError extends UserError {}

/** Characters a token may hold: it is written into a systemd EnvironmentFile in single quotes. */
const TOKEN_CHARS = /^[A-Za-z0-9._:+/=@-]+$/;

export function generateToken(): string {
  return randomBytes(32).toString('hex');
}

/**
 * The password part K3s compares when nodes join: a "K10<ca-hash>::<user>:<password>" token (as
 * printed by K3s) and the bare password are the same secret.
 */
export function tokenPassword(token: string): string {
  const m = /^K10[0-9a-f]+::[^:]+:(.+)$/.exec(token);
  return m ? m[1] : token;
}

export interface TokenResult {
  token: string;
  created: boolean;
  /** the file had group/other permissions and was tightened */
  tightened: boolean;
}

/** Reads the cluster's token file, or creates it (0600, in a 0700 directory) with a fresh token. */
export function loadOrCreateToken(file: string): TokenResult {
  let tightened = false;
  let text: string | undefined;
  try {
    text = readPrivate(file, { warn: () => (tightened = true) });
  } catch (err) {
    if (err instanceof StateFileError) throw new TokenError(`token file ${err.message}`);
    throw err;
  }
  if (text !== undefined) {
    const token = text.trim();
    registerSecret(token);
    registerSecret(tokenPassword(token));
    if (!token) throw new TokenError(`token file ${file} is empty; delete it to have a new token generated`);
    if (!TOKEN_CHARS.test(token)) {
      throw new TokenError(
        `token file ${file} holds characters a K3s token may not contain here (allowed: letters, digits and . _ : + / = @ -)`,
      );
    }
    return { token, created: false, tightened };
  }
  ensurePrivateDir(path.dirname(file));
  const token = generateToken();
  registerSecret(token);
  // written complete, then linked (never overwriting): two runs creating the same cluster's token
  // at once end with one token, the loser reads the winner's (never an empty or torn file)
  if (!createPrivate(file, `${token}\n`)) return loadOrCreateToken(file);
  return { token, created: true, tightened: false };
}

/** The token of the host's cluster, read once per run (shared by every host of the cluster). */
export function clusterToken(ctx: HostContext): string {
  const cluster: ClusterSpec = clusterOf(ctx.inventory, ctx.host);
  const key = `k3s.token:${cluster.name}`;
  const known = ctx.shared.get(key);
  if (typeof known === 'string') return known;
  const file = cluster.tokenFile;
  if (!file) throw new TokenError(`cluster "${cluster.name}" has no token_file`);
  if (ctx.options.check && !privateExists(file)) {
    // --check changes nothing, not even on the control machine: a token for this run only
    const token = generateToken();
    registerSecret(token);
    ctx.log.info(`would generate the join token of cluster "${cluster.name}" into ${file}`);
    ctx.shared.set(key, token);
    return token;
  }
  const result = loadOrCreateToken(file);
  if (result.created) ctx.log.info(`generated the join token of cluster "${cluster.name}" into ${file} (mode 0600; keep it out of git)`);
  if (result.tightened) ctx.log.warn(`token file ${file} was readable by group or others; its mode is now 0600`);
  ctx.shared.set(key, result.token);
  return result.token;
}
