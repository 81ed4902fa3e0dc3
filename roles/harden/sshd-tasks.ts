// sshd on the host: the moduli file cut to strong groups, and the hardened drop-in, which goes
// through three gates before sshd ever reads it:
//   1. `sshd -t` on a candidate copy of the whole configuration (main file + every drop-in, with
//      ours in place) in a private directory: a bad option never reaches /etc/ssh;
//   2. `sshd -T` of that candidate: what sshd would really use must match what we ask for
//      (first match wins, so an earlier file could silently override us);
//   3. after install, the `reload sshd` handler reloads and logs in over a FRESH connection as the
//      admin user; if that fails the previous files are put back and sshd is reloaded again.
import path from 'node:path';
import { NothingApplied, type Change, type Handler, type HostContext, type Task } from '../../lib/runner/types.ts';
import { fileFact, sha256, textOf } from '../../lib/blocks/file.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import {
  buildSshdConfig,
  ED25519_KEY,
  effectiveMismatches,
  HOST_KEYS_PROBE,
  parseHostKeys,
  renderSshdConfig,
  SSHD_DROPIN,
  type SshdVars,
} from './sshd.ts';
import { sshdLoginChecks, type FreshLogin } from './verify.ts';
import { proveLive, validateCandidate, VALIDATOR_REFUSED } from '../../lib/blocks/guarded-install.ts';
import { attempt, readText } from '../../lib/blocks/remote.ts';
import { contextMismatches, contextUsers, effectiveContextsScript } from './sshd-contexts.ts';
import { VarsReader } from '../../lib/settings/index.ts';

/** sshd's main configuration file (the Include of sshd_config.d is added to it when missing) */
export const SSHD_MAIN = '/etc/ssh/sshd_config';
const MAIN = SSHD_MAIN;
/** phase 1's candidate directories are mktemp -d of this + .XXXXXXXX */
const CANDIDATE_PREFIX = '/run/clusterseed-sshd-candidate';
export const SSHD_ROLLBACK = '/var/lib/clusterseed/sshd-rollback';
const INCLUDE_RE = String.raw`^[[:space:]]*Include[[:space:]]+(/etc/ssh/)?sshd_config\.d/\*\.conf`;
/** INCLUDE_RE for the probed content (grep -Ei: per line, any case) */
const INCLUDE = /^[ \t\f\v\r]*Include[ \t\f\v\r]+(\/etc\/ssh\/)?sshd_config\.d\/\*\.conf/im;
const SSHD = 'SSHD=$(command -v sshd || echo /usr/sbin/sshd)';

/** the drop-in's mode: CIS (sshd_config and its includes) wants 0600 root:root */
export const DROPIN_MODE = '0600';

// ---- moduli ----------------------------------------------------------------------------------

export const MODULI = '/etc/ssh/moduli';
/** awk: "WEAK STRONG", the groups below and from `min` (field 5 is the size minus one) */
const COUNT_MODULI = '$1 !~ /^#/ && NF >= 7 { if ($5 < min) w++; else s++ } END { print w+0, s+0 }';

/**
 * The filtered moduli written to a temp file beside the original (mktemp, removed on every exit
 * path), checked to hold exactly the `strong` groups and no weak one, then renamed in.
 */
export function moduliFilterScript(minBits: number, strong: number): string {
  const min = minBits - 1;
  return [
    'set -u',
    `f=${MODULI}; t=`,
    `trap 'rm -f -- \${t:+"$t"}' EXIT`,
    `t=$(mktemp /etc/ssh/.moduli.cs-XXXXXXXX) || { echo "cannot create a temp file in /etc/ssh (disk full?)" >&2; exit 67; }`,
    `awk -v min=${min} '$1 ~ /^#/ || NF < 7 || $5 >= min' "$f" > "$t" || { echo "writing the filtered $f failed (disk full?); nothing changed" >&2; exit 67; }`,
    `got=$(awk -v min=${min} '${COUNT_MODULI}' "$t") || exit 67`,
    `[ "$got" = "0 ${strong}" ] || { echo "the filtered $f holds $got weak/strong groups, not 0 ${strong}; nothing changed" >&2; exit 67; }`,
    'chmod 0644 "$t" || exit 67',
    'mv -f -- "$t" "$f" || { echo "renaming the filtered $f into place failed" >&2; exit 67; }',
    't=',
  ].join('\n');
}

/** /etc/ssh/moduli without groups shorter than minBits (field 5 is the size minus one). */
export function moduliTask(minBits: number): Task {
  const min = minBits - 1;
  return {
    name: `DH moduli of ${minBits}+ bits only`,
    notify: ['reload sshd'],
    probe: `if [ -f ${MODULI} ]; then awk -v min=${min} '${COUNT_MODULI}' ${MODULI}; else echo missing; fi`,
    plan(state, ctx): Change | { skip: string } | null {
      const out = state.stdout.trim();
      if (out === 'missing') return { skip: 'no /etc/ssh/moduli: sshd uses its built-in groups' };
      const [weak, strong] = out.split(' ').map(Number);
      if (weak === 0) return null;
      if (strong === 0) {
        ctx.log.warn(`/etc/ssh/moduli has no group of ${minBits}+ bits; left as is (generate some with ssh-keygen -M generate)`);
        return { skip: `no moduli of ${minBits}+ bits to keep` };
      }
      return {
        summary: `remove ${weak} moduli shorter than ${minBits} bits from /etc/ssh/moduli (${strong} kept)`,
        apply: (c) => run(c, moduliFilterScript(minBits, strong), `filter ${MODULI}`).then(() => undefined),
      };
    },
  };
}

// ---- the drop-in -----------------------------------------------------------------------------

export interface SshdTaskSpec {
  vars: SshdVars;
  /** who must still be able to log in */
  verifyUser: string;
  /** the users sshd -T evaluates Match blocks for (sshd-contexts.ts); default: verifyUser, root, nobody */
  contextUsers?: string[];
}

/** Where phase 1 builds a candidate: one directory per run (mktemp), so runs never share it. */
const CANDIDATE_TEMPLATE = `${CANDIDATE_PREFIX}.XXXXXXXX`;
/** first line of phase 1's output: the candidate directory phase 2 installs from */
const CANDIDATE_LINE = '@@candidate ';

/** Phase 1: build the candidate configuration, generate a missing Ed25519 key, sshd -t, sshd -T. */
export function candidateScript(generateEd25519: boolean, users: string[]): string {
  const sedInclude = String.raw`s#^([[:space:]]*[Ii][Nn][Cc][Ll][Uu][Dd][Ee][[:space:]]+)(/etc/ssh/)?sshd_config\.d/#\1'"$c"'/sshd_config.d/#`;
  return [
    'set -u',
    SSHD,
    // candidates of runs that died between the phases (an hour is far longer than any run's gap)
    `find ${path.posix.dirname(CANDIDATE_PREFIX)} -maxdepth 1 -type d -name '${path.posix.basename(CANDIDATE_PREFIX)}.*' -mmin +60 -exec rm -rf {} + 2>/dev/null`,
    `c=$(mktemp -d ${CANDIDATE_TEMPLATE}) || exit 70`,
    `trap 'rm -rf -- "$c"' EXIT`,
    'mkdir -m 0700 "$c/sshd_config.d" || exit 70',
    generateEd25519 ? `[ -f ${ED25519_KEY} ] || ssh-keygen -q -t ed25519 -N '' -f ${ED25519_KEY} || exit 71` : ':',
    'for f in /etc/ssh/sshd_config.d/*.conf; do',
    '  if [ -f "$f" ]; then cp -p -- "$f" "$c/sshd_config.d/" || exit 70; fi',
    'done',
    `cat > "$c/sshd_config.d/${path.posix.basename(SSHD_DROPIN)}" || exit 70`,
    `{ grep -Eiq '${INCLUDE_RE}' ${MAIN} || echo 'Include /etc/ssh/sshd_config.d/*.conf'; cat ${MAIN}; } > "$c/main" || exit 70`,
    `sed -E '${sedInclude}' "$c/main" > "$c/sshd_config" || exit 70`,
    // errors name the files as they will be called once installed
    `if ! out=$("$SSHD" -t -f "$c/sshd_config" 2>&1); then printf '%s\\n' "$out" | sed "s#$c/sshd_config.d/#/etc/ssh/sshd_config.d/#g; s#$c/sshd_config#${MAIN}#g" >&2; exit ${VALIDATOR_REFUSED}; fi`,
    `echo "${CANDIDATE_LINE}$c"`,
    effectiveContextsScript(users, '-f "$c/sshd_config"'),
    // kept for phase 2, which removes it
    'trap - EXIT',
  ].join('\n');
}

/** The candidate directory phase 1 printed (its first line). */
export function candidateDir(stdout: string): string {
  const line = stdout.split('\n').find((l) => l.startsWith(CANDIDATE_LINE));
  const dir = line?.slice(CANDIDATE_LINE.length).trim() ?? '';
  if (!dir.startsWith(`${CANDIDATE_PREFIX}.`) || !/^[\w./-]+$/.test(dir))
    throw new Error(`sshd candidate: phase 1 named no candidate directory (${JSON.stringify(stdout.slice(0, 200))})`);
  return dir;
}

/**
 * Phase 2: keep the current files for a rollback, write the new ones to temp files beside them
 * (mktemp: unique per run, removed on every exit path), verify each one's content, rename them in,
 * then sshd -t the live set. A failed write (a full disk) fails the script with nothing installed.
 */
export function installScript(candidate: string, dropinSha256: string): string {
  return [
    'set -u',
    SSHD,
    `c=${q(candidate)}; rb=${SSHD_ROLLBACK}; d=${SSHD_DROPIN}; m=${MAIN}; want=${dropinSha256}`,
    // the rollback copy stays only once something was installed (the handler drops it after its proof)
    'nd=; nm=; own=; installed=',
    `trap 'rm -f -- \${nd:+"$nd"} \${nm:+"$nm"}; rm -rf -- "$c"; [ -z "$own" ] || [ -n "$installed" ] || rm -rf -- "$rb"' EXIT`,
    `fail() { code=$1; shift; printf '%s\\n' "$*" >&2; exit "$code"; }`,
    'restore() {',
    '  ok=1',
    '  if ! cp -p -- "$rb/sshd_config" "$m"; then echo "restoring $m FAILED" >&2; ok=; fi',
    '  if [ -f "$rb/dropin" ]; then',
    '    if ! cp -p -- "$rb/dropin" "$d"; then echo "restoring $d FAILED" >&2; ok=; fi',
    '  else rm -f -- "$d"; fi',
    '  if [ -n "$ok" ]; then installed=; fi',
    '}',
    '[ -f "$c/main" ] || fail 69 "the candidate $c is gone (another run?); nothing was installed"',
    // a copy left by an earlier install that was never proven holds the last PROVEN configuration:
    // keep it (the live files are the unproven ones), else take a fresh copy of the live files
    'if [ ! -f "$rb/sshd_config" ]; then',
    '  rm -rf -- "$rb" || fail 68 "cannot remove the old rollback copy $rb"',
    '  own=1',
    '  mkdir -p "$rb" || fail 68 "cannot create the rollback copy $rb"',
    '  chmod 0700 "$rb" || fail 68 "cannot chmod $rb"',
    '  cp -p -- "$m" "$rb/sshd_config" || fail 68 "cannot keep a rollback copy of $m in $rb"',
    '  if [ -f "$d" ]; then cp -p -- "$d" "$rb/dropin" || fail 68 "cannot keep a rollback copy of $d in $rb"; fi',
    'fi',
    'mkdir -p /etc/ssh/sshd_config.d || fail 67 "cannot create /etc/ssh/sshd_config.d"',
    // the new drop-in: a hidden temp name (sshd includes only *.conf) in its own directory
    `nd=$(mktemp "/etc/ssh/sshd_config.d/.$(basename "$d").cs-XXXXXXXX") || fail 67 "cannot create a temp file in /etc/ssh/sshd_config.d (disk full?)"`,
    `cat -- "$c/sshd_config.d/$(basename "$d")" > "$nd" || fail 67 "writing the new $d failed (disk full?); nothing was installed"`,
    'got=$(sha256sum < "$nd") || fail 67 "cannot hash the new $d"',
    '[ "${got%% *}" = "$want" ] || fail 67 "the new $d does not hold the intended content after writing it (sha256 ${got%% *}, want $want); nothing was installed"',
    `chown root:root "$nd" || fail 67 "chown of the new $d failed"`,
    `chmod ${DROPIN_MODE} "$nd" || fail 67 "chmod of the new $d failed"`,
    // the main file only when the Include must be added
    'if ! cmp -s "$c/main" "$m"; then',
    '  nm=$(mktemp /etc/ssh/.sshd_config.cs-XXXXXXXX) || fail 67 "cannot create a temp file in /etc/ssh (disk full?); nothing was installed"',
    '  cat -- "$c/main" > "$nm" || fail 67 "writing the new $m failed (disk full?); nothing was installed"',
    '  cmp -s "$c/main" "$nm" || fail 67 "the new $m does not hold the intended content after writing it; nothing was installed"',
    '  chown --reference="$m" "$nm" || fail 67 "chown of the new $m failed"',
    '  chmod --reference="$m" "$nm" || fail 67 "chmod of the new $m failed"',
    'fi',
    'installed=1',
    'mv -f -- "$nd" "$d" || { installed=; fail 67 "renaming the new $d into place failed; nothing was installed"; }',
    'nd=',
    'if [ -n "$nm" ]; then',
    '  if ! mv -f -- "$nm" "$m"; then restore; fail 67 "renaming the new $m into place failed; previous files restored"; fi',
    '  nm=',
    'fi',
    'if ! out=$("$SSHD" -t 2>&1); then',
    '  restore',
    `  fail 66 "the installed configuration failed sshd -t, previous files restored: $out"`,
    'fi',
  ].join('\n');
}

/** Puts the files saved by the install back; exit 3 when there is nothing saved. */
export const RESTORE_SCRIPT = [
  `rb=${SSHD_ROLLBACK}; d=${SSHD_DROPIN}; m=${MAIN}`,
  '[ -f "$rb/sshd_config" ] || exit 3',
  'cp -p -- "$rb/sshd_config" "$m" || exit 1',
  'if [ -f "$rb/dropin" ]; then',
  '  cp -p -- "$rb/dropin" "$d" || exit 1',
  'else',
  '  rm -f -- "$d" || exit 1',
  'fi',
].join('\n');

// Debian and Ubuntu call the unit ssh.service (sshd.service is an alias there); others sshd.service
export const RELOAD_SSHD = 'systemctl reload-or-restart ssh.service 2>/dev/null || systemctl reload-or-restart sshd.service';

/**
 * The rollback: restore, reload, and only once sshd runs the restored files again drop the copy
 * (a rolled-back host keeps no rollback files; one whose reload failed keeps them for the next run).
 */
export const RESTORE_AND_RELOAD_SCRIPT = [RESTORE_SCRIPT, `${RELOAD_SSHD} || exit 4`, 'rm -rf -- "$rb" || exit 1'].join('\n');

export function sshdConfigTask(spec: SshdTaskSpec): Task {
  const users = spec.contextUsers ?? contextUsers(spec.verifyUser, spec.verifyUser);
  return {
    name: 'sshd hardened configuration',
    notify: ['reload sshd'],
    // the rollback copy too: it outlives an install until the reload handler proved it
    files: [
      { path: SSHD_DROPIN, hash: true },
      { path: MAIN, content: true },
      { path: SSHD_ROLLBACK },
      { path: `${SSHD_ROLLBACK}/dropin`, hash: true },
      { path: `${SSHD_ROLLBACK}/sshd_config`, hash: true },
    ],
    probe: [HOST_KEYS_PROBE, 'echo @@effective', SSHD, effectiveContextsScript(users)].join('\n'),
    async plan(state, ctx): Promise<Change | { skip: string } | null> {
      const version = ctx.facts.sshdVersion;
      if (!version) return { skip: 'openssh-server is not installed' };
      const [head, effectiveText = ''] = state.stdout.split('@@effective\n');
      const lines = head.split('\n');
      const dropin = fileFact(state, SSHD_DROPIN);
      const dropinHash = dropin.sha256;
      const include = INCLUDE.test(textOf(fileFact(state, MAIN)));
      const { input, keys } = buildSshdConfig(spec.vars, version, parseHostKeys(lines));
      const content = renderSshdConfig(input);

      if (dropinHash === sha256(content) && include) {
        // in place: still prove nothing read earlier overrides it (someone may have added a file)
        const problems = contextMismatches(effectiveText, (eff) => effectiveMismatches(input, eff));
        if (problems.length) throw new Error(overrideMessage(problems));
        const modeOk = dropin.mode === DROPIN_MODE && dropin.owner === 'root';
        // the files are right, but an install whose reload never proved itself left its rollback
        // copy: the live sshd may still run the old configuration. Changed → `reload sshd` runs.
        // (a copy equal to the live files is what a rollback put back, and that was proven before)
        const savedDropin = fileFact(state, `${SSHD_ROLLBACK}/dropin`);
        const savedMain = fileFact(state, `${SSHD_ROLLBACK}/sshd_config`);
        const unproven =
          fileFact(state, SSHD_ROLLBACK).exists && (savedDropin.sha256 !== dropinHash || savedMain.sha256 !== fileFact(state, MAIN).sha256);
        if (modeOk && !unproven) return null;
        const parts = [
          ...(modeOk ? [] : [`${SSHD_DROPIN}: mode ${dropin.mode} ${dropin.owner} -> ${DROPIN_MODE} root`]),
          ...(unproven
            ? [`an earlier install was never proven live (${SSHD_ROLLBACK} is still there): reload sshd and prove a fresh login`]
            : []),
        ];
        return {
          summary: parts.join('; '),
          apply: async (c) => {
            if (!modeOk) await run(c, `chown root:root ${SSHD_DROPIN} && chmod ${DROPIN_MODE} ${SSHD_DROPIN}`, `chmod ${SSHD_DROPIN}`);
          },
        };
      }

      const parts = [`${!dropin.exists ? 'create' : 'update'} ${SSHD_DROPIN} for OpenSSH ${version}`];
      if (!include) parts.push(`add the Include of sshd_config.d at the top of ${MAIN}`);
      if (keys.generateEd25519) parts.push('generate an Ed25519 host key');
      if (keys.dropped.length) parts.push(`stop offering ${keys.dropped.join(', ')}`);
      const before = ctx.options.diff && dropin.exists ? await readText(ctx, SSHD_DROPIN) : '';
      return {
        summary: parts.join('; '),
        diff: [{ path: SSHD_DROPIN, before, after: content }],
        commands: [
          `sshd -t -f ${CANDIDATE_PREFIX}.<random>/sshd_config (the whole configuration with the new drop-in)`,
          `sshd -T -f ${CANDIDATE_PREFIX}.<random>/sshd_config -C user=<u>,addr=<a> for ${users.join(', ')}`,
          `keep ${MAIN} and ${SSHD_DROPIN} in ${SSHD_ROLLBACK}; install the new files; sshd -t`,
          `then the reload sshd handler: ${RELOAD_SSHD}; a fresh SSH login, else the kept files go back and sshd is reloaded`,
        ],
        async apply(c) {
          // steps 1-2 of lib/blocks/guarded-install.ts; the `reload sshd` handler makes it live and proves it
          const cand = await validateCandidate(
            c,
            candidateScript(keys.generateEd25519, users),
            (res) =>
              `sshd rejected the candidate configuration; nothing was installed (exit ${res.code}): ${(res.stderr || res.stdout).trim()}`,
            content,
          );
          const dir = candidateDir(cand.stdout);
          const problems = contextMismatches(cand.stdout, (eff) => effectiveMismatches(input, eff));
          if (problems.length) {
            await attempt(c, `rm -rf -- ${q(dir)}`);
            throw new NothingApplied(`${overrideMessage(problems)}; nothing was installed`);
          }
          await run(c, installScript(dir, sha256(content)), `install ${SSHD_DROPIN}`);
        },
      };
    },
  };
}

function overrideMessage(problems: string[]): string {
  return (
    `sshd would not use the hardened settings: ${problems.join('; ')}. sshd keeps the first value it reads, ` +
    `so a drop-in sorting before ${SSHD_DROPIN}, a setting above the Include in ${MAIN} or a Match block overrides it; remove that setting`
  );
}

/** Reload sshd, prove a fresh login, else put the previous configuration back and fail. */
export function reloadSshdHandler(verifyUser: (ctx: HostContext) => string, freshLogin: FreshLogin): Handler {
  return {
    name: 'reload sshd',
    async run(ctx) {
      const user = verifyUser(ctx);
      await proveLive(ctx, {
        what: 'sshd: after reloading the hardened configuration',
        // restored and reloaded: the host runs its previous, proven configuration again
        handler: true,
        makeLive: (c) => run(c, RELOAD_SSHD, 'reload sshd').then(() => undefined),
        freshLogin,
        // the connecting user (with its sudo) and verify_user: either one locked out is a lockout
        checks: sshdLoginChecks(ctx, user),
        async rollback(c) {
          const restore = await attempt(c, RESTORE_AND_RELOAD_SCRIPT);
          return {
            restored: restore.code === 0,
            message:
              restore.code === 0
                ? 'the previous sshd configuration was restored and sshd reloaded'
                : restore.code === 3
                  ? 'there was no saved configuration to restore (only the moduli changed)'
                  : `restoring the previous configuration FAILED too: ${(restore.stderr || restore.stdout).trim()}`,
          };
        },
        keep: (c) => run(c, `rm -rf ${SSHD_ROLLBACK}`, 'drop the sshd rollback copy').then(() => undefined),
      });
      const rootLogin = Object.entries(VarsReader.of(ctx, 'harden').map('sshd.settings')).find(
        ([k]) => k.toLowerCase() === 'permitrootlogin',
      )?.[1];
      if (ctx.host.user === 'root' && (rootLogin === 'no' || rootLogin === 'forced-commands-only')) {
        ctx.log.warn(`root logins are off now: set the inventory's user for ${ctx.host.name} to ${user}, whose login was just proven`);
      }
    },
  };
}
