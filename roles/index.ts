// The site's roles, in the order they run. Each role decides which hosts it applies to.
import type { Role } from '../lib/runner/types.ts';

export function siteRoles(): Role[] {
  return [];
}
