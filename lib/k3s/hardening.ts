// K3s hardened by default, after the K3s CIS Hardening Guide (k3s-io/docs
// docs/security/hardening-guide.md @ 035acb07eecd22cec26391cffc047d6d495348ea), adapted to a homelab:
// each measure is a `vars.k3s` key that can be turned off (roles/k3s-server/README.md says why and how).
// This file reads those keys and turns them into config.yaml keys and kubelet/apiserver arguments;
// the files they point at are rendered in server-files.ts.
import { isPlainObject } from '../inventory/merge.ts';

export type PsaLevel = 'privileged' | 'baseline' | 'restricted';
export const PSA_LEVELS: PsaLevel[] = ['privileged', 'baseline', 'restricted'];

export interface PodSecurity {
  enforce: PsaLevel;
  audit: PsaLevel;
  warn: PsaLevel;
  /** namespaces exempt in addition to the built-in list (pod-security.ts) */
  extraExemptNamespaces: string[];
}

export interface AuditLog {
  /** days to keep rotated files (audit-log-maxage) */
  maxAge: number;
  /** rotated files to keep (audit-log-maxbackup) */
  maxBackup: number;
  /** MiB before a file is rotated (audit-log-maxsize) */
  maxSize: number;
}

export interface Hardening {
  secretsEncryption: boolean;
  podSecurity: PodSecurity | false;
  auditLog: AuditLog | false;
  seccompDefault: boolean;
  podMaxPids: number | false;
  streamingConnectionIdleTimeout: string | false;
  protectKernelDefaults: boolean;
  tlsFileModes: boolean;
}

export const DEFAULT_POD_SECURITY: PodSecurity = {
  enforce: 'baseline',
  audit: 'restricted',
  warn: 'restricted',
  extraExemptNamespaces: [],
};
// the guide keeps 10 x 100 MiB for 30 days; a Raspberry Pi's SD card gets 5 x 50 MiB (≤ 300 MiB with the live file)
export const DEFAULT_AUDIT_LOG: AuditLog = { maxAge: 30, maxBackup: 5, maxSize: 50 };
// generous for any one pod (a notebook, a database), small enough that a fork bomb cannot starve the node
export const DEFAULT_POD_MAX_PIDS = 4096;
export const DEFAULT_STREAMING_IDLE_TIMEOUT = '5m';

export const DEFAULT_HARDENING: Hardening = {
  secretsEncryption: true,
  podSecurity: DEFAULT_POD_SECURITY,
  auditLog: DEFAULT_AUDIT_LOG,
  seccompDefault: true,
  podMaxPids: DEFAULT_POD_MAX_PIDS,
  streamingConnectionIdleTimeout: DEFAULT_STREAMING_IDLE_TIMEOUT,
  protectKernelDefaults: true,
  tlsFileModes: true,
};

/** The `vars.k3s` keys read here (settings.ts adds them to its list of known keys). */
export const HARDENING_KEYS = [
  'secrets_encryption',
  'pod_security',
  'audit_log',
  'seccomp_default',
  'pod_max_pids',
  'streaming_connection_idle_timeout',
  'protect_kernel_defaults',
  'tls_file_modes',
];

export const SERVER_DIR = '/var/lib/rancher/k3s/server';
export const PSA_PATH = `${SERVER_DIR}/psa.yaml`;
export const AUDIT_POLICY_PATH = `${SERVER_DIR}/audit.yaml`;
export const AUDIT_LOG_DIR = `${SERVER_DIR}/logs`;
export const AUDIT_LOG_PATH = `${AUDIT_LOG_DIR}/audit.log`;

const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Reads the hardening keys of a `vars.k3s` mapping; `fail(field, message)` throws the settings error. */
export function readHardening(raw: Record<string, unknown>, fail: (field: string, message: string) => never): Hardening {
  const bool = (key: string, dflt: boolean): boolean => {
    const v = raw[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') fail(key, 'expected true or false');
    return v as boolean;
  };
  const wholeNumber = (field: string, v: unknown, min: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(field, `expected a whole number >= ${min}`);
    return v as number;
  };
  /** `false` turns it off, `true` or absent keeps the defaults, a mapping overrides some of them */
  const section = (key: string, allowed: string[]): Record<string, unknown> | false => {
    const v = raw[key];
    if (v === undefined || v === true) return {};
    if (v === false) return false;
    if (!isPlainObject(v)) fail(key, `expected false, true or a mapping with ${allowed.join(', ')}`);
    for (const k of Object.keys(v as object))
      if (!allowed.includes(k)) fail(`${key}.${k}`, `unknown setting (known: ${allowed.join(', ')})`);
    return v as Record<string, unknown>;
  };

  let podSecurity: PodSecurity | false = false;
  const ps = section('pod_security', ['enforce', 'audit', 'warn', 'exempt_namespaces']);
  if (ps) {
    const level = (k: 'enforce' | 'audit' | 'warn'): PsaLevel => {
      const v = ps[k] ?? DEFAULT_POD_SECURITY[k];
      if (!PSA_LEVELS.includes(v as PsaLevel)) fail(`pod_security.${k}`, `expected one of ${PSA_LEVELS.join(', ')}`);
      return v as PsaLevel;
    };
    const ns = ps.exempt_namespaces ?? [];
    if (!Array.isArray(ns) || ns.some((n) => typeof n !== 'string' || !NAMESPACE_RE.test(n))) {
      fail('pod_security.exempt_namespaces', 'expected a list of namespace names (lower case letters, digits and -)');
    }
    podSecurity = { enforce: level('enforce'), audit: level('audit'), warn: level('warn'), extraExemptNamespaces: [...(ns as string[])] };
  }

  let auditLog: AuditLog | false = false;
  const al = section('audit_log', ['max_age', 'max_backup', 'max_size']);
  if (al) {
    auditLog = {
      maxAge: wholeNumber('audit_log.max_age', al.max_age ?? DEFAULT_AUDIT_LOG.maxAge, 1),
      maxBackup: wholeNumber('audit_log.max_backup', al.max_backup ?? DEFAULT_AUDIT_LOG.maxBackup, 1),
      maxSize: wholeNumber('audit_log.max_size', al.max_size ?? DEFAULT_AUDIT_LOG.maxSize, 1),
    };
  }

  let podMaxPids: number | false = DEFAULT_POD_MAX_PIDS;
  if (raw.pod_max_pids === false) podMaxPids = false;
  else if (raw.pod_max_pids !== undefined) podMaxPids = wholeNumber('pod_max_pids', raw.pod_max_pids, 64);

  let timeout: string | false = DEFAULT_STREAMING_IDLE_TIMEOUT;
  const t = raw.streaming_connection_idle_timeout;
  if (t === false) timeout = false;
  else if (t !== undefined) {
    // a Go duration; 0 would mean "never time out", which is what the CIS check forbids
    if (typeof t !== 'string' || !/^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$/.test(t) || /^0+(h|m|s|ms)$/.test(t)) {
      fail('streaming_connection_idle_timeout', 'expected a duration above zero like "5m" or "1h30m", or false');
    }
    timeout = t as string;
  }

  return {
    secretsEncryption: bool('secrets_encryption', DEFAULT_HARDENING.secretsEncryption),
    podSecurity,
    auditLog,
    seccompDefault: bool('seccomp_default', DEFAULT_HARDENING.seccompDefault),
    podMaxPids,
    streamingConnectionIdleTimeout: timeout,
    protectKernelDefaults: bool('protect_kernel_defaults', DEFAULT_HARDENING.protectKernelDefaults),
    tlsFileModes: bool('tls_file_modes', DEFAULT_HARDENING.tlsFileModes),
  };
}

/** kubelet arguments of every node (`kubelet-arg:`), servers and agents alike. */
export function kubeletArgs(h: Hardening): string[] {
  const args: string[] = [];
  if (h.seccompDefault) args.push('seccomp-default=true');
  if (h.podMaxPids !== false) args.push(`pod-max-pids=${h.podMaxPids}`);
  if (h.streamingConnectionIdleTimeout !== false) args.push(`streaming-connection-idle-timeout=${h.streamingConnectionIdleTimeout}`);
  return args;
}

/** kube-apiserver arguments of servers (`kube-apiserver-arg:`). */
export function apiserverArgs(h: Hardening): string[] {
  const args: string[] = [];
  if (h.podSecurity) args.push(`admission-control-config-file=${PSA_PATH}`);
  if (h.auditLog) {
    args.push(
      `audit-policy-file=${AUDIT_POLICY_PATH}`,
      `audit-log-path=${AUDIT_LOG_PATH}`,
      `audit-log-maxage=${h.auditLog.maxAge}`,
      `audit-log-maxbackup=${h.auditLog.maxBackup}`,
      `audit-log-maxsize=${h.auditLog.maxSize}`,
    );
  }
  return args;
}

/** The hardening keys of a node's config.yaml. `protectKernelDefaults` is decided per host (see node-tasks.ts). */
export function hardeningConfig(h: Hardening, kind: 'server' | 'agent', protectKernelDefaults: boolean): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  if (kind === 'server' && h.secretsEncryption) config['secrets-encryption'] = true;
  if (protectKernelDefaults) config['protect-kernel-defaults'] = true;
  if (kind === 'server') {
    const api = apiserverArgs(h);
    if (api.length) config['kube-apiserver-arg'] = api;
  }
  const kubelet = kubeletArgs(h);
  if (kubelet.length) config['kubelet-arg'] = kubelet;
  return config;
}

/** Keys whose values are lists of `name=value` arguments for one Kubernetes component. */
export const ARG_LIST_KEYS = [
  'kube-apiserver-arg',
  'kubelet-arg',
  'kube-controller-manager-arg',
  'kube-scheduler-arg',
  'kube-proxy-arg',
  'etcd-arg',
];

const argName = (arg: string) => arg.split('=')[0].replace(/^--/, '');

/**
 * Config keys of the inventory over clusterseed's own: plain keys replace, argument lists are joined
 * and an inventory argument replaces clusterseed's argument of the same name (so `kubelet-arg:
 * [max-pods=50]` keeps seccomp-default, and `kubelet-arg: [pod-max-pids=8192]` replaces 4096).
 */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const mine = out[k];
    if (ARG_LIST_KEYS.includes(k) && Array.isArray(mine)) {
      const theirs = (Array.isArray(v) ? v : [v]).map(String);
      const names = new Set(theirs.map(argName));
      out[k] = [...mine.filter((a) => !names.has(argName(String(a)))), ...theirs];
    } else {
      out[k] = v;
    }
  }
  return out;
}
