// Role `base`: packages, host name, time zone and sync, the admin account with its SSH keys and
// sudo, unattended security updates. See README.md and defaults.yaml.
import type { Role } from '../../lib/runner/types.ts';
import { baseHandlers } from './handlers.ts';
import { baseTasks } from './tasks.ts';
import { loadDefaults } from './vars-check.ts';

export const baseDefaults = loadDefaults(import.meta.url);

export const baseRole: Role = {
  name: 'base',
  appliesTo: () => true,
  defaults: baseDefaults,
  // its tasks come from facts and vars alone: probed in one batch with harden's and k3s-prereq's
  probeAhead: true,
  tasks: (ctx) => baseTasks(ctx, baseDefaults),
  handlers: baseHandlers,
};

export default baseRole;
