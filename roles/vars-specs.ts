// What the inventory's `vars:` may hold, by name: each role's documented defaults (its
// defaults.yaml) and the few settings groups read outside the roles. checkInventoryVars runs
// right after the inventory is loaded, before anything is rendered or any host is touched, so a
// misspelled or made-up key (`vars.hardening.ssh_port`) is an inventory error at its line instead
// of a setting silently ignored.
import type { FieldPath } from '../lib/inventory/errors.ts';
import type { Inventory } from '../lib/inventory/model.ts';
import { provenanceOf } from '../lib/inventory/provenance.ts';
import { roleVarsProblems, throwIfProblems, type Problem, type VarsSpec } from '../lib/inventory/role-vars.ts';
import { K3sSettingsError, k3sSettings } from '../lib/k3s/settings.ts';
import { baseDefaults } from './base/index.ts';
import { hardenDefaults } from './harden/index.ts';
import { k3sPrereqDefaults } from './k3s-prereq/index.ts';
import { defaults as platformPrereqDefaults } from './platform-prereq/index.ts';
import { gitopsRepoDefaults } from '../lib/gitops/hosted-repo.ts';
import { wireguardDefaults } from './wireguard/index.ts';

/** Keys of host vars (top level, group and host `vars:`). */
export function hostVarsSpecs(): VarsSpec[] {
  return [
    { name: 'base', defaults: baseDefaults, open: ['unattended_upgrades.origins'] },
    {
      name: 'harden',
      defaults: hardenDefaults,
      open: ['sshd.settings', 'sysctl.values'],
      // address lists also take one address (roles/harden/firewall.ts sourcesList)
      types: {
        'firewall.ssh_allowed_from': 'listOrString',
        'firewall.api_allowed_from': 'listOrString',
        'firewall.node_networks': 'listOrString',
        'fail2ban.ignoreip': 'listOrString',
      },
    },
    { name: 'k3s-prereq', defaults: k3sPrereqDefaults },
    { name: 'platform-prereq', defaults: platformPrereqDefaults },
    { name: 'gitops-repo', defaults: gitopsRepoDefaults },
    { name: 'wireguard', defaults: wireguardDefaults },
    // the GitOps resource quotas (lib/gitops/quota.ts): what the node offers, when not the arch's default
    { name: 'capacity', defaults: {}, types: { cpu: 'scalar', memory: 'scalar' }, what: 'the node capacity (docs/inventory.md)' },
  ];
}

/** Keys of cluster vars (`cluster.vars`, `clusters.<name>.vars`). vars.k3s is checked in depth by lib/k3s/settings.ts. */
export function clusterVarsSpecs(): VarsSpec[] {
  return [
    { name: 'k3s', defaults: {}, type: 'mapping', what: 'K3s settings (roles/k3s-server/README.md)' },
    { name: 'storageClass', defaults: {}, type: 'string', what: 'the default StorageClass of the GitOps components' },
  ];
}

/** The document path of a cluster's `vars`. */
function clusterVarsPath(inventory: Inventory, name: string): FieldPath {
  const raw = provenanceOf(inventory)?.raw;
  return raw?.cluster?.name === name ? ['cluster', 'vars'] : ['clusters', name, 'vars'];
}

/** vars.k3s of every cluster through the K3s settings reader, its errors placed at their key. */
function k3sProblems(inventory: Inventory): Problem[] {
  const problems: Problem[] = [];
  for (const cluster of inventory.clusters) {
    try {
      k3sSettings(inventory, cluster);
    } catch (err) {
      if (!(err instanceof K3sSettingsError)) throw err;
      // "<file>: cluster "x": vars.k3s.server_config.token: may not be set here ..."
      const m = /vars\.k3s((?:\.[^.:\s]+)*): ([\s\S]*)$/.exec(err.message);
      const fields = m?.[1] ? m[1].slice(1).split('.') : [];
      const unknown = m ? /^unknown setting/.test(m[2]) : false;
      problems.push({
        path: [...clusterVarsPath(inventory, cluster.name), 'k3s', ...fields],
        message: m?.[2] ?? err.message,
        at: unknown ? 'key' : 'value',
      });
    }
  }
  return problems;
}

/** Throws InventoryError (file:line:col per problem) for any var no role or settings group knows. */
export function checkInventoryVars(inventory: Inventory): void {
  const problems = roleVarsProblems(inventory, hostVarsSpecs(), clusterVarsSpecs());
  // vars.k3s in depth only once its layer is a mapping (else the message above says so)
  if (!problems.some((p) => p.path[p.path.length - 1] === 'k3s')) problems.push(...k3sProblems(inventory));
  throwIfProblems(inventory, problems);
}
