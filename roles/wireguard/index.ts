// Role `wireguard` (and `wireguard-keys` before it): the site link between hosts of different sites
// (issue 17). See README.md and defaults.yaml; the peers come from lib/wireguard/peers.ts.
//   wireguard-keys  every linked host: wireguard-tools, its private key generated on the host, its
//                   public key published to the run (ctx.shared) for the others' configs
//   wireguard       every linked host: kernel support, the wg-quick config with every peer's public
//                   key, wg-quick@<iface> enabled and started, changes applied with `wg syncconf`
// Both carry the tag `wireguard`: `--tags wireguard` runs the pair.
import type { HostSpec, Inventory } from '../../lib/inventory/model.ts';
import type { HostContext, Role } from '../../lib/runner/types.ts';
import { isLinked } from '../../lib/wireguard/peers.ts';
import { noSettings, roleSettings, VarsReader } from '../../lib/settings/index.ts';
import { linkHandler } from './handlers.ts';
import { keyTasks, TAG } from './keys.ts';
import { linkTasks, planFor } from './tasks.ts';

/** `vars.wireguard`: defaults.yaml (README "Settings"); wireguard-keys has none */
export const wireguardSettings = roleSettings('wireguard', import.meta.url);
export const wireguardKeysSettings = noSettings('wireguard-keys');
export const wireguardDefaults = wireguardSettings.defaults;

const applies = (host: HostSpec, inv: Inventory) => isLinked(host, inv);

/** vars.wireguard.mtu: 0 (wg-quick's choice) or 1280-9000. */
export function mtuOf(ctx: Pick<HostContext, 'inventory' | 'host' | 'vars'>): number {
  const r = VarsReader.of(ctx, 'wireguard');
  const mtu = r.int('mtu', 0, 9000);
  if (mtu !== 0 && mtu < 1280) r.fail('mtu', '0 (automatic) or 1280-9000', mtu);
  return mtu;
}

export const wireguardKeysRole: Role = {
  name: 'wireguard-keys',
  tags: [TAG],
  appliesTo: applies,
  probeAhead: true,
  tasks: (ctx) => keyTasks(planFor(ctx).link.interface),
};

export const wireguardRole: Role = {
  name: 'wireguard',
  tags: [TAG],
  appliesTo: applies,
  defaults: wireguardDefaults,
  // its tasks come from the inventory and its vars alone (the peers' keys are read when planning)
  probeAhead: true,
  tasks: (ctx) => linkTasks(ctx, mtuOf(ctx)),
  handlers: [linkHandler(mtuOf)],
};

/** The pair, in the order they run (keys on every host first, then every host's config). */
export const wireguardRoles: Role[] = [wireguardKeysRole, wireguardRole];
