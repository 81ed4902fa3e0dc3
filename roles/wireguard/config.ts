// The wg-quick configuration of one host, rendered from its link plan (lib/wireguard/peers.ts) and
// the peers' public keys. It holds no private key: PostUp loads it from the key file on the host
// (wg set %i private-key FILE), so the file clusterseed uploads, shows in --diff and records is
// free of secrets. wg-quick rather than systemd-networkd: Debian and Raspberry Pi OS hosts run
// ifupdown, dhcpcd or NetworkManager; turning on networkd beside them only for this link would
// bring its wait-online and link management to hosts that never used it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderTemplate } from '../../lib/blocks/file.ts';
import type { LinkPlan } from '../../lib/wireguard/peers.ts';

export const CONFIG_DIR = '/etc/wireguard';
export const configPath = (iface: string) => `${CONFIG_DIR}/${iface}.conf`;
export const keyPath = (iface: string) => `${CONFIG_DIR}/${iface}.key`;

/** wg-quick's own rule for an interface (and config file) name, without dots (sysctl paths). */
export const IFACE_PATTERN = /^[a-zA-Z0-9_=+-]{1,15}$/;

/** A WireGuard public key: 32 bytes in base64. */
export const PUBLIC_KEY_PATTERN = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

const TEMPLATE = path.normalize(fileURLToPath(new URL('./templates/wg-quick.conf.hbs', import.meta.url)));

export interface RenderInput {
  plan: LinkPlan;
  /** public key by peer name; a peer without one is left out (see missingKeys) */
  keys: ReadonlyMap<string, string>;
  /** MTU of the interface; 0 = wg-quick's choice */
  mtu: number;
}

/** Peers of the plan whose public key is not known. */
export function missingKeys(plan: LinkPlan, keys: ReadonlyMap<string, string>): string[] {
  return plan.peers.filter((p) => !keys.get(p.name)).map((p) => p.name);
}

export function renderConfig(input: RenderInput): string {
  const { plan } = input;
  const iface = plan.link.interface;
  return renderTemplate(TEMPLATE, {
    host: plan.host.name,
    keyFile: keyPath(iface),
    address: `${plan.address}/${plan.prefix}`,
    port: plan.link.port,
    mtu: input.mtu || '',
    forwards: plan.forwards,
    peers: plan.peers
      .filter((p) => input.keys.get(p.name))
      .map((p) => ({
        name: p.name,
        why: p.why,
        site: p.site ?? '',
        address: p.address,
        publicKey: input.keys.get(p.name),
        allowedIps: p.allowedIps.join(', '),
        endpoint: p.endpoint ?? '',
        keepalive: p.keepalive ?? '',
      })),
  });
}

/**
 * The peers' public keys in a config this role wrote ("# peer NAME ..." before each [Peer]): how a
 * host keeps a peer that is not part of this run (--limit, unreachable) instead of dropping it.
 */
export function keysInConfig(text: string): Map<string, string> {
  const keys = new Map<string, string>();
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const named = /^# peer (\S+) /.exec(line);
    if (named) {
      current = named[1];
      continue;
    }
    const key = /^\s*PublicKey\s*=\s*(\S+)\s*$/.exec(line);
    if (key && current && PUBLIC_KEY_PATTERN.test(key[1])) {
      keys.set(current, key[1]);
      current = undefined;
    }
  }
  return keys;
}
