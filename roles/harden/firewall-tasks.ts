// The firewall on the host: the ruleset file checked with `nft -c`, applied atomically with
// `nft -f`, then proven by a fresh SSH login. Until that proof arrives a transient systemd timer
// stands ready to restore the previous ruleset by itself, so even losing the control machine
// mid-apply cannot lock the host out for longer than revert_after_seconds.
import { sshPortOf } from './ssh-port.ts';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NothingApplied, type Change, type HostContext, type Task } from '../../lib/runner/types.ts';
import { directory, file, packages, renderTemplate, service } from '../../lib/blocks/index.ts';
import { fileFact, firstWord, textOf } from '../../lib/blocks/file.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import type { VarsReader } from '../../lib/settings/index.ts';
import { hostedRepoHost } from '../../lib/gitops/hosted-repo.ts';
import {
  clusterView,
  k3sRules,
  readExtraPorts,
  renderRuleset,
  RULESET_FILE,
  siteLinkRules,
  siteLinkView,
  sourcesList,
  sshSources,
  TABLE,
  type AddressResolver,
  type FirewallModel,
} from './firewall.ts';
import { loginChecks, type FreshLogin } from './verify.ts';
import {
  candidatePath,
  guardedInstall,
  guardedCommands,
  installCandidate,
  proveLive,
  VALIDATOR_REFUSED,
  type LiveProof,
} from '../../lib/blocks/guarded-install.ts';
import { attempt } from '../../lib/blocks/remote.ts';

const STATE_DIR = '/var/lib/clusterseed';
const ROLLBACK_NFT = `${STATE_DIR}/firewall-rollback.nft`;
const ROLLBACK_SH = `${STATE_DIR}/firewall-rollback.sh`;
const PREVIOUS_FILE = `${STATE_DIR}/firewall.nft.prev`;
/** hash of `nft list table` right after our apply: a later difference means someone changed it */
const LIVE_HASH = `${STATE_DIR}/firewall.live.sha256`;
const REVERT_UNIT = 'clusterseed-firewall-revert';
/** the boot unit that loads RULESET_FILE (in /etc/systemd/system) */
export const FIREWALL_UNIT = 'clusterseed-firewall.service';
const UNIT = FIREWALL_UNIT;
/** drop-in that re-loads the table after nftables.service's own `flush ruleset` */
export const NFTABLES_DROPIN = '/etc/systemd/system/nftables.service.d/50-clusterseed.conf';
const LIST = `nft list table inet ${TABLE}`;

const resolveAddress: AddressResolver = async (address) => {
  if (isIP(address)) return [address];
  try {
    return (await lookup(address, { all: true })).map((a) => a.address);
  } catch (err) {
    throw new Error(
      `firewall: cannot resolve ${address} to an address for the node rules (${(err as Error).message}); use IP addresses in the inventory or list the nodes' networks in vars.harden.firewall.node_networks`,
    );
  }
};

export async function firewallModel(ctx: HostContext, r: VarsReader): Promise<FirewallModel> {
  const sshPort = sshPortOf(ctx, r.int('firewall.ssh_port', 0, 65535));
  const view = await clusterView(ctx.host, ctx.inventory, resolveAddress);
  const nodeNetworks = sourcesList(r, 'firewall.node_networks');
  const isServer = ctx.host.groups.includes('servers');
  const isAgent = ctx.host.groups.includes('agents');
  const link = siteLinkView(ctx.host, ctx.inventory);
  const k3s = k3sRules({ isServer, isAgent, view, nodeNetworks, apiFrom: sourcesList(r, 'firewall.api_allowed_from'), link });
  const linkRules = siteLinkRules(link, !!view.cluster && (isServer || isAgent));
  const repoHere = hostedRepoHost(ctx.inventory)?.name === ctx.host.name;
  return {
    host: ctx.host.name,
    sshPort,
    sshFrom: sshSources(sourcesList(r, 'firewall.ssh_allowed_from'), repoHere, view, nodeNetworks),
    allowIcmp: r.bool('firewall.allow_icmp'),
    logDropped: r.bool('firewall.log_dropped'),
    trusted: k3s.trusted,
    rules: [...linkRules.rules, ...k3s.rules, ...readExtraPorts(r)],
    ...(linkRules.forward ? { forward: linkRules.forward } : {}),
  };
}

/**
 * sh writing the live table's hash to LIVE_HASH, hashed exactly as the probe hashes it (the listing
 * with its trailing newlines: the "." guard); `orElse` runs when a step fails.
 */
function recordLiveHash(orElse: string): string {
  return [
    `o=$(${LIST} && echo .) || ${orElse}`,
    `h=$(printf '%s' "\${o%.}" | sha256sum) || ${orElse}`,
    `printf '%s\\n' "\${h%% *}" > ${LIVE_HASH} || ${orElse}`,
  ].join('\n');
}

/**
 * The script the revert timer (or a failed proof) runs: puts back the firewall that was live before
 * the last apply, then removes the rollback files (itself included: a rolled-back host keeps none).
 */
export function firewallRollbackSh(): string {
  return String.raw`#!/bin/sh
# Written by clusterseed: puts back the firewall that was live before the last apply: the previous
# file (proven by an earlier run) when there was one, else whatever was live (or no table at all).
set -u
if [ -f ${PREVIOUS_FILE} ]; then
  nft -f ${PREVIOUS_FILE} || exit 1
  cp -p ${PREVIOUS_FILE} ${RULESET_FILE} || exit 1
  ${recordLiveHash('exit 1')}
else
  nft -f ${ROLLBACK_NFT} || exit 1
  rm -f ${RULESET_FILE} ${LIVE_HASH} || exit 1
fi
rm -f ${ROLLBACK_NFT} ${PREVIOUS_FILE} ${ROLLBACK_SH}
`;
}

/** Check, arm the revert timer, install and apply. Exit 65 = nft refused the candidate. */
function applyScript(candidate: string, revertSeconds: number): string {
  return String.raw`
set -u
f=${RULESET_FILE}; new=${q(candidate)}
trap 'rm -f -- "$new"' EXIT
fail() { code=$1; shift; printf '%s\n' "$*" >&2; exit "$code"; }
# candidates of runs that died before applying them (an hour is far longer than any apply)
find ${path.posix.dirname(RULESET_FILE)} -maxdepth 1 -type f -name '${CANDIDATE_GLOB}' -mmin +60 -delete 2>/dev/null
if ! out=$(nft -c -f "$new" 2>&1); then printf '%s\n' "$out" >&2; exit ${VALIDATOR_REFUSED}; fi
mkdir -p ${STATE_DIR} || fail 67 "cannot create ${STATE_DIR}"
printf 'table inet ${TABLE}\ndelete table inet ${TABLE}\n' > ${ROLLBACK_NFT} || fail 67 "cannot save the live table to ${ROLLBACK_NFT} (disk full?); nothing was applied"
if o=$(${LIST} 2>/dev/null); then printf '%s\n' "$o" >> ${ROLLBACK_NFT} || fail 67 "cannot save the live table to ${ROLLBACK_NFT} (disk full?); nothing was applied"; fi
if [ -f "$f" ]; then
  cp -p "$f" ${PREVIOUS_FILE} || fail 67 "cannot keep a copy of $f (disk full?); nothing was applied"
else
  rm -f ${PREVIOUS_FILE} || fail 67 "cannot remove ${PREVIOUS_FILE}"
fi
cat > ${ROLLBACK_SH} <<'EOS' || fail 67 "cannot write ${ROLLBACK_SH} (disk full?); nothing was applied"
${firewallRollbackSh()}EOS
chmod 0700 ${ROLLBACK_SH} || fail 67 "cannot chmod ${ROLLBACK_SH}"
systemctl stop ${REVERT_UNIT}.timer 2>/dev/null; systemctl reset-failed ${REVERT_UNIT}.service 2>/dev/null
systemd-run --quiet --unit=${REVERT_UNIT} --on-active=${revertSeconds}s /bin/sh ${ROLLBACK_SH} || echo "warning: no revert timer (systemd-run failed)" >&2
if ! mv -f "$new" "$f"; then /bin/sh ${ROLLBACK_SH}; systemctl stop ${REVERT_UNIT}.timer 2>/dev/null; fail 66 "cannot move the new ruleset to $f"; fi
if ! out=$(nft -f "$f" 2>&1); then /bin/sh ${ROLLBACK_SH}; systemctl stop ${REVERT_UNIT}.timer 2>/dev/null; printf '%s\n' "$out" >&2; exit 66; fi
${recordLiveHash(`fail 67 "cannot record the applied table's hash in ${LIVE_HASH} (disk full?)"`)}
`;
}

/** name pattern of the per-run ruleset candidates beside RULESET_FILE */
const CANDIDATE_GLOB = `${path.posix.basename(RULESET_FILE)}.cs-candidate.*`;

const DISARM = `systemctl stop ${REVERT_UNIT}.timer 2>/dev/null; rm -f ${ROLLBACK_NFT} ${ROLLBACK_SH} ${PREVIOUS_FILE}; true`;
/** the explicit rollback after a failed proof: the rollback script (which removes its files), timer off */
export const FIREWALL_ROLLBACK_SCRIPT = `/bin/sh ${ROLLBACK_SH}; rc=$?; systemctl stop ${REVERT_UNIT}.timer 2>/dev/null; exit $rc`;

/** `alsoProve`: users besides the connecting one whose fresh login must work after the apply (sshd.verify_user) */
export function rulesetTask(
  content: string,
  summary: string,
  revertSeconds: number,
  freshLogin: FreshLogin,
  alsoProve: string[] = [],
): Task {
  return {
    name: `firewall ruleset (table inet ${TABLE})`,
    // the rollback script is there from an apply until its fresh-login proof disarmed the revert
    // timer: a run that died in between left it, and the ruleset is live but not proven
    files: [{ path: RULESET_FILE, content: true }, { path: LIVE_HASH, content: true }, { path: ROLLBACK_SH }],
    // one nft call: the listing is kept with its trailing newlines (the "." guard) and hashed
    // exactly as the apply step hashed it into ${LIVE_HASH}
    probe: `if o=$(${LIST} 2>/dev/null && echo .); then printf '%s' "\${o%.}" | sha256sum; else echo missing; fi`,
    plan(state, ctx): Change | null {
      const live = firstWord(state.stdout);
      const recordedFile = fileFact(state, LIVE_HASH);
      const recorded = recordedFile.exists ? textOf(recordedFile).trim() : 'none';
      const current = textOf(fileFact(state, RULESET_FILE));
      const fileOk = current === content;
      const liveOk = live !== 'missing' && live === recorded;
      const unproven = fileFact(state, ROLLBACK_SH).exists;
      if (fileOk && liveOk && !unproven) return null;
      if (fileOk && liveOk) {
        return {
          summary: `an earlier apply was never proven (${ROLLBACK_SH} and its revert timer are still there): prove a fresh login, then disarm the revert`,
          apply: (c) => proveLive(c, firewallProof(c, freshLogin, alsoProve)),
        };
      }
      const why = !fileOk
        ? current
          ? 'update'
          : 'install'
        : live === 'missing'
          ? 'the table is not loaded; reload'
          : 'the live table differs from the file; reload';
      return {
        summary: `${why}: ${summary}`,
        diff: fileOk ? undefined : [{ path: RULESET_FILE, before: current, after: content }],
        commands: guardedCommands(
          [
            `nft -c -f ${RULESET_FILE}.cs-candidate.<random>`,
            `keep the live table in ${ROLLBACK_NFT}; systemd-run --unit=${REVERT_UNIT} --on-active=${revertSeconds}s /bin/sh ${ROLLBACK_SH}`,
            `mv -f ${RULESET_FILE}.cs-candidate.<random> ${RULESET_FILE}; nft -f ${RULESET_FILE}`,
          ],
          loginChecks(ctx, alsoProve),
        ),
        apply: (c) =>
          guardedInstall(c, {
            ...firewallProof(c, freshLogin, alsoProve),
            // validate, keep the previous ruleset, arm the revert timer, install and apply: one script
            async install(i) {
              // one candidate per run: concurrent runs never apply each other's file
              const candidate = candidatePath(`${RULESET_FILE}.cs-candidate`);
              const res = await installCandidate(i, { path: candidate, content, mode: 0o600 }, applyScript(candidate, revertSeconds));
              if (res.code === VALIDATOR_REFUSED)
                throw new NothingApplied(`nft -c rejected the ruleset; nothing was applied: ${res.stderr.trim()}`);
              // a plain Error: 67 also covers the live table's hash not recorded after the apply
              if (res.code === 67)
                throw new Error(`applying the ruleset failed before anything was applied: ${(res.stderr || res.stdout).trim()}`);
              if (res.code !== 0)
                throw new Error(
                  `applying the ruleset failed (exit ${res.code}); the previous one was restored: ${(res.stderr || res.stdout).trim()}`,
                );
              if (res.stderr.trim()) ctx.log.warn(res.stderr.trim());
            },
          }),
      };
    },
  };
}

/**
 * Steps 4-5 of the guarded install: a fresh login through the live ruleset disarms the revert;
 * without one the previous ruleset goes back (and its rollback files with it).
 */
function firewallProof(c: HostContext, freshLogin: FreshLogin, alsoProve: string[]): LiveProof {
  return {
    what: 'firewall: after applying the ruleset',
    freshLogin,
    checks: loginChecks(c, alsoProve),
    async rollback(r) {
      const back = await attempt(r, FIREWALL_ROLLBACK_SCRIPT);
      // restored: its rollback files go too, or the next run would take the ruleset for unproven
      if (back.code === 0) {
        await attempt(r, DISARM);
        return 'the previous ruleset was restored';
      }
      return { restored: false, message: `restoring the previous ruleset FAILED too: ${(back.stderr || back.stdout).trim()}` };
    },
    keep: (k) => run(k, DISARM, 'disarm the firewall revert timer').then(() => undefined),
  };
}

const UNIT_TEMPLATE = fileURLToPath(new URL('./templates/clusterseed-firewall.service.hbs', import.meta.url));
const DROPIN_TEMPLATE = fileURLToPath(new URL('./templates/nftables-clusterseed.conf.hbs', import.meta.url));

export function renderNftablesDropIn(): string {
  return renderTemplate(path.normalize(DROPIN_TEMPLATE), { rulesetFile: RULESET_FILE });
}

/** A file task whose change is followed by `systemctl daemon-reload` (a drop-in of another unit). */
function withDaemonReload(task: Task): Task {
  return {
    ...task,
    async plan(state, ctx) {
      const change = await task.plan(state, ctx);
      if (!change || !('apply' in change)) return change;
      return {
        ...change,
        async apply(c) {
          await change.apply(c);
          await run(c, 'systemctl daemon-reload', 'systemctl daemon-reload');
        },
      };
    },
  };
}

/** The systemd unit that loads the ruleset file at boot. */
export function renderBootUnit(): string {
  return renderTemplate(path.normalize(UNIT_TEMPLATE), { rulesetFile: RULESET_FILE });
}

/** One line for the report: which ports the ruleset opens. */
export function describeModel(m: FirewallModel): string {
  const ports = m.rules.map((r) => `${r.ports}/${r.proto}${r.from.length ? ` from ${r.from.length} source(s)` : ''}`);
  return `policy drop; SSH ${m.sshPort}/tcp${ports.length ? `; ${ports.join(', ')}` : ''}${m.trusted.length ? `; pod/service networks` : ''}${m.forward ? `; forwards ${m.forward.iface} to ${m.forward.iface}` : ''}`;
}

/** firewall.enabled: false after it was on: unit off, table and files gone (the host is then open). */
export function noFirewallTask(): Task {
  return {
    name: `no clusterseed firewall (firewall.enabled: false)`,
    probe: `(${LIST} >/dev/null 2>&1 || [ -e ${RULESET_FILE} ] || [ -e /etc/systemd/system/${UNIT} ] || [ -e ${NFTABLES_DROPIN} ]) && echo present || echo absent`,
    plan(state): Change | null {
      if (state.stdout.trim() !== 'present') return null;
      return {
        summary: `remove table inet ${TABLE}, ${RULESET_FILE} and ${UNIT}`,
        apply: (c) =>
          run(
            c,
            `systemctl disable --now ${UNIT} 2>/dev/null; rm -f /etc/systemd/system/${UNIT} ${NFTABLES_DROPIN} ${RULESET_FILE} ${LIVE_HASH}; rmdir ${path.posix.dirname(NFTABLES_DROPIN)} 2>/dev/null; systemctl daemon-reload; ` +
              `if ${LIST} >/dev/null 2>&1; then nft delete table inet ${TABLE}; fi`,
            'remove the clusterseed firewall',
          ).then(() => undefined),
      };
    },
  };
}

export async function firewallTasks(ctx: HostContext, r: VarsReader, freshLogin: FreshLogin): Promise<Task[]> {
  const model = await firewallModel(ctx, r);
  const content = renderRuleset(model);
  return [
    packages({ name: 'nftables package', present: ['nftables'] }),
    directory({ path: path.posix.dirname(RULESET_FILE), mode: '0755' }),
    rulesetTask(content, describeModel(model), r.int('firewall.revert_after_seconds', 30, 3600), freshLogin, [
      r.string('sshd.verify_user', { allowEmpty: true }),
    ]),
    file({
      path: `/etc/systemd/system/${UNIT}`,
      content: renderBootUnit(),
      name: 'firewall boot unit',
    }),
    directory({ path: path.posix.dirname(NFTABLES_DROPIN), mode: '0755' }),
    withDaemonReload(file({ path: NFTABLES_DROPIN, content: renderNftablesDropIn(), name: 'firewall reloaded after nftables.service' })),
    service({ name: UNIT, enabled: true, state: 'started', daemonReload: true, taskName: 'firewall loaded at boot' }),
  ];
}
