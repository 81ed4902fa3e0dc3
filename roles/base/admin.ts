// The admin account: created if missing, its SSH keys in authorized_keys, and sudo through a
// sudoers drop-in that visudo has accepted before it is put where sudo reads it.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HostSpec, Inventory } from '../../lib/inventory/model.ts';
import { NothingApplied, type Change, type HostContext, type Task } from '../../lib/runner/types.ts';
import { fileFact, textOf } from '../../lib/blocks/file.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { deepMerge } from '../../lib/runner/merge.ts';
import { loginChecks, proveOrRollBack, sshFreshLogin, type FreshLogin, type ProvenChange } from '../../lib/blocks/login-proof.ts';
import { candidatePath, guardedCommands, guardedInstall, installCandidate, VALIDATOR_REFUSED } from '../../lib/blocks/guarded-install.ts';
import { agentIdentities, keyIdentity, privateKeyIdentity, shortIdentity } from '../../lib/ssh/identities.ts';
import { VarsError, VarsReader } from '../../lib/settings/index.ts';
import { putFile } from '../../lib/blocks/remote.ts';

export const SUDOERS_FILE = '/etc/sudoers.d/50-clusterseed-admin';
/** candidates are this + a random suffix: sudo ignores names with a dot */
const SUDOERS_CANDIDATE = '/etc/sudoers.d/.50-clusterseed-admin.candidate';
const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;
const KEY_LINE =
  /^(?:(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)(?:-cert-v01@openssh\.com)?)\s+AAAA[A-Za-z0-9+/]{16,}={0,3}(?:\s.*)?$/;

export type SudoMode = 'nopasswd' | 'password' | 'none';

/**
 * The admin user for a host: vars.base.admin_user, else the inventory's login user, else `admin`
 * when the inventory logs in as root (root logins end with the harden role).
 * Exported for the harden role, which must log in as this user to prove sshd still lets it in.
 */
export function adminUserName(host: HostSpec, inventory: Inventory, baseDefaults: Record<string, unknown>): string {
  const vars = deepMerge(baseDefaults, (host.vars.base as Record<string, unknown>) ?? {});
  const reader = VarsReader.of({ inventory, host, vars }, 'base');
  const configured = reader.string('admin_user', {
    allowEmpty: true,
    pattern: USER_NAME,
    expected: 'a user name (lower case, at most 32 characters)',
  });
  if (configured === 'root')
    reader.fail('admin_user', 'a user other than root (root logins are turned off by the harden role)', configured);
  if (configured) return configured;
  return host.user === 'root' ? 'admin' : host.user;
}

/** Public key lines from vars.base.admin_keys (lines or files), or the inventory key's .pub. */
export function collectAdminKeys(reader: VarsReader, host: HostSpec, inventoryDir: string): string[] {
  const entries = reader.list('admin_keys');
  const keys: string[] = [];
  entries.forEach((entry, i) => {
    if (typeof entry !== 'string' || entry.trim() === '') reader.fail(`admin_keys[${i}]`, 'a public key line or a file path', entry);
    const text = entry.trim();
    if (KEY_LINE.test(text)) {
      keys.push(text);
      return;
    }
    if (/^(ssh-|ecdsa-|sk-)/.test(text)) reader.fail(`admin_keys[${i}]`, 'a public key line ("ssh-ed25519 AAAA... comment")', entry);
    const file = path.resolve(inventoryDir, text.replace(/^~(?=\/|$)/, os.homedir()));
    if (!existsSync(file)) reader.fail(`admin_keys[${i}]`, `a public key line or an existing file (${file} does not exist)`, entry);
    keys.push(...keysInFile(file, (msg) => reader.fail(`admin_keys[${i}]`, msg, entry)));
  });
  if (entries.length === 0 && host.sshKey && existsSync(`${host.sshKey}.pub`)) {
    keys.push(
      ...keysInFile(`${host.sshKey}.pub`, (msg) => {
        throw new VarsError(`${host.sshKey}.pub (the public half of host ${host.name}'s ssh_key): ${msg}`);
      }),
    );
  }
  return [...new Set(keys)];
}

function keysInFile(file: string, fail: (msg: string) => never): string[] {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const bad = lines.find((l) => !KEY_LINE.test(l));
  // a private key by mistake must never be copied anywhere
  if (bad !== undefined) fail(`a file of public key lines (${file} has a line that is not one: ${bad.slice(0, 20)}...)`);
  if (lines.length === 0) fail(`a file with at least one public key (${file} has none)`);
  return lines;
}

/**
 * The comment line put above every key clusterseed adds. It is what tells a key clusterseed added
 * (removed again once it leaves vars.base.admin_keys) from one someone else put there (kept).
 */
export const MANAGED_KEY_MARK = '# clusterseed: admin key from the inventory (removed when it leaves vars.base.admin_keys)';

/**
 * authorized_keys content. exclusive: exactly `keys`. Otherwise the current lines, minus the keys
 * clusterseed added earlier (marked) that are no longer wanted and minus `revoked` keys wherever
 * they are, plus the wanted keys missing, each under the mark.
 */
export function authorizedKeysContent(current: string, keys: string[], exclusive: boolean, revoked: string[] = []): string {
  const wanted = new Set(keys.map((k) => keyIdentity(k)!));
  const gone = new Set(revoked.map((k) => keyIdentity(k)!).filter((k) => !wanted.has(k)));
  if (exclusive)
    return keys
      .filter((k) => !gone.has(keyIdentity(k)!))
      .map((k) => `${k}\n`)
      .join('');
  const lines = current === '' ? [] : current.replace(/\n$/, '').split('\n');
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const marked = lines[i] === MANAGED_KEY_MARK;
    const line = marked ? lines[++i] : lines[i];
    if (line === undefined) break; // a mark on the last line: dropped
    const id = keyIdentity(line);
    if (id && gone.has(id)) continue;
    if (marked && (!id || !wanted.has(id))) continue;
    kept.push(...(marked ? [MANAGED_KEY_MARK, line] : [line]));
  }
  const have = new Set(kept.map(keyIdentity).filter((k): k is string => !!k));
  const missing = keys.filter((k) => !have.has(keyIdentity(k)!));
  const next = [...kept, ...missing.flatMap((k) => [MANAGED_KEY_MARK, k])];
  const text = next.length ? next.join('\n') + '\n' : '';
  // unchanged lines: keep the file byte for byte (no newline added to a last line that lacked one)
  return text.replace(/\n$/, '') === current.replace(/\n$/, '') ? current : text;
}

/**
 * The public half of the key clusterseed logs in with: derived from the private key (a stale .pub
 * must not vouch for it), else its .pub (a key with a passphrase).
 */
export function loginKeyIdentity(host: HostSpec): string | undefined {
  return host.sshKey ? privateKeyIdentity(host.sshKey) : undefined;
}

function authorizedIdentities(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => (l.trim().startsWith('#') ? undefined : keyIdentity(l)))
      .filter((k): k is string => !!k),
  );
}

export function sudoersContent(user: string, mode: SudoMode): string {
  const tag = mode === 'nopasswd' ? 'NOPASSWD: ' : '';
  return `# Managed by clusterseed (role base); checked with visudo -cf before it is installed.\n${user} ALL=(ALL:ALL) ${tag}ALL\n`;
}

export interface AdminSpec {
  user: string;
  groups: string[];
  keys: string[];
  exclusive: boolean;
  /** keys removed from authorized_keys wherever they are (vars.base.admin_keys_revoked) */
  revoked: string[];
  /** the identity of the key this run logs in with, when the admin user is the login user */
  loginKey?: string;
  /** the admin user is the user this run connects as: ssh-agent's keys count as login keys too */
  loginUser?: boolean;
  sudo: SudoMode;
}

export function readAdminSpec(ctx: HostContext, baseDefaults: Record<string, unknown>): AdminSpec {
  const r = VarsReader.of(ctx, 'base');
  const user = adminUserName(ctx.host, ctx.inventory, baseDefaults);
  return {
    user,
    groups: r.stringList('admin_groups', { pattern: /^[a-z_][a-z0-9_-]*$/, expected: 'a group name' }),
    keys: collectAdminKeys(r, ctx.host, ctx.inventory.dir),
    exclusive: r.bool('admin_keys_exclusive'),
    revoked: r.stringList('admin_keys_revoked', { pattern: KEY_LINE, expected: 'a public key line ("ssh-ed25519 AAAA... comment")' }),
    loginKey: ctx.host.user === user ? loginKeyIdentity(ctx.host) : undefined,
    loginUser: ctx.host.user === user,
    sudo: r.oneOf('admin_sudo', ['nopasswd', 'password', 'none'] as const),
  };
}

/** The user exists (created with a home and bash) and is in the wanted groups. */
export function adminUserTask(spec: AdminSpec): Task {
  const u = q(spec.user);
  return {
    name: `admin user ${spec.user}`,
    // id answers for an existing user only; one getent lists the wanted groups that exist
    probe:
      `id -nG ${u} 2>/dev/null || echo '!missing'; echo --; ` +
      (spec.groups.length ? `getent group ${spec.groups.map(q).join(' ')}; true` : 'true'),
    plan(state, ctx): Change | null {
      const [groupLine = '', groupDb = ''] = state.stdout.split('--\n');
      const exists = groupLine.trim() !== '!missing';
      const have = new Set(exists ? groupLine.trim().split(/\s+/).filter(Boolean) : []);
      const existing = new Set(
        groupDb
          .split('\n')
          .map((l) => l.split(':')[0])
          .filter(Boolean),
      );
      const unknownGroups = spec.groups.filter((g) => !existing.has(g));
      // in check mode the packages task may be what would create a group (sudo)
      if (unknownGroups.length && !ctx.options.check) {
        throw new Error(`vars.base.admin_groups: group(s) ${unknownGroups.join(', ')} do not exist on ${ctx.host.name}`);
      }
      const missingGroups = spec.groups.filter((g) => !have.has(g));
      if (exists && missingGroups.length === 0) return null;
      const groupsArg = spec.groups.length ? ` --groups ${q(spec.groups.join(','))}` : '';
      // '*' = no password but not locked: key logins then work whether or not sshd uses PAM
      const script = exists
        ? `usermod --append --groups ${q(missingGroups.join(','))} ${u}`
        : `useradd --create-home --shell /bin/bash --user-group${groupsArg} ${u} && usermod -p '*' ${u}`;
      return {
        summary: exists
          ? `add ${spec.user} to ${missingGroups.join(', ')}`
          : `create user ${spec.user}${spec.groups.length ? ` (groups ${spec.groups.join(', ')})` : ''}`,
        apply: (c) => run(c, script, `admin user ${spec.user}`).then(() => undefined),
      };
    },
  };
}

/**
 * Besides the user this run connects as, who must still log in after the admin user's keys or
 * sudo changed: harden's sshd.verify_user when it is that admin user (base cannot affect anyone
 * else's login; base does not import harden, so the var is read from the host's vars).
 */
function alsoProve(ctx: HostContext, adminUser: string): string[] {
  const verify = (ctx.host.vars.harden as { sshd?: { verify_user?: unknown } } | undefined)?.sshd?.verify_user;
  return verify === adminUser ? [adminUser] : [];
}

/** The message refusing an admin_keys_exclusive key set that holds none of the control machine's keys. */
export function exclusiveKeysRefusal(user: string, sources: string[]): string {
  return (
    `vars.base.admin_keys_exclusive is true, but none of vars.base.admin_keys is a key the control machine logs in to ${user} with ` +
    `(${sources.join('; ') || 'no ssh_key and no ssh-agent'}): authorized_keys would then lock clusterseed out of ${user}. ` +
    "Add the public key of the inventory's ssh_key to admin_keys (or load one of admin_keys into ssh-agent)"
  );
}

/** ~user/.ssh/authorized_keys holds the admin keys (the home comes from the passwd entry). */
export function authorizedKeysTask(spec: AdminSpec, freshLogin: FreshLogin = sshFreshLogin): Task {
  const u = q(spec.user);
  return {
    name: `authorized keys of ${spec.user}`,
    probe:
      // the home is the passwd entry's 6th field, cut out by the shell (no cut process)
      `e=$(getent passwd ${u}); h=; [ -n "$e" ] && { h=\${e#*:*:*:*:*:}; h=\${h%%:*}; }; echo "home=$h"; ` +
      `f="$h/.ssh/authorized_keys"; if [ -n "$h" ] && [ -f "$f" ]; then echo present; base64 -w0 < "$f"; echo; else echo absent; fi`,
    async plan(state, ctx): Promise<Change | null> {
      const lines = state.stdout.split('\n');
      const home = (lines[0] ?? '').replace(/^home=/, '').trim();
      const present = lines[1] === 'present';
      const current = present ? Buffer.from((lines[2] ?? '').trim(), 'base64').toString('utf8') : '';
      if (spec.keys.length === 0) {
        if (present && current.trim()) return null; // nothing to add; the user already has keys
        throw new Error(
          `no SSH public key for admin user ${spec.user}: set vars.base.admin_keys, or put the public key next to the inventory's ssh_key (${ctx.host.sshKey ?? 'none set'}.pub)`,
        );
      }
      const next = authorizedKeysContent(current, spec.keys, spec.exclusive, spec.revoked);
      if (present && next === current) return null;
      // the keys this very run logs in with (ssh_key, and ssh-agent's when the admin user is the login
      // user): a file without any of them would lock clusterseed (and its operator) out
      if (spec.loginKey || spec.loginUser) {
        const control = new Set(spec.loginKey ? [spec.loginKey] : []);
        if (spec.loginUser) for (const k of await agentIdentities()) control.add(k);
        const after = authorizedIdentities(next);
        const keeps = [...control].some((k) => after.has(k));
        const had = [...control].some((k) => authorizedIdentities(current).has(k));
        if (!keeps && had) {
          throw new Error(
            `${ctx.inventory.file}: host ${ctx.host.name}: refusing to remove the key clusterseed logs in with (${ctx.host.sshKey ?? 'ssh-agent'}) from ${spec.user}'s authorized_keys ` +
              '(vars.base.admin_keys / admin_keys_exclusive / admin_keys_revoked): add it to admin_keys, or switch the inventory to the new key first',
          );
        }
        if (!keeps && spec.exclusive && spec.loginUser) {
          const sources = [
            ...(ctx.host.sshKey ? [`ssh_key ${ctx.host.sshKey}${spec.loginKey ? ` (${shortIdentity(spec.loginKey)})` : ''}`] : []),
            ...(process.env.SSH_AUTH_SOCK ? ['ssh-agent'] : []),
          ];
          throw new Error(`${ctx.inventory.file}: host ${ctx.host.name}: ${exclusiveKeysRefusal(spec.user, sources)}`);
        }
      }
      if (!home) {
        return {
          summary: `write authorized_keys of ${spec.user} (the user does not exist yet)`,
          apply: async () => {
            throw new Error(`user ${spec.user} has no home directory`);
          },
        };
      }
      const file = `${home}/.ssh/authorized_keys`;
      return {
        summary: present
          ? `${file}: ${spec.exclusive ? 'set exactly the admin keys' : 'add missing admin keys, remove the ones it added that left the inventory'}`
          : `create ${file} with ${spec.keys.length} key(s)`,
        diff: [{ path: file, before: current, after: next }],
        async apply(c) {
          const group = (await run(c, `id -gn ${u}`, `primary group of ${spec.user}`)).trim();
          await run(c, `install -d -m 0700 -o ${u} -g ${q(group)} ${q(`${home}/.ssh`)}`, `create ${home}/.ssh`);
          await putFile(c, file, next, { mode: 0o600, owner: spec.user, group });
          await proveOrRollBack(c, {
            what: `authorized_keys: after writing ${file}`,
            freshLogin,
            checks: loginChecks(c, alsoProve(c, spec.user)),
            async rollback(r) {
              if (!present) {
                await run(r, `rm -f ${q(file)}`, `remove ${file}`);
                return `${file} was removed again (there was none before)`;
              }
              await putFile(r, file, current, { mode: 0o600, owner: spec.user, group });
              return `the previous ${file} was restored`;
            },
          });
        },
      };
    },
  };
}

/** visudo -cf the uploaded candidate, then rename it over the drop-in; the candidate never stays. */
export function sudoersInstallScript(candidate: string): string {
  return [
    `c=${q(candidate)}`,
    `trap 'rm -f -- "$c"' EXIT`,
    `visudo -cf "$c" 2>&1 || exit ${VALIDATOR_REFUSED}`,
    `mv -f -- "$c" ${SUDOERS_FILE} || exit 67`,
  ].join('\n');
}

/** The sudoers drop-in, validated by `visudo -cf` as a candidate that sudo ignores (its name has a dot). */
export function sudoersTask(spec: AdminSpec, freshLogin: FreshLogin = sshFreshLogin): Task {
  const content = sudoersContent(spec.user, spec.sudo);
  return {
    name: `sudo for ${spec.user} (${spec.sudo})`,
    probe: 'command -v visudo >/dev/null && echo visudo=yes || echo visudo=no',
    files: [{ path: SUDOERS_FILE, content: true }],
    plan(state, ctx): Change | null {
      const tool = state.stdout.split('\n')[0];
      const st = fileFact(state, SUDOERS_FILE);
      const current = textOf(st);
      // sudo of the user this run connects as must still work afterwards, else the old file goes back
      const proof = (what: string): ProvenChange => ({
        what: `sudo: after ${what}`,
        freshLogin,
        checks: loginChecks(ctx, alsoProve(ctx, spec.user)),
        async rollback(r) {
          if (!st.exists) {
            await run(r, `rm -f ${SUDOERS_FILE}`, `remove ${SUDOERS_FILE}`);
            return `${SUDOERS_FILE} was removed again (there was none before)`;
          }
          // the run's own root shell outlives any sudoers change: the old (visudo-checked) file goes back through it
          await putFile(r, SUDOERS_FILE, current, { mode: 0o440 });
          return `the previous ${SUDOERS_FILE} was restored`;
        },
      });
      if (spec.sudo === 'none') {
        if (!st.exists) return null;
        return {
          summary: `remove ${SUDOERS_FILE}`,
          commands: guardedCommands([`rm -f ${SUDOERS_FILE}`], loginChecks(ctx, alsoProve(ctx, spec.user))),
          apply: (c) =>
            guardedInstall(c, {
              ...proof(`removing ${SUDOERS_FILE}`),
              install: (i) => run(i, `rm -f ${SUDOERS_FILE}`, `remove ${SUDOERS_FILE}`).then(() => undefined),
            }),
        };
      }
      if (st.exists && current === content && st.mode === '0440' && st.owner === 'root') return null;
      if (tool.trim() !== 'visudo=yes' && !ctx.options.check)
        throw new Error('visudo is missing: the sudo package must be installed first');
      return {
        summary: `${SUDOERS_FILE}: ${st.exists ? 'update' : 'create'} (${spec.user}, ${spec.sudo === 'nopasswd' ? 'no password' : 'with password'})`,
        diff: [{ path: SUDOERS_FILE, before: current, after: content }],
        commands: guardedCommands(
          [`visudo -cf ${SUDOERS_CANDIDATE}.<random>`, `mv -f -- ${SUDOERS_CANDIDATE}.<random> ${SUDOERS_FILE}`],
          loginChecks(ctx, alsoProve(ctx, spec.user)),
        ),
        apply: (c) =>
          guardedInstall(c, {
            ...proof(`writing ${SUDOERS_FILE}`),
            async install(i) {
              // one candidate per run (sudo ignores names with a dot); removed on every exit path
              const candidate = candidatePath(SUDOERS_CANDIDATE);
              const res = await installCandidate(i, { path: candidate, content, mode: 0o440 }, sudoersInstallScript(candidate));
              if (res.code !== 0)
                throw new NothingApplied(
                  `visudo rejected the sudoers drop-in for ${spec.user}; ${SUDOERS_FILE} was left unchanged: ${(res.stdout + res.stderr).trim()}`,
                );
            },
          }),
      };
    },
  };
}
