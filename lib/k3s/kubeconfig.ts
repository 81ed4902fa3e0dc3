// The admin kubeconfig K3s writes on a server (/etc/rancher/k3s/k3s.yaml, entries named "default",
// server https://127.0.0.1:6443), turned into entries named after the cluster that point at the
// cluster's API address, and merged into a local kubeconfig without touching other entries.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse, stringify } from 'yaml';
import { registerSecret } from '../report/mask.ts';
import { ensurePrivateDir } from './private-dir.ts';
import { writePrivate } from '../state/private-files.ts';

export interface KubeEntries {
  cluster: Record<string, unknown>;
  user: Record<string, unknown>;
}

type Named = { name: string; [k: string]: unknown };

function asList(value: unknown): Named[] {
  return Array.isArray(value) ? value.filter((x): x is Named => !!x && typeof x === 'object' && typeof (x as Named).name === 'string') : [];
}

/** The cluster and user of K3s's kubeconfig, server URL replaced; key material registered as secret. */
export function entriesFromK3s(k3sYaml: string, serverUrl: string): KubeEntries {
  const doc = parse(k3sYaml) as Record<string, unknown> | null;
  const cluster = asList(doc?.clusters)[0]?.cluster as Record<string, unknown> | undefined;
  const user = asList(doc?.users)[0]?.user as Record<string, unknown> | undefined;
  if (!cluster || !user) throw new Error('the K3s kubeconfig has no cluster or user entry');
  for (const key of ['client-key-data', 'client-certificate-data', 'token', 'password']) {
    if (typeof user[key] === 'string') registerSecret(user[key] as string);
  }
  return { cluster: { ...cluster, server: serverUrl }, user: { ...user } };
}

function upsert(list: Named[], entry: Named): Named[] {
  const at = list.findIndex((x) => x.name === entry.name);
  if (at < 0) return [...list, entry];
  const out = [...list];
  out[at] = entry;
  return out;
}

/**
 * `existing` (a kubeconfig document or undefined) with a cluster, user and context named `name`
 * set to `entries`. current-context is set only when the file has none.
 */
export function mergeKubeconfig(
  existing: Record<string, unknown> | undefined,
  name: string,
  entries: KubeEntries,
): Record<string, unknown> {
  const base: Record<string, unknown> = existing ? { ...existing } : {};
  const merged: Record<string, unknown> = {
    apiVersion: base.apiVersion ?? 'v1',
    kind: base.kind ?? 'Config',
    ...base,
    clusters: upsert(asList(base.clusters), { name, cluster: entries.cluster }),
    users: upsert(asList(base.users), { name, user: entries.user }),
    contexts: upsert(asList(base.contexts), { name, context: { cluster: name, user: name } }),
  };
  if (!merged['current-context']) merged['current-context'] = name;
  if (merged.preferences === undefined) merged.preferences = {};
  return merged;
}

/** Removes the cluster's entries (reset); current-context is cleared when it named the cluster. */
export function removeFromKubeconfig(existing: Record<string, unknown>, name: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...existing };
  for (const key of ['clusters', 'users', 'contexts']) out[key] = asList(existing[key]).filter((x) => x.name !== name);
  if (out['current-context'] === name) out['current-context'] = '';
  return out;
}

export function readKubeconfig(file: string): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined;
  const doc = parse(readFileSync(file, 'utf8'));
  if (doc === null || doc === undefined) return undefined;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${file} is not a kubeconfig (expected a mapping)`);
  return doc as Record<string, unknown>;
}

export function sameKubeconfig(a: Record<string, unknown> | undefined, b: Record<string, unknown>): boolean {
  return !!a && isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
}

/** Writes atomically with mode 0600 (lib/state: temp file in the same directory, fsync, rename). */
export function writeKubeconfig(file: string, doc: Record<string, unknown>): void {
  ensurePrivateDir(path.dirname(file));
  writePrivate(file, stringify(doc));
}
