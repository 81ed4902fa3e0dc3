// Role `base`: packages, host name, time zone and sync, the admin account with its SSH keys and
// sudo, unattended security updates. See README.md and defaults.yaml.
import type { Role } from '../../lib/runner/types.ts';
import type { FreshLogin } from '../../lib/blocks/login-proof.ts';
import { baseHandlers } from './handlers.ts';
import { baseTasks } from './tasks.ts';
import { roleSettings } from '../../lib/settings/index.ts';

/** `vars.base`: defaults.yaml (README "Settings" lists every key) */
export const baseSettings = roleSettings('base', import.meta.url, { open: ['unattended_upgrades.origins'] });
export const baseDefaults = baseSettings.defaults;

/** The role; `freshLogin` (the login proof after a key or sudo change) is replaceable for unit tests. */
export function createBaseRole(opts: { freshLogin?: FreshLogin } = {}): Role {
  return {
    name: 'base',
    appliesTo: () => true,
    defaults: baseDefaults,
    // its tasks come from facts and vars alone: probed in one batch with harden's and k3s-prereq's
    probeAhead: true,
    tasks: (ctx) => baseTasks(ctx, baseDefaults, opts.freshLogin),
    handlers: baseHandlers,
  };
}

export const baseRole: Role = createBaseRole();

export default baseRole;
