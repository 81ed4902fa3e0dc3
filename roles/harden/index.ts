// Role `harden`: sshd (drop-in validated before install, proven by a fresh login after reload),
// sysctl, nftables host firewall, unused filesystems, optional fail2ban. See README.md and
// defaults.yaml.
import type { Role } from '../../lib/runner/types.ts';
import { baseDefaults } from '../base/index.ts';
import { roleSettings } from '../../lib/settings/index.ts';
import { hardenHandlers } from './handlers.ts';
import { hardenTasks } from './tasks.ts';
import { sshFreshLogin, type FreshLogin } from './verify.ts';

/** `vars.harden`: defaults.yaml (README "Settings" lists every key) */
export const hardenSettings = roleSettings('harden', import.meta.url, {
  open: ['sshd.settings', 'sysctl.values'],
  // address lists also take one address (firewall.ts sourcesList)
  types: {
    'firewall.ssh_allowed_from': 'listOrString',
    'firewall.api_allowed_from': 'listOrString',
    'firewall.node_networks': 'listOrString',
    'fail2ban.ignoreip': 'listOrString',
  },
});
export const hardenDefaults = hardenSettings.defaults;

/** The role; `freshLogin` is replaceable so unit tests can exercise the rollback paths. */
export function createHardenRole(opts: { freshLogin?: FreshLogin } = {}): Role {
  const freshLogin = opts.freshLogin ?? sshFreshLogin;
  return {
    name: 'harden',
    appliesTo: () => true,
    defaults: hardenDefaults,
    probeAhead: true,
    tasks: (ctx) => hardenTasks(ctx, { baseDefaults, freshLogin }),
    handlers: hardenHandlers(baseDefaults, freshLogin),
  };
}

export const hardenRole: Role = createHardenRole();

export default hardenRole;
