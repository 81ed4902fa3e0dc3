// sshd on the host: the moduli file cut to strong groups, and the hardened drop-in, which goes
// through three gates before sshd ever reads it:
//   1. `sshd -t` on a candidate copy of the whole configuration (main file + every drop-in, with
//      ours in place) in a private directory: a bad option never reaches /etc/ssh;
//   2. `sshd -T` of that candidate: what sshd would really use must match what we ask for
//      (first match wins, so an earlier file could silently override us);
//   3. after install, the `reload sshd` handler reloads and logs in over a FRESH connection as the
//      admin user; if that fails the previous files are put back and sshd is reloaded again.
import { HandlerRolledBack, NothingApplied, type Change, type Handler, type HostContext, type Task } from '../../lib/runner/types.ts';
import { fileFact, sha256, textOf } from '../../lib/blocks/file.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { buildSshdConfig, ED25519_KEY, effectiveMismatches, HOST_KEYS_PROBE, parseHostKeys, renderSshdConfig, SSHD_DROPIN, type SshdVars } from './sshd.ts';
import type { FreshLogin } from './verify.ts';
import { contextMismatches, contextUsers, effectiveContextsScript } from './sshd-contexts.ts';
import { VarsReader } from '../base/vars-check.ts';

const MAIN = '/etc/ssh/sshd_config';
const CANDIDATE = '/run/clusterseed-sshd-candidate';
export const SSHD_ROLLBACK = '/var/lib/clusterseed/sshd-rollback';
const INCLUDE_RE = String.raw`^[[:space:]]*Include[[:space:]]+(/etc/ssh/)?sshd_config\.d/\*\.conf`;
/** INCLUDE_RE for the probed content (grep -Ei: per line, any case) */
const INCLUDE = /^[ \t\f\v\r]*Include[ \t\f\v\r]+(\/etc\/ssh\/)?sshd_config\.d\/\*\.conf/im;
const SSHD = 'SSHD=$(command -v sshd || echo /usr/sbin/sshd)';

/** the drop-in's mode: CIS (sshd_config and its includes) wants 0600 root:root */
export const DROPIN_MODE = '0600';

// ---- moduli ----------------------------------------------------------------------------------

/** /etc/ssh/moduli without groups shorter than minBits (field 5 is the size minus one). */
export function moduliTask(minBits: number): Task {
  const min = minBits - 1;
  return {
    name: `DH moduli of ${minBits}+ bits only`,
    notify: ['reload sshd'],
    probe: `[ -f /etc/ssh/moduli ] && awk -v min=${min} '$1 !~ /^#/ && NF >= 7 { if ($5 < min) w++; else s++ } END { print w+0, s+0 }' /etc/ssh/moduli || echo missing`,
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
        apply: (c) =>
          run(
            c,
            `awk -v min=${min} '$1 ~ /^#/ || NF < 7 || $5 >= min' /etc/ssh/moduli > /etc/ssh/.moduli.cs && chmod 0644 /etc/ssh/.moduli.cs && mv -f /etc/ssh/.moduli.cs /etc/ssh/moduli`,
            'filter /etc/ssh/moduli',
          ).then(() => undefined),
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

/** Phase 1: build the candidate configuration, generate a missing Ed25519 key, sshd -t, sshd -T. */
function candidateScript(generateEd25519: boolean, users: string[]): string {
  const sedInclude = `s#^([[:space:]]*[Ii][Nn][Cc][Ll][Uu][Dd][Ee][[:space:]]+)(/etc/ssh/)?sshd_config\\.d/#\\1${CANDIDATE}/sshd_config.d/#`;
  return [
    'set -u',
    SSHD,
    `c=${CANDIDATE}`,
    'rm -rf "$c" && mkdir -m 0700 -p "$c/sshd_config.d" || exit 70',
    generateEd25519 ? `[ -f ${ED25519_KEY} ] || ssh-keygen -q -t ed25519 -N '' -f ${ED25519_KEY} || exit 71` : ':',
    'for f in /etc/ssh/sshd_config.d/*.conf; do [ -f "$f" ] && cp -p "$f" "$c/sshd_config.d/"; done',
    `cat > "$c/sshd_config.d/$(basename ${SSHD_DROPIN})"`,
    `{ grep -Eiq '${INCLUDE_RE}' ${MAIN} || echo 'Include /etc/ssh/sshd_config.d/*.conf'; cat ${MAIN}; } > "$c/main"`,
    `sed -E '${sedInclude}' "$c/main" > "$c/sshd_config"`,
    // errors name the files as they will be called once installed
    `if ! out=$("$SSHD" -t -f "$c/sshd_config" 2>&1); then printf '%s\\n' "$out" | sed "s#$c/sshd_config.d/#/etc/ssh/sshd_config.d/#g; s#$c/sshd_config#${MAIN}#g" >&2; rm -rf "$c"; exit 65; fi`,
    effectiveContextsScript(users, '-f "$c/sshd_config"'),
  ].join('\n');
}

/** Phase 2: keep the current files for a rollback, install the candidate, sshd -t the live set. */
const INSTALL_SCRIPT = [
  'set -eu',
  SSHD,
  `c=${CANDIDATE}; rb=${SSHD_ROLLBACK}; d=${SSHD_DROPIN}`,
  'rm -rf "$rb"; mkdir -p "$rb"; chmod 0700 "$rb"',
  `cp -p ${MAIN} "$rb/sshd_config"`,
  'if [ -f "$d" ]; then cp -p "$d" "$rb/dropin"; fi',
  'mkdir -p /etc/ssh/sshd_config.d',
  `install -m ${DROPIN_MODE} -o root -g root "$c/sshd_config.d/$(basename "$d")" "$d.cs-new" && mv -f "$d.cs-new" "$d"`,
  `if ! cmp -s "$c/main" ${MAIN}; then cp -p ${MAIN} ${MAIN}.cs-new && cat "$c/main" > ${MAIN}.cs-new && mv -f ${MAIN}.cs-new ${MAIN}; fi`,
  'rm -rf "$c"',
  `if ! out=$("$SSHD" -t 2>&1); then`,
  `  cp -p "$rb/sshd_config" ${MAIN}; if [ -f "$rb/dropin" ]; then cp -p "$rb/dropin" "$d"; else rm -f "$d"; fi`,
  `  printf 'the installed configuration failed sshd -t, previous files restored: %s\\n' "$out" >&2; exit 66`,
  'fi',
].join('\n');

/** Puts the files saved by INSTALL_SCRIPT back; exit 3 when there is nothing saved. */
export const RESTORE_SCRIPT = [
  `rb=${SSHD_ROLLBACK}; d=${SSHD_DROPIN}`,
  '[ -f "$rb/sshd_config" ] || exit 3',
  `cp -p "$rb/sshd_config" ${MAIN}`,
  'if [ -f "$rb/dropin" ]; then cp -p "$rb/dropin" "$d"; else rm -f "$d"; fi',
].join('\n');

// Debian and Ubuntu call the unit ssh.service (sshd.service is an alias there); others sshd.service
export const RELOAD_SSHD = 'systemctl reload-or-restart ssh.service 2>/dev/null || systemctl reload-or-restart sshd.service';

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
    probe: [
      HOST_KEYS_PROBE,
      'echo @@effective',
      SSHD,
      effectiveContextsScript(users),
    ].join('\n'),
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
          ...(unproven ? [`an earlier install was never proven live (${SSHD_ROLLBACK} is still there): reload sshd and prove a fresh login`] : []),
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
      let before = '';
      if (ctx.options.diff && dropin.exists) before = (await ctx.conn.download(SSHD_DROPIN, { become: true })).toString('utf8');
      return {
        summary: parts.join('; '),
        diff: [{ path: SSHD_DROPIN, before, after: content }],
        async apply(c) {
          const cand = await c.conn.exec(candidateScript(keys.generateEd25519, users), { become: true, stdin: content });
          if (cand.code !== 0) {
            throw new NothingApplied(`sshd rejected the candidate configuration; nothing was installed (exit ${cand.code}): ${(cand.stderr || cand.stdout).trim()}`);
          }
          const problems = contextMismatches(cand.stdout, (eff) => effectiveMismatches(input, eff));
          if (problems.length) {
            await c.conn.exec(`rm -rf ${CANDIDATE}`, { become: true });
            throw new NothingApplied(`${overrideMessage(problems)}; nothing was installed`);
          }
          await run(c, INSTALL_SCRIPT, `install ${SSHD_DROPIN}`);
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
      await run(ctx, RELOAD_SSHD, 'reload sshd');
      try {
        await freshLogin(ctx, user);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        const restore = await ctx.conn.exec(`${RESTORE_SCRIPT}\n${RELOAD_SSHD}`, { become: true });
        const outcome =
          restore.code === 0
            ? 'the previous sshd configuration was restored and sshd reloaded'
            : restore.code === 3
              ? 'there was no saved configuration to restore (only the moduli changed)'
              : `restoring the previous configuration FAILED too: ${(restore.stderr || restore.stdout).trim()}`;
        const message = `sshd: after reloading the hardened configuration, ${why}; ${outcome}. This run's own connection was kept.`;
        // restored and reloaded: the host runs its previous, proven configuration again
        throw restore.code === 0 ? new HandlerRolledBack(message) : new Error(message);
      }
      await run(ctx, `rm -rf ${SSHD_ROLLBACK}`, 'drop the sshd rollback copy');
      const rootLogin = Object.entries(VarsReader.of(ctx, 'harden').map('sshd.settings')).find(([k]) => k.toLowerCase() === 'permitrootlogin')?.[1];
      if (ctx.host.user === 'root' && (rootLogin === 'no' || rootLogin === 'forced-commands-only')) {
        ctx.log.warn(`root logins are off now: set the inventory's user for ${ctx.host.name} to ${user}, whose login was just proven`);
      }
    },
  };
}
