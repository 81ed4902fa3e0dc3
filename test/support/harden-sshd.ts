// The sshd config the harden role builds for an OpenSSH version, from its settings over the defaults
// and a host with the three usual host keys: for test/unit/harden.test.ts and test/system/harden-tools.test.ts.
import { buildSshdConfig, readSshdVars, type HostKeyInfo } from '../../roles/harden/sshd.ts';
import { hardenReader } from './harden-firewall.ts';

/** The host keys of a Debian install: ECDSA 256, ED25519, RSA 3072. */
export const KEYS: HostKeyInfo[] = [
  { path: '/etc/ssh/ssh_host_ecdsa_key', bits: 256, type: 'ECDSA' },
  { path: '/etc/ssh/ssh_host_ed25519_key', bits: 256, type: 'ED25519' },
  { path: '/etc/ssh/ssh_host_rsa_key', bits: 3072, type: 'RSA' },
];

export function configFor(version: string, over: Record<string, unknown> = {}, keys = KEYS) {
  return buildSshdConfig(readSshdVars(hardenReader(over), version), version, keys);
}
