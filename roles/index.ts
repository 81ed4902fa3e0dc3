// The site's roles, in the order they run. Each role decides which hosts it applies to.
//   base, harden                  every host: OS baseline, SSH and firewall hardening
//   wireguard-keys, wireguard     hosts on the site link (site_link:): keys made on each host,
//                                 then every host's WireGuard config with its peers' public keys
//   k3s-artifacts                 control machine: K3s release files downloaded and verified once
//                                 per arch; a bad mirror or checksum stops the run here, after the
//                                 hardening and before anything K3s touches any host
//   k3s-prereq, k3s-server,       K3s on servers (one at a time) and agents
//   k3s-agent
//   platform-prereq               (between k3s-prereq and k3s-server) host packages the enabled
//                                 GitOps components need: open-iscsi (Longhorn), NVIDIA toolkit
//   kubeconfig                    control machine: kubeconfig merged from the first server
//   cluster-registration          first server of every other built cluster: its Sealed Secrets
//                                 key, and its registration with Argo CD (the access the repo seals)
//   gitops-repo                   the GitOps repository on the first server (when no other remote
//                                 is named): git user, bare repo, Argo CD's read-only key
//   argocd-bootstrap              publish the GitOps repo, then Argo CD on the first server
import type { Role } from '../lib/runner/types.ts';
import { argocdBootstrapRole, type BootstrapSource } from './argocd-bootstrap/index.ts';
import { baseRole } from './base/index.ts';
import { hardenRole } from './harden/index.ts';
import { wireguardRoles } from './wireguard/index.ts';
import { k3sArtifactsRole } from './k3s-prereq/artifacts.ts';
import { k3sPrereqRole } from './k3s-prereq/index.ts';
import { platformPrereqRole } from './platform-prereq/index.ts';
import { k3sServerRole } from './k3s-server/index.ts';
import { k3sAgentRole } from './k3s-agent/index.ts';
import { kubeconfigRole } from './kubeconfig/index.ts';
import { clusterRegistrationRole } from './cluster-registration/index.ts';
import { gitopsRepoRole, type GitopsRepoSource } from './gitops-repo/index.ts';

export interface SiteRoleOptions {
  /** the rendered GitOps repo and its publish step; absent with --skip-push */
  bootstrap?: BootstrapSource;
  /** the repository hosted on the first server (absent when Argo CD reads another remote) */
  hostedRepo?: GitopsRepoSource;
}

export function hostRoles(): Role[] {
  return [
    baseRole,
    hardenRole,
    ...wireguardRoles,
    k3sArtifactsRole,
    k3sPrereqRole,
    platformPrereqRole,
    k3sServerRole,
    k3sAgentRole,
    kubeconfigRole,
    clusterRegistrationRole,
  ];
}

export function siteRoles(opts: SiteRoleOptions = {}): Role[] {
  return [
    ...hostRoles(),
    ...(opts.bootstrap && opts.hostedRepo ? [gitopsRepoRole(opts.hostedRepo)] : []),
    ...(opts.bootstrap ? [argocdBootstrapRole(opts.bootstrap)] : []),
  ];
}
