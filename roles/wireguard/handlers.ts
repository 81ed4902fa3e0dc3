// Applies a changed config to the running link and proves it. `wg syncconf` changes only the peers
// that differ, so sessions with the others stay up. The stripped config gets the host's own private
// key added on the way into wg (read from the key file by awk, inside the pipe: never an argument,
// never printed): a config without PrivateKey would make syncconf set an all-zero key and drop
// every session, while the unchanged key is a no-op for the kernel. A new tunnel address needs the
// interface brought up again (syncconf does not touch addresses).
import type { Handler, HostContext } from '../../lib/runner/types.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { CONFIG_DIR, configPath } from './config.ts';
import { publishedKey } from './keys.ts';
import { HANDLER, planFor, unitOf, unsupported } from './tasks.ts';

export interface ApplyInput {
  iface: string;
  /** address/prefix the interface must have */
  cidr: string;
  forwards: boolean;
  mtu: number;
  /** where the key and config live (tests point it elsewhere) */
  dir?: string;
}

/** sh: bring the live interface to the config, then print what the proof compares. */
export function applyLinkScript(input: ApplyInput): string {
  const { iface } = input;
  const dir = input.dir ?? CONFIG_DIR;
  return [
    'set -u',
    `i=${q(iface)}; k=${q(`${dir}/${iface}.key`)}; c=${q(`${dir}/${iface}.conf`)}; u=${q(unitOf(iface))}`,
    'fail() { code=$1; shift; printf \'%s\\n\' "$*" >&2; exit "$code"; }',
    '[ -s "$k" ] || fail 66 "$k is missing or empty"',
    'if ! ip link show dev "$i" >/dev/null 2>&1 || [ "$(ip -o -4 addr show dev "$i" | awk \'{ print $4 }\')" != ' +
      q(input.cidr) +
      ' ]; then',
    '  systemctl restart "$u" || fail 67 "systemctl restart $u failed: $(journalctl -u "$u" -n 5 --no-pager 2>/dev/null)"',
    'else',
    '  s=$(wg-quick strip "$c") || fail 68 "wg-quick strip $c failed"',
    '  printf \'%s\\n\' "$s" | awk -v kf="$k" \'{ print } /^\\[Interface\\]/ { if ((getline key < kf) > 0) print "PrivateKey = " key }\' | wg syncconf "$i" /dev/stdin || fail 69 "wg syncconf $i failed"',
    ...(input.mtu ? [`  ip link set dev "$i" mtu ${input.mtu} || fail 70 "ip link set mtu failed"`] : []),
    'fi',
    ...(input.forwards ? ['sysctl -q -w "net.ipv4.conf.$i.forwarding=1" || fail 71 "cannot turn on forwarding on $i"'] : []),
    'echo "pub=$(wg show "$i" public-key)"',
    'echo "port=$(wg show "$i" listen-port)"',
    'wg show "$i" peers | sed \'s/^/peer=/\'',
    // the peers the installed config names (a peer whose key was unknown is not in it)
    `sed -n 's/^PublicKey[[:space:]]*=[[:space:]]*/want=/p' "$c"`,
  ].join('\n');
}

export interface LinkProof {
  pub: string;
  port: string;
  peers: string[];
  /** the peers' keys in the config file */
  want: string[];
}

export function parseProof(stdout: string): LinkProof {
  const lines = stdout.split('\n');
  const val = (k: string) =>
    lines
      .find((l) => l.startsWith(`${k}=`))
      ?.slice(k.length + 1)
      .trim() ?? '';
  const all = (k: string) =>
    lines
      .filter((l) => l.startsWith(`${k}=`))
      .map((l) => l.slice(k.length + 1).trim())
      .filter(Boolean)
      .sort();
  return { pub: val('pub'), port: val('port'), peers: all('peer'), want: all('want') };
}

/** What differs between the live interface and what it must be; [] = proven. */
export function proofProblems(got: LinkProof, want: { pub?: string; port: number; peers: string[] }): string[] {
  const problems: string[] = [];
  if (want.pub && got.pub !== want.pub) problems.push(`its public key is ${got.pub || 'none'}, not the key file's ${want.pub}`);
  if (got.port !== String(want.port)) problems.push(`it listens on ${got.port || 'no port'}, not ${want.port}`);
  const missing = want.peers.filter((p) => !got.peers.includes(p));
  const extra = got.peers.filter((p) => !want.peers.includes(p));
  if (missing.length) problems.push(`peers missing: ${missing.join(', ')}`);
  if (extra.length) problems.push(`unexpected peers: ${extra.join(', ')}`);
  return problems;
}

export function linkHandler(mtuOf: (ctx: HostContext) => number): Handler {
  return {
    name: HANDLER,
    async run(ctx) {
      const why = unsupported(ctx);
      if (why) {
        ctx.log.warn(`${HANDLER}: not applied, ${why}`);
        return;
      }
      const plan = planFor(ctx);
      const iface = plan.link.interface;
      const out = await run(
        ctx,
        applyLinkScript({ iface, cidr: `${plan.address}/${plan.prefix}`, forwards: plan.forwards, mtu: mtuOf(ctx) }),
        `${HANDLER} (${iface})`,
      );
      const proof = parseProof(out);
      const problems = proofProblems(proof, { pub: publishedKey(ctx, ctx.host.name), port: plan.link.port, peers: proof.want });
      if (problems.length) throw new Error(`${iface} is not as configured after applying ${configPath(iface)}: ${problems.join('; ')}`);
      ctx.log.verbose(`${iface}: up with ${proof.peers.length} peer(s)`);
    },
  };
}
