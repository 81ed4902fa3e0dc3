// The host's WireGuard key pair: wireguard-tools installed, the private key generated ON the host
// (umask 077, `wg genkey` straight into a file) and never read back; only its public key leaves the
// host, derived by `wg pubkey` from the file through stdin. Every host's public key is published in
// the run's shared state, where the `wireguard` role, which runs after this one on every host,
// reads its peers' keys to render its config: roles run host by host in parallel, so a single role
// could not wait for a key another host generates later in the same role.
import type { Change, HostContext, Task } from '../../lib/runner/types.ts';
import { directory, packages, q, run } from '../../lib/blocks/index.ts';
import { CONFIG_DIR, keyPath, PUBLIC_KEY_PATTERN } from './config.ts';

export const TAG = 'wireguard';
const pubKeyName = (host: string) => `wireguard.pubkey:${host}`;

/** A host's public key as published in this run (undefined: not generated yet, or not in the run). */
export function publishedKey(ctx: HostContext, host: string): string | undefined {
  const v = ctx.shared.get(pubKeyName(host));
  return typeof v === 'string' ? v : undefined;
}

function publish(ctx: HostContext, key: string): void {
  if (!PUBLIC_KEY_PATTERN.test(key)) throw new Error(`wg pubkey printed ${JSON.stringify(key.slice(0, 60))}, not a public key`);
  ctx.shared.set(pubKeyName(ctx.host.name), key);
}

/** Reads the key file's metadata and its public key; the private key itself is only piped into wg. */
export function keyProbe(file: string): string {
  return [
    `f=${q(file)}`,
    'if [ ! -e "$f" ]; then echo state=missing',
    'else stat -c \'meta=%a %U:%G %F\' "$f"',
    '  if ! command -v wg >/dev/null 2>&1; then echo state=nowg',
    '  elif p=$(wg pubkey <"$f" 2>/dev/null); then echo state=ok; echo "pub=$p"',
    '  else echo state=invalid; fi',
    'fi',
  ].join('\n');
}

/** Generates the key in a 0600 file next to the final one, renames it into place, prints the public key. */
export function generateKeyScript(file: string): string {
  return [
    'set -eu',
    'umask 077',
    `f=${q(file)}`,
    't="$f.new.$$"',
    'trap \'rm -f -- "$t"\' EXIT',
    'wg genkey >"$t"',
    'chown root:root "$t"',
    'chmod 0600 "$t"',
    'mv -f -- "$t" "$f"',
    'wg pubkey <"$f"',
  ].join('\n');
}

function parseProbe(stdout: string): { state: string; mode?: string; owner?: string; type?: string; pub?: string } {
  const kv = new Map(stdout.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  const meta = /^(\d+) (\S+) (.*)$/.exec(kv.get('meta') ?? '');
  return { state: kv.get('state') ?? '', mode: meta?.[1].padStart(4, '0'), owner: meta?.[2], type: meta?.[3], pub: kv.get('pub')?.trim() };
}

export function keyTask(iface: string): Task {
  const file = keyPath(iface);
  return {
    name: `private key ${file} generated on the host`,
    tags: [TAG],
    probe: keyProbe(file),
    plan(state, ctx): Change | null {
      const got = parseProbe(state.stdout);
      if (got.state === 'missing') {
        return {
          summary: `generate the private key on the host (${file}, 0600 root; only its public key is read)`,
          async apply(c) {
            publish(c, (await run(c, generateKeyScript(file), `generate ${file}`)).trim());
          },
        };
      }
      if (got.type !== 'regular file') throw new Error(`${file} is a ${got.type}, not a regular file`);
      if (got.state === 'invalid')
        throw new Error(
          `${file} is not a WireGuard private key (wg pubkey refused it); move it away and run again to have a new one generated`,
        );
      if (got.state === 'nowg') {
        // only in --check before wireguard-tools is installed: the key is there, its public half unknown yet
        if (ctx.options.check) return null;
        throw new Error(`wg is not installed on the host although the package task ran (wireguard-tools)`);
      }
      publish(ctx, got.pub ?? '');
      if (got.mode === '0600' && got.owner === 'root:root') return null;
      return {
        summary: `${file}: mode ${got.mode} ${got.owner} -> 0600 root:root`,
        apply: (c) => run(c, `chown root:root ${q(file)} && chmod 0600 ${q(file)}`, `chmod ${file}`).then(() => undefined),
      };
    },
  };
}

export function keyTasks(iface: string): Task[] {
  return [
    packages({ name: 'wireguard-tools package', present: ['wireguard-tools'], tags: [TAG] }),
    directory({ path: CONFIG_DIR, mode: '0700', tags: [TAG] }),
    keyTask(iface),
  ];
}
