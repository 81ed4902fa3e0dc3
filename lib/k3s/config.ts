// /etc/rancher/k3s/config.yaml of servers and agents, derived from the inventory. The token is
// never part of it (it is in the 0600 env file). Keys are K3s's own flag names.
import { stringify } from 'yaml';
import type { HostSpec, Inventory } from '../inventory/model.ts';
import { isRestrictedLabel } from '../inventory/syntax.ts';
import { FLANNEL_WIREGUARD_PORTS } from '../inventory/defaults.ts';
import { enabledDefs } from '../gitops/model.ts';
import { clusterSpansSites, nodeAddress } from '../inventory/sites.ts';
import { apiUrl, firstServer, hostByName, joinAddress, type K3sSettings } from './settings.ts';
import { hardeningConfig, mergeConfig } from './hardening.ts';

export const CONFIG_PATH = '/etc/rancher/k3s/config.yaml';
export const REGISTRIES_PATH = '/etc/rancher/k3s/registries.yaml';
export const KUBECONFIG_PATH = '/etc/rancher/k3s/k3s.yaml';
export const IMAGES_DIR = '/var/lib/rancher/k3s/agent/images';

const HEADER = '# Managed by clusterseed from the inventory; local edits are overwritten.\n';

/**
 * Labels the kubelet may set on its own node at registration (`node-label`). Labels in the
 * kubernetes.io / k8s.io namespaces other than the kubelet's own are refused by the kubelet
 * (NodeRestriction; e.g. node-role.kubernetes.io/worker): those are set through the API instead.
 */
export function kubeletLabels(host: HostSpec): string[] {
  return Object.entries(host.labels)
    .filter(([k]) => !isRestrictedLabel(k))
    .map(([k, v]) => `${k}=${v}`)
    .sort();
}

export interface ConfigInput {
  inventory: Inventory;
  settings: K3sSettings;
  host: HostSpec;
  /** decided from the host's iptables (see iptables.ts) unless the inventory forces it */
  preferBundledBin: boolean;
  /** this host's own extra keys (role vars `config:`, e.g. node-ip), over the cluster's */
  hostConfig?: Record<string, unknown>;
  /** `protect-kernel-defaults` for this host (off inside containers, kernel-defaults.ts); default: the settings' */
  protectKernelDefaults?: boolean;
}

/** The CIS hardening keys (hardening.ts), then the cluster's *_config keys, then the host's own. */
function withHardening(
  input: ConfigInput,
  kind: 'server' | 'agent',
  config: Record<string, unknown>,
  clusterKeys: Record<string, unknown>,
): Record<string, unknown> {
  const h = input.settings.hardening;
  const ours = { ...config, ...hardeningConfig(h, kind, input.protectKernelDefaults ?? h.protectKernelDefaults) };
  return mergeConfig(mergeConfig(ours, clusterKeys), input.hostConfig ?? {});
}

// flannel's wireguard-native ports; the inventory refuses a site link on them already (this is the
// same rule for inventories built in code)
export { FLANNEL_WIREGUARD_PORTS };

/**
 * The node's addresses when its cluster spans sites (lib/inventory/sites.ts): K3s runs on the site
 * link, node-ip = the tunnel address and flannel on the tunnel interface, so nodes of different
 * sites reach each other (and pod traffic between them is encrypted by the link; with
 * flannel_backend: wireguard-native flannel encrypts it itself too, then it crosses the link).
 * Without a span: node_ip when set, as before.
 */
function nodeNetworkKeys(inventory: Inventory, host: HostSpec): Record<string, unknown> {
  const link = inventory.siteLink;
  if (!link || !host.link) return host.nodeIp ? { 'node-ip': host.nodeIp } : {};
  // both would bind the same UDP port on this node, whether the cluster spans sites or not
  const cluster = inventory.clusters.find((c) => c.name === host.cluster);
  if (cluster?.flannelBackend === 'wireguard-native' && FLANNEL_WIREGUARD_PORTS.includes(link.port)) {
    throw new Error(
      `${inventory.file}: site_link.port: ${link.port} is taken on the nodes of cluster "${cluster.name}" by flannel's wireguard-native backend ` +
        `(UDP ${FLANNEL_WIREGUARD_PORTS.join(' and ')}, fixed in K3s): give the site link another port, e.g. 51830`,
    );
  }
  if (!clusterSpansSites(inventory, host.cluster)) return host.nodeIp ? { 'node-ip': host.nodeIp } : {};
  return { 'node-ip': nodeAddress(inventory, host), 'flannel-iface': link.interface };
}

export function serverConfig(input: ConfigInput): Record<string, unknown> {
  const { inventory, settings, host } = input;
  const cluster = settings.cluster;
  const first = firstServer(cluster);
  const isFirst = host.name === first;
  const config: Record<string, unknown> = { 'node-name': host.name };
  if (isFirst && settings.embeddedEtcd) config['cluster-init'] = true;
  if (!isFirst) config.server = apiUrl(nodeAddress(inventory, hostByName(inventory, first)));
  Object.assign(config, nodeNetworkKeys(inventory, host));
  // the tunnel address too: Argo CD on another site reaches this API through the link (apiAddressFromManagement)
  config['tls-san'] = [...new Set([cluster.apiEndpoint, host.address, host.nodeIp, host.link?.address].filter((x): x is string => !!x))];
  const labels = kubeletLabels(host);
  if (labels.length) config['node-label'] = labels;
  if (host.taints.length) config['node-taint'] = [...host.taints];
  // MetalLB and K3s' ServiceLB would both answer for LoadBalancer Services: MetalLB alone then
  const disable = [...settings.disable];
  const metallb = enabledDefs(cluster, inventory.clusters[0]?.name === cluster.name).some((d) => d.name === 'metallb');
  if (metallb && !disable.includes('servicelb')) disable.push('servicelb');
  if (disable.length) config.disable = disable;
  config['write-kubeconfig-mode'] = settings.writeKubeconfigMode;
  config['cluster-cidr'] = cluster.clusterCidr;
  config['service-cidr'] = cluster.serviceCidr;
  config['flannel-backend'] = cluster.flannelBackend;
  if (settings.embeddedEtcd) {
    config['etcd-snapshot-schedule-cron'] = settings.etcdSnapshotSchedule;
    config['etcd-snapshot-retention'] = settings.etcdSnapshotRetention;
  }
  if (input.preferBundledBin) config['prefer-bundled-bin'] = true;
  return withHardening(input, 'server', config, settings.serverConfig);
}

export function agentConfig(input: ConfigInput): Record<string, unknown> {
  const { inventory, settings, host } = input;
  const config: Record<string, unknown> = {
    'node-name': host.name,
    server: apiUrl(joinAddress(inventory, settings.cluster)),
    ...nodeNetworkKeys(inventory, host),
  };
  const labels = kubeletLabels(host);
  if (labels.length) config['node-label'] = labels;
  if (host.taints.length) config['node-taint'] = [...host.taints];
  if (input.preferBundledBin) config['prefer-bundled-bin'] = true;
  return withHardening(input, 'agent', config, settings.agentConfig);
}

export function configYaml(config: Record<string, unknown>): string {
  return HEADER + stringify(config);
}

export function registriesYaml(registries: Record<string, unknown>): string {
  return HEADER + stringify(registries);
}

/** Config keys whose values are better not shown in --diff output (S3 credentials and the like). */
export function hasSecretKeys(config: Record<string, unknown>): boolean {
  // secrets-encryption(-provider) only switch encryption on: no secret value in them
  return Object.keys(config).some((k) => /secret|password|token|access-key/i.test(k) && !/^secrets-encryption/.test(k));
}
