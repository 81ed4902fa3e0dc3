// The site's roles, in the order they run. Each role decides which hosts it applies to.
import type { Role } from '../lib/runner/types.ts';
import { argocdBootstrapRole, type BootstrapSource } from './argocd-bootstrap/index.ts';

export interface SiteRoleOptions {
  /** the rendered GitOps repo and its publish step; absent with --skip-push */
  bootstrap?: BootstrapSource;
}

export function hostRoles(): Role[] {
  return [];
}

export function siteRoles(opts: SiteRoleOptions = {}): Role[] {
  return [...hostRoles(), ...(opts.bootstrap ? [argocdBootstrapRole(opts.bootstrap)] : [])];
}
