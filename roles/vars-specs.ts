// What the inventory's `vars:` may hold, by name: the settings every role declares from its own
// defaults.yaml (lib/settings, `roleSettings` in each role's index.ts), the K3s settings of a
// cluster (lib/k3s/defaults.yaml) and the few settings groups read outside the roles.
// checkInventoryVars runs right after the inventory is loaded, before anything is rendered or any
// host is touched, so a misspelled or made-up key (`vars.hardening.ssh_port`) is an inventory error
// at its line instead of a setting silently ignored.
import { formatPath, type FieldPath } from '../lib/inventory/errors.ts';
import type { Inventory } from '../lib/inventory/model.ts';
import { provenanceOf } from '../lib/inventory/provenance.ts';
import { noSettings, roleVarsProblems, throwIfProblems, type Problem, type RoleSettings, type VarsSpec } from '../lib/settings/index.ts';
import { K3sSettingsError, k3sSettings, k3sSettingsSpec } from '../lib/k3s/settings.ts';
import { argocdBootstrapSettings } from './argocd-bootstrap/index.ts';
import { baseSettings } from './base/index.ts';
import { clusterRegistrationSettings } from './cluster-registration/index.ts';
import { gitopsRepoSettings } from '../lib/gitops/hosted-repo.ts';
import { hardenSettings } from './harden/index.ts';
import { k3sAgentSettings } from './k3s-agent/index.ts';
import { k3sPrereqSettings } from './k3s-prereq/index.ts';
import { k3sResetSettings } from './k3s-reset/index.ts';
import { k3sServerSettings } from './k3s-server/index.ts';
import { kubeconfigSettings } from './kubeconfig/index.ts';
import { platformPrereqSettings } from './platform-prereq/index.ts';
import { wireguardKeysSettings, wireguardSettings } from './wireguard/index.ts';

/** Every role's settings (`vars.<role>` of hosts, groups and the top level), in the order the roles run. */
export function roleSettingsList(): RoleSettings[] {
  return [
    noSettings('facts'),
    baseSettings,
    hardenSettings,
    wireguardKeysSettings,
    wireguardSettings,
    noSettings('k3s-artifacts'),
    k3sPrereqSettings,
    platformPrereqSettings,
    k3sServerSettings,
    k3sAgentSettings,
    kubeconfigSettings,
    clusterRegistrationSettings,
    gitopsRepoSettings,
    argocdBootstrapSettings,
    k3sResetSettings,
  ];
}

/** Keys of host vars (top level, group and host `vars:`). */
export function hostVarsSpecs(): VarsSpec[] {
  return [
    ...roleSettingsList(),
    // the GitOps resource quotas (lib/gitops/quota.ts): what the node offers, when not the arch's default
    { name: 'capacity', defaults: {}, types: { cpu: 'scalar', memory: 'scalar' }, what: 'the node capacity (docs/inventory.md)' },
  ];
}

/** Keys of cluster vars (`cluster.vars`, `clusters.<name>.vars`). vars.k3s: lib/k3s/settings.ts. */
export function clusterVarsSpecs(): VarsSpec[] {
  return [
    k3sSettingsSpec,
    { name: 'storageClass', defaults: {}, type: 'string', what: 'the default StorageClass of the GitOps components' },
  ];
}

/** The document path of a cluster's `vars`. */
function clusterVarsPath(inventory: Inventory, name: string): FieldPath {
  const raw = provenanceOf(inventory)?.raw;
  return raw?.cluster?.name === name ? ['cluster', 'vars'] : ['clusters', name, 'vars'];
}

/** vars.k3s of every cluster through the K3s settings reader, its errors placed at their key. */
function k3sProblems(inventory: Inventory, found: Problem[]): Problem[] {
  const problems: Problem[] = [];
  for (const cluster of inventory.clusters) {
    // a key or type already refused under this cluster's vars.k3s is said once
    const at = formatPath([...clusterVarsPath(inventory, cluster.name), 'k3s']);
    if (found.some((p) => formatPath(p.path) === at || formatPath(p.path).startsWith(`${at}.`))) continue;
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
  // what the types cannot say about vars.k3s, where its keys and types are right
  problems.push(...k3sProblems(inventory, problems));
  throwIfProblems(inventory, problems);
}
