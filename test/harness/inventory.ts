// Writes the inventory.yaml a test hands to clusterseed for the lab's hosts (the agreed format:
// cluster, defaults, hosts, groups). Deliberately small: tests that need more pass `extra`.
import fs from 'node:fs';
import { stringify } from 'yaml';

export interface InventoryHost {
  name: string;
  address: string;
  port: number;
  /** the host's node-network address (labs started with `lan: true`) */
  lanAddress?: string;
}

export interface InventoryOptions {
  /** default: the first host */
  servers?: string[];
  /** default: every host that is not a server */
  agents?: string[];
  /** login user; default admin (passwordless sudo) */
  user?: string;
  /** node_ip = the host's LAN address, for labs started with `lan: true`; default true there */
  nodeIpFromLan?: boolean;
  /** deep-merged over the document, e.g. { defaults: { become_password_env: 'OPERATOR_PW' } } */
  extra?: Record<string, unknown>;
}

export function writeInventoryFile(
  file: string,
  hosts: InventoryHost[],
  access: { keyPath: string; knownHostsFile: string },
  opts: InventoryOptions = {},
): string {
  const names = hosts.map((h) => h.name);
  const servers = opts.servers ?? names.slice(0, 1);
  const agents = opts.agents ?? names.filter((n) => !servers.includes(n));
  for (const name of [...servers, ...agents]) {
    if (!names.includes(name)) throw new Error(`writeInventory: no host named ${name} in this lab (hosts: ${names.join(', ')})`);
  }
  const document = {
    cluster: { name: 'test', k3s_version: 'v1.31.4+k3s1' },
    defaults: { user: opts.user ?? 'admin', become: true, ssh_key: access.keyPath, known_hosts: access.knownHostsFile, port: 22 },
    hosts: Object.fromEntries(
      hosts.map((h) => [
        h.name,
        {
          address: h.address,
          ...(h.port === 22 ? {} : { port: h.port }),
          ...(h.lanAddress && opts.nodeIpFromLan !== false ? { node_ip: h.lanAddress } : {}),
        },
      ]),
    ),
    groups: { servers, agents },
  };
  fs.writeFileSync(file, stringify(mergeDeep(document, opts.extra ?? {})));
  return file;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? mergeDeep(out[key] as Record<string, unknown>, value) : value;
  }
  return out;
}
