// The pieces of an atomic upload that do not touch the network: temp file names next to the
// target, path checks, and the root-side install script used when the login user needs sudo.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { shQuote } from './shell.ts';

export interface Ownership {
  mode?: number;
  owner?: string;
  group?: string;
}

/** A remote path the transport may write: absolute, not a directory, no NUL. */
export function checkRemotePath(p: string): void {
  if (!path.posix.isAbsolute(p)) throw new Error(`remote path must be absolute: ${JSON.stringify(p)}`);
  if (p.includes('\0')) throw new Error('remote path contains a NUL byte');
  if (p.endsWith('/') || ['.', '..'].includes(path.posix.basename(p))) {
    throw new Error(`remote path must name a file: ${JSON.stringify(p)}`);
  }
}

/** Name prefix of files in the staging directory (see stagedPathIn). */
export const STAGED_PREFIX = '.staged.cs-';

/** A fresh file name in the login user's staging directory. */
export function stagedPathIn(dir: string): string {
  return path.posix.join(dir, `${STAGED_PREFIX}${randomBytes(6).toString('hex')}`);
}

/** A hidden temp name in the target's own directory, so the final rename is atomic. */
export function tempPathFor(target: string): string {
  const dir = path.posix.dirname(target);
  // keep the name under NAME_MAX (255) whatever the target's length
  const base = path.posix.basename(target).slice(0, 200);
  return path.posix.join(dir, `.${base}.cs-${randomBytes(6).toString('hex')}`);
}

export function checkMode(mode: number | undefined): void {
  if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)) {
    throw new Error(`file mode must be an integer between 0 and 0o7777, got ${mode}`);
  }
}

function chownCommand(file: string, owner?: string, group?: string): string | undefined {
  // `chown user:` would also set the group to the user's login group, so spell out each case
  if (owner && group) return `chown -- ${shQuote(`${owner}:${group}`)} ${file}`;
  if (owner) return `chown -- ${shQuote(owner)} ${file}`;
  if (group) return `chgrp -- ${shQuote(group)} ${file}`;
  return undefined;
}

/** sh (under set -e) failing with a clear message unless FILE's sha256 is `want`. */
function verifySha256Lines(file: string, want: string, target: string): string {
  if (!/^[0-9a-f]{64}$/.test(want)) throw new Error(`not a sha256: ${want}`);
  return [
    `got=$(sha256sum < ${file})`,
    `if [ "\${got%% *}" != ${want} ]; then printf '%s: the written content does not match what was sent (sha256 %s, want %s; disk full?)\\n' ${shQuote(target)} "\${got%% *}" ${want} >&2; exit 3; fi`,
  ].join('\n');
}

/**
 * Root-side half of an upload through a staging file: copy into a temp file in the target's
 * directory, set mode and owner (explicit ones, else those of the file being replaced, else 0644
 * and root), check the copy's sha256 (when given), fsync, rename over the target, fsync the
 * directory. The staging file is removed in
 * every case; the temp file is removed unless the rename happened.
 */
export function installFromStagingScript(staged: string, target: string, own: Ownership, sha256?: string): string {
  const dir = path.posix.dirname(target);
  const base = path.posix.basename(target).slice(0, 200);
  const mode = own.mode !== undefined ? `chmod ${own.mode.toString(8).padStart(4, '0')} "$t"` : undefined;
  return [
    `src=${shQuote(staged)}; dst=${shQuote(target)}; d=${shQuote(dir)}; t=`,
    `trap 'rm -f -- "$src" \${t:+"$t"}' EXIT`,
    `set -e`,
    `[ -d "$d" ] || { printf 'directory %s does not exist\\n' "$d" >&2; exit 2; }`,
    `t=$(mktemp ${shQuote(`${dir}/.${base}.cs-XXXXXXXX`)})`,
    `cat -- "$src" > "$t"`,
    // what landed must be what was sent (a full disk or a short copy fails here, not later)
    ...(sha256 ? [verifySha256Lines('"$t"', sha256, target)] : []),
    mode ?? `if [ -e "$dst" ]; then chmod --reference="$dst" "$t"; else chmod 0644 "$t"; fi`,
    chownCommand('"$t"', own.owner, own.group) ?? `if [ -e "$dst" ]; then chown --reference="$dst" "$t"; fi`,
    `sync -- "$t" 2>/dev/null || sync`,
    `mv -fT -- "$t" "$dst"`,
    `t=`,
    `sync -- "$d" 2>/dev/null || :`,
    // staged files of uploads whose connection died (an hour is far longer than any upload)
    `find "$(dirname -- "$src")" -maxdepth 1 -type f -name '${STAGED_PREFIX}*' -mmin +60 -delete 2>/dev/null || :`,
  ].join('\n');
}

/** Finish a temp file written over SFTP when an owner/group name must be set (SFTP only knows ids). */
export function chownAndRenameScript(temp: string, target: string, owner?: string, group?: string): string {
  const chown = chownCommand('"$t"', owner, group) ?? ':';
  return [`t=${shQuote(temp)}`, `trap 'rm -f -- \${t:+"$t"}' EXIT`, `set -e`, chown, `mv -fT -- "$t" ${shQuote(target)}`, `t=`].join('\n');
}
