// Syntax rules the JSON Schema cannot say precisely: Kubernetes label keys and taints (segment
// lengths), addresses that look like IPv4 but are not.
import { isIP } from 'node:net';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Problem with a label key per Kubernetes rules (prefix <= 253, name <= 63), or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix.length === 0 || prefix.length > 253 || !prefix.split('.').every((l) => DNS_LABEL.test(l) && l.length <= 63)) {
      return `prefix "${prefix}" must be a DNS subdomain (lowercase, at most 253 characters)`;
    }
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return `name "${name}" must be 1-63 characters: letters, digits, '-', '_', '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    return `value "${value}" must be at most 63 characters: letters, digits, '-', '_', '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

/**
 * Label keys in the kubernetes.io / k8s.io namespaces that a node may not set on itself (the
 * NodeRestriction admission plugin; K3s passes node labels through the kubelet). These are the
 * prefixes it allows.
 */
const KUBELET_ALLOWED = [
  /^kubernetes\.io\/(hostname|arch|os|instance-type)$/,
  /^beta\.kubernetes\.io\//,
  /^failure-domain\.beta\.kubernetes\.io\//,
  /^topology\.kubernetes\.io\/(region|zone)$/,
  /^(node|kubelet)\.kubernetes\.io\//,
  /^[^/]*\.(node|kubelet)\.kubernetes\.io\//,
];

export function isRestrictedLabel(key: string): boolean {
  const slash = key.lastIndexOf('/');
  if (slash < 0) return false;
  const prefix = key.slice(0, slash);
  const restricted = /(^|\.)(kubernetes\.io|k8s\.io)$/.test(prefix);
  return restricted && !KUBELET_ALLOWED.some((re) => re.test(key));
}

export interface Taint {
  key: string;
  value: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

/** Parses "key=value:Effect" or "key:Effect"; returns a reason string when malformed. */
export function parseTaint(text: string): Taint | string {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return `"${text}" has no effect: write key=value:NoSchedule (or PreferNoSchedule, NoExecute)`;
  const effect = text.slice(colon + 1);
  if (!(EFFECTS as readonly string[]).includes(effect)) {
    return `effect "${effect}" must be one of ${EFFECTS.join(', ')}`;
  }
  const [key, value = ''] = text.slice(0, colon).split(/=(.*)/s);
  const keyProblem = labelKeyProblem(key);
  if (keyProblem) return `key ${keyProblem}`;
  const valueProblem = labelValueProblem(value);
  if (valueProblem) return valueProblem;
  return { key, value, effect: effect as Taint['effect'] };
}

/**
 * Problem with a host address, or undefined. The schema accepts DNS names; "192.168.1.300" is a
 * valid DNS name by syntax but certainly a mistyped IPv4 address.
 */
export function addressProblem(address: string): string | undefined {
  if (isIP(address)) return undefined;
  if (/^[\d.]+$/.test(address)) return `"${address}" is not a valid IPv4 address`;
  if (address.length > 253) return 'a DNS name has at most 253 characters';
  return undefined;
}
