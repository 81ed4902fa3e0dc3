// Pending handlers kept on the host: before a change that notifies a handler is applied, the runner
// writes a record `<state dir>/pending/<role>--<handler>` (atomically: temp file, fsync, rename,
// fsync of the directory); the record goes only after the handler ran and its own proof passed.
// A run that dies in between (killed tool, cut connection, failing handler) leaves the record, and
// every later run reads it in the role's probe batch and runs the handler, or with --check reports
// it. One job: the scripts that read, record and clear, and the parsing of what they print.
//
// With --tags: a role that runs at all (any of its tasks selected) runs every pending handler of
// its own, also one that only an unselected task notified: the handler makes the host use files
// that are already installed, whichever task installed them. A role --tags leaves out entirely
// neither reads nor runs its records (--tags promises not to touch what it leaves out); they stay
// on the host, and the next run or --check that includes the role reports and runs them.
import { shQuote as q } from '../ssh/shell.ts';

/** where hosts keep clusterseed's state (rollback copies, firewall hashes, pending records) */
export const HOST_STATE_DIR = '/var/lib/clusterseed';

export interface PendingRecord {
  role: string;
  handler: string;
  /** when it was recorded (host clock, UTC), '' when the record cannot be read */
  since: string;
  /** the task whose change notified it */
  by: string;
  /** the record's file name in the pending dir */
  file: string;
}

const MARK = '@@cs-pending';

export function pendingDir(stateDir: string = HOST_STATE_DIR): string {
  return `${stateDir}/pending`;
}

/** A name part as a file-name-safe word: [A-Za-z0-9_-] kept, everything else %XX (UTF-8). */
function encodePart(s: string): string {
  return [...Buffer.from(s, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9_-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

function decodePart(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9A-F]{2}$/i.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(s.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** `harden--reload%20sshd`: the role and handler can be read back from the name alone. */
export function recordName(role: string, handler: string): string {
  if (!role || role.includes('--') || role.endsWith('-')) throw new Error(`role name ${JSON.stringify(role)} cannot name a pending record`);
  return `${encodePart(role)}--${encodePart(handler)}`;
}

/** role and handler from a record's file name; undefined for a name this module did not make */
export function parseRecordName(file: string): { role: string; handler: string } | undefined {
  const at = file.indexOf('--');
  if (at <= 0 || at + 2 >= file.length || !/^[A-Za-z0-9_%-]+$/.test(file)) return undefined;
  return { role: decodePart(file.slice(0, at)), handler: decodePart(file.slice(at + 2)) };
}

/**
 * Lists every record (one line each: mark, file name, base64 of the content). Costs the host no
 * process when there is no pending dir (the usual case); temp files (.tmp-*) are not listed.
 */
export function pendingProbe(stateDir: string = HOST_STATE_DIR): string {
  const dir = q(pendingDir(stateDir));
  return [
    `d=${dir}`,
    'if [ -d "$d" ]; then',
    `  for f in "$d"/*; do [ -f "$f" ] || continue; printf '%s %s ' '${MARK}' "\${f##*/}"; base64 -w0 < "$f"; echo; done`,
    'fi',
    ':',
  ].join('\n');
}

/** The records pendingProbe printed. A record whose content is unreadable still names its handler. */
export function parsePending(stdout: string): PendingRecord[] {
  const records: PendingRecord[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(`${MARK} `)) continue;
    const [file, data = ''] = line.slice(MARK.length + 1).split(' ');
    const named = parseRecordName(file);
    if (!named) continue;
    const fields = new Map<string, string>();
    for (const l of Buffer.from(data, 'base64').toString('utf8').split('\n')) {
      const eq = l.indexOf('=');
      if (eq > 0) fields.set(l.slice(0, eq), l.slice(eq + 1));
    }
    records.push({ ...named, since: fields.get('since') ?? '', by: fields.get('by') ?? '', file });
  }
  return records;
}

/** one line, so a name cannot add fields to the record, and literal in a printf format */
const formatWord = (s: string) =>
  s
    .replace(/[\r\n]+/g, ' ')
    .replace(/\\/g, '\\\\')
    .replace(/%/g, '%%');

/**
 * Writes one record per entry, each atomically and durably: a crash leaves either no record or a
 * whole one. Every step is checked; exit 70+ says which failed.
 */
export function recordScript(entries: { role: string; handler: string; by: string }[], stateDir: string = HOST_STATE_DIR): string {
  const lines = [
    'set -u',
    'umask 077',
    `d=${q(pendingDir(stateDir))}`,
    'mkdir -p "$d" || exit 70',
    'chmod 0700 "$d" || exit 70',
    'now=$(date -u +%Y-%m-%dT%H:%M:%SZ) || exit 70',
  ];
  for (const e of entries) {
    const format = `role=${formatWord(e.role)}\\nhandler=${formatWord(e.handler)}\\nsince=%s\\nby=${formatWord(e.by)}\\n`;
    lines.push(
      't=$(mktemp "$d/.tmp-XXXXXX") || exit 71',
      `if ! printf ${q(format)} "$now" > "$t"; then rm -f "$t"; exit 72; fi`,
      // the content is on disk before it gets its name
      'if ! sync "$t"; then rm -f "$t"; exit 73; fi',
      `if ! mv -f "$t" "$d"/${q(recordName(e.role, e.handler))}; then rm -f "$t"; exit 74; fi`,
    );
  }
  // and the renames are on disk before the change they announce is made
  lines.push('sync "$d" || exit 75');
  return lines.join('\n');
}

/** Removes a record once its handler ran and proved itself; a missing record is fine. */
export function clearScript(role: string, handler: string, stateDir: string = HOST_STATE_DIR): string {
  const dir = q(pendingDir(stateDir));
  return [`d=${dir}`, `rm -f "$d"/${q(recordName(role, handler))} || exit 76`, '[ ! -d "$d" ] || sync "$d" || exit 77'].join('\n');
}
