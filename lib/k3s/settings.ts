// K3s settings of one cluster: the inventory's cluster keys plus the free-form `vars: {k3s: {...}}`
// of that cluster, checked here (the schema leaves cluster vars open) with errors that name the
// inventory file and the field.
import type { ClusterSpec, HostSpec, Inventory } from '../inventory/model.ts';
import { isPlainObject } from '../inventory/merge.ts';
import { clusterSpansSites, nodeAddress as siteNodeAddress } from '../inventory/sites.ts';
import { expandPath } from '../inventory/paths.ts';
import type { HostContext } from '../runner/types.ts';
import { DEFAULT_K3S_RELEASES } from './release.ts';
import { PSA_LEVELS, readHardening, type Hardening } from './hardening.ts';
import { roleSettings, type RoleSettings } from '../settings/index.ts';
import { UserError } from '../report/user-error.ts';

export interface K3sSettings {
  cluster: ClusterSpec;
  /** packaged components not to deploy (`disable:` in the server config), e.g. traefik */
  disable: string[];
  /** embedded etcd (cluster-init on the first server); default: more than one server */
  embeddedEtcd: boolean;
  etcdSnapshotSchedule: string;
  etcdSnapshotRetention: number;
  /** upload k3s-airgap-images-<arch>.tar.zst to every node */
  airgapImages: boolean;
  /** content of /etc/rancher/k3s/registries.yaml (absent: no file) */
  registries?: Record<string, unknown>;
  /** extra keys of the server / agent config.yaml */
  serverConfig: Record<string, unknown>;
  agentConfig: Record<string, unknown>;
  /** extra variables for the service env files (e.g. HTTP_PROXY, CONTAINERD_*) */
  env: Record<string, string>;
  /** local kubeconfig file the cluster's context is merged into */
  kubeconfig: string;
  /** API URL for the local kubeconfig when the control machine reaches the API another way than the nodes */
  kubeconfigServer?: string;
  /** how long a (re)started node may take to become Ready */
  readyTimeoutMs: number;
  writeKubeconfigMode: string;
  /** force `prefer-bundled-bin` on or off; undefined: decided from the host's iptables version */
  preferBundledBin?: boolean;
  /** CIS hardening measures (hardening.ts), each on unless the inventory turns it off */
  hardening: Hardening;
}

/**
 * `vars.k3s` of a cluster: its keys and defaults in lib/k3s/defaults.yaml (roles/k3s-server/README.md
 * lists them), checked with the role settings of every role before any host is touched
 * (roles/vars-specs.ts); what the types cannot say (owned config keys, a cron expression, an env
 * variable's name) is checked by readSettings below.
 */
export const k3sSettingsSpec: RoleSettings = roleSettings('k3s', import.meta.url, {
  what: 'K3s',
  readme: 'roles/k3s-server/README.md',
  // K3s' own keys: config.yaml flags, registries.yaml, env-file variables
  open: ['registries', 'server_config', 'agent_config', 'env'],
  types: {
    embedded_etcd: 'boolean',
    etcd_snapshot_retention: { type: 'integer', min: 1 },
    registries: 'mapping',
    kubeconfig: 'string',
    kubeconfig_server: 'string',
    ready_timeout: 'number',
    prefer_bundled_bin: 'boolean',
    pod_security: { type: 'mapping', off: true },
    'pod_security.enforce': { type: 'string', oneOf: PSA_LEVELS },
    'pod_security.audit': { type: 'string', oneOf: PSA_LEVELS },
    'pod_security.warn': { type: 'string', oneOf: PSA_LEVELS },
    audit_log: { type: 'mapping', off: true },
    'audit_log.max_age': { type: 'integer', min: 1 },
    'audit_log.max_backup': { type: 'integer', min: 1 },
    'audit_log.max_size': { type: 'integer', min: 1 },
    pod_max_pids: { type: 'integer', min: 64, off: true },
    streaming_connection_idle_timeout: { type: 'string', off: true },
  },
});

const K3S_DEFAULTS = k3sSettingsSpec.defaults;
export const DEFAULT_ETCD_SNAPSHOT_SCHEDULE = K3S_DEFAULTS.etcd_snapshot_schedule as string;
export const DEFAULT_ETCD_SNAPSHOT_RETENTION = K3S_DEFAULTS.etcd_snapshot_retention as number;
export const DEFAULT_READY_TIMEOUT_S = K3S_DEFAULTS.ready_timeout as number;
const DEFAULT_WRITE_KUBECONFIG_MODE = K3S_DEFAULTS.write_kubeconfig_mode as string;

/** config.yaml keys clusterseed derives from the inventory; setting them in *_config is an error */
export const OWNED_KEYS = [
  'token',
  'token-file',
  'agent-token',
  'server',
  'cluster-init',
  'node-name',
  'node-label',
  'node-taint',
  'data-dir',
];

export class K3sSettingsError extends UserError {}

export function clusterOf(inventory: Inventory, host: HostSpec): ClusterSpec {
  const cluster = inventory.clusters.find((c) => c.name === host.cluster);
  if (!cluster) throw new Error(`host ${host.name} belongs to no cluster of the inventory`);
  return cluster;
}

const cache = new WeakMap<ClusterSpec, K3sSettings>();

export function k3sSettings(inventory: Inventory, cluster: ClusterSpec): K3sSettings {
  const hit = cache.get(cluster);
  if (hit) return hit;
  const settings = readSettings(inventory, cluster);
  cache.set(cluster, settings);
  return settings;
}

export function settingsFor(ctx: HostContext): K3sSettings {
  return k3sSettings(ctx.inventory, clusterOf(ctx.inventory, ctx.host));
}

function readSettings(inventory: Inventory, cluster: ClusterSpec): K3sSettings {
  const raw = cluster.vars.k3s ?? {};
  const where = (field: string) => `${inventory.file}: cluster "${cluster.name}": vars.k3s${field ? `.${field}` : ''}`;
  if (!isPlainObject(raw)) throw new K3sSettingsError(`${where('')}: expected a mapping of K3s settings`);
  const known = Object.keys(K3S_DEFAULTS);
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) throw new K3sSettingsError(`${where(key)}: unknown setting (known: ${known.join(', ')})`);
  }
  const stringList = (key: string): string[] => {
    const v = raw[key];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new K3sSettingsError(`${where(key)}: expected a list of strings`);
    return v as string[];
  };
  const bool = (key: string): boolean | undefined => {
    const v = raw[key];
    if (v !== undefined && typeof v !== 'boolean') throw new K3sSettingsError(`${where(key)}: expected true or false`);
    return v as boolean | undefined;
  };
  const mapping = (key: string): Record<string, unknown> | undefined => {
    const v = raw[key];
    if (v !== undefined && !isPlainObject(v)) throw new K3sSettingsError(`${where(key)}: expected a mapping`);
    return v as Record<string, unknown> | undefined;
  };
  const configKeys = (key: string): Record<string, unknown> => {
    const m = mapping(key) ?? {};
    for (const k of Object.keys(m)) {
      if (OWNED_KEYS.includes(k)) {
        const hint =
          k.startsWith('token') || k === 'agent-token'
            ? ' (the token lives in token_file and never in config.yaml)'
            : ' (clusterseed sets it from the inventory)';
        throw new K3sSettingsError(`${where(`${key}.${k}`)}: may not be set here${hint}`);
      }
    }
    return m;
  };
  const retention = raw.etcd_snapshot_retention ?? DEFAULT_ETCD_SNAPSHOT_RETENTION;
  if (typeof retention !== 'number' || !Number.isInteger(retention) || retention < 1) {
    throw new K3sSettingsError(`${where('etcd_snapshot_retention')}: expected a whole number of snapshots >= 1`);
  }
  const schedule = raw.etcd_snapshot_schedule ?? DEFAULT_ETCD_SNAPSHOT_SCHEDULE;
  if (typeof schedule !== 'string' || schedule.trim().split(/\s+/).length !== 5) {
    throw new K3sSettingsError(
      `${where('etcd_snapshot_schedule')}: expected a cron expression with 5 fields, e.g. "${DEFAULT_ETCD_SNAPSHOT_SCHEDULE}"`,
    );
  }
  const timeout = raw.ready_timeout ?? DEFAULT_READY_TIMEOUT_S;
  if (typeof timeout !== 'number' || !(timeout > 0)) throw new K3sSettingsError(`${where('ready_timeout')}: expected seconds > 0`);
  const mode = raw.write_kubeconfig_mode ?? DEFAULT_WRITE_KUBECONFIG_MODE;
  if (typeof mode !== 'string' || !/^0?[0-7]{3}$/.test(mode))
    throw new K3sSettingsError(`${where('write_kubeconfig_mode')}: expected an octal mode string like "0600"`);
  const env = mapping('env') ?? {};
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new K3sSettingsError(`${where(`env.${k}`)}: not a valid variable name`);
    if (k === 'K3S_TOKEN' || k === 'K3S_URL') throw new K3sSettingsError(`${where(`env.${k}`)}: clusterseed sets ${k} itself`);
    if (typeof v !== 'string' || /['\n]/.test(v))
      throw new K3sSettingsError(`${where(`env.${k}`)}: expected a string without quotes or newlines`);
  }
  const kubeconfig = raw.kubeconfig ?? `.clusterseed/${cluster.name}/kubeconfig`;
  if (typeof kubeconfig !== 'string' || !kubeconfig) throw new K3sSettingsError(`${where('kubeconfig')}: expected a file path`);
  const kubeconfigServer = raw.kubeconfig_server;
  if (kubeconfigServer !== undefined && (typeof kubeconfigServer !== 'string' || !/^https:\/\/[^/\s]+\/?$/.test(kubeconfigServer))) {
    throw new K3sSettingsError(
      `${where('kubeconfig_server')}: expected an https URL of the API without a path, e.g. "https://127.0.0.1:16443"`,
    );
  }
  const embedded = bool('embedded_etcd');
  return {
    cluster,
    disable: stringList('disable'),
    embeddedEtcd: embedded ?? cluster.servers.length > 1,
    etcdSnapshotSchedule: schedule,
    etcdSnapshotRetention: retention,
    airgapImages: bool('airgap_images') ?? false,
    registries: mapping('registries'),
    serverConfig: configKeys('server_config'),
    agentConfig: configKeys('agent_config'),
    env: env as Record<string, string>,
    kubeconfig: expandPath(kubeconfig, inventory.dir),
    kubeconfigServer: kubeconfigServer?.replace(/\/$/, ''),
    readyTimeoutMs: timeout * 1000,
    writeKubeconfigMode: mode.padStart(4, '0'),
    preferBundledBin: bool('prefer_bundled_bin'),
    hardening: readHardening(raw, (field, message) => {
      throw new K3sSettingsError(`${where(field)}: ${message}`);
    }),
  };
}

/** The server that initialises the cluster (the first one listed in `servers`). */
export function firstServer(cluster: ClusterSpec): string {
  const first = cluster.servers[0];
  if (!first) throw new Error(`cluster "${cluster.name}" has no server`);
  return first;
}

export function hostByName(inventory: Inventory, name: string): HostSpec {
  const host = inventory.hosts.find((h) => h.name === name);
  if (!host) throw new Error(`no host "${name}" in the inventory`);
  return host;
}

/** https URL of an address on the K3s port (IPv6 addresses in brackets). */
export function apiUrl(address: string, port = 6443): string {
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  return `https://${host}:${port}`;
}

/** The address other nodes reach a host at: its node_ip, else the address clusterseed connects to. */
export function nodeAddress(host: HostSpec): string {
  return host.nodeIp ?? host.address;
}

/** Where agents reach the API: the VIP/DNS name, else the first server's node address. */
export function apiAddress(inventory: Inventory, cluster: ClusterSpec): string {
  return cluster.apiEndpoint ?? nodeAddress(hostByName(inventory, firstServer(cluster)));
}

/**
 * Where joining agents reach the API: as apiAddress, except in a cluster that spans sites, where
 * they join through the first server's tunnel address (the one address every site reaches; a VIP
 * lives on one site's LAN). The kubeconfig of the control machine keeps apiAddress.
 */
export function joinAddress(inventory: Inventory, cluster: ClusterSpec): string {
  const first = hostByName(inventory, firstServer(cluster));
  if (first.link && clusterSpansSites(inventory, cluster.name)) return siteNodeAddress(inventory, first);
  return apiAddress(inventory, cluster);
}

/** The API URL written into the local kubeconfig: vars.k3s.kubeconfig_server, else the agents' one. */
export function kubeconfigServer(inventory: Inventory, settings: K3sSettings): string {
  return settings.kubeconfigServer ?? apiUrl(apiAddress(inventory, settings.cluster));
}

/** The release base URL: --k3s-mirror (ctx.shared 'k3s.mirror'), else the inventory, else GitHub. */
export function releaseBase(ctx: HostContext): string {
  const flag = ctx.shared.get('k3s.mirror');
  if (typeof flag === 'string' && flag) return flag;
  return settingsFor(ctx).cluster.k3sMirror ?? DEFAULT_K3S_RELEASES;
}

export function isServer(host: HostSpec): boolean {
  return host.groups.includes('servers');
}

export function isAgent(host: HostSpec): boolean {
  return host.groups.includes('agents') && !isServer(host);
}

/** A host's own config.yaml keys from its role vars (`vars: {k3s-agent: {config: {node-ip: ...}}}`). */
export function hostConfigKeys(ctx: HostContext, role: string): Record<string, unknown> {
  const value = ctx.vars.config;
  const where = `${ctx.inventory.file}: host "${ctx.host.name}": vars.${role}.config`;
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw new K3sSettingsError(`${where}: expected a mapping of K3s config keys`);
  for (const k of Object.keys(value)) {
    if (OWNED_KEYS.includes(k))
      throw new K3sSettingsError(
        `${where}.${k}: may not be set here (clusterseed sets it from the inventory${k.includes('token') ? '; the token lives in token_file' : ''})`,
      );
  }
  return value;
}
