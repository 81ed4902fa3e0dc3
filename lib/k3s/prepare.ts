// The run's K3s artifacts, prepared once for every cluster and architecture of the run (after facts,
// before any K3s file is written anywhere): every host awaits the same promise, so one bad release
// file fails every host before its first change.
import type { HostContext } from '../runner/types.ts';
import { prepareK3sArtifacts, type ArchArtifacts } from './artifacts.ts';
import { releaseArch, type ReleaseArch } from './release.ts';
import { clusterOf, isAgent, isServer, k3sSettings, releaseBase } from './settings.ts';

type RunArtifacts = Map<string, Map<ReleaseArch['arch'], ArchArtifacts>>;

const KEY = 'k3s.artifacts';

export function isK3sNode(ctx: HostContext): boolean {
  return isServer(ctx.host) || isAgent(ctx.host);
}

async function prepareAll(ctx: HostContext): Promise<RunArtifacts> {
  const byCluster = new Map<string, { ctx: HostContext; arches: ReleaseArch[] }>();
  for (const peer of ctx.peers.values()) {
    if (!isK3sNode(peer) || !peer.facts.arch) continue; // unreachable hosts have no facts
    const cluster = clusterOf(peer.inventory, peer.host);
    const entry = byCluster.get(cluster.name) ?? { ctx: peer, arches: [] };
    entry.arches.push(releaseArch(peer.facts.arch));
    byCluster.set(cluster.name, entry);
  }
  const out: RunArtifacts = new Map();
  for (const [name, { ctx: peer, arches }] of byCluster) {
    const cluster = clusterOf(peer.inventory, peer.host);
    const settings = k3sSettings(peer.inventory, cluster);
    const cacheRoot = ctx.shared.get('k3s.cacheDir');
    const artifacts = await prepareK3sArtifacts({
      baseUrl: releaseBase(peer),
      version: cluster.k3sVersion,
      arches,
      airgapImages: settings.airgapImages,
      cacheRoot: typeof cacheRoot === 'string' ? cacheRoot : undefined,
      log: (line) => ctx.log.info(line),
    });
    out.set(name, artifacts);
  }
  return out;
}

/** Prepares (once per run) and returns the artifacts of every cluster of the run. */
export function runArtifacts(ctx: HostContext): Promise<RunArtifacts> {
  let pending = ctx.shared.get(KEY) as Promise<RunArtifacts> | undefined;
  if (!pending) {
    pending = prepareAll(ctx);
    pending.catch(() => undefined); // every host reports the failure itself
    ctx.shared.set(KEY, pending);
  }
  return pending;
}

/** This host's binary (and image bundle) after the whole run's artifacts are verified. */
export async function hostArtifacts(ctx: HostContext): Promise<ArchArtifacts> {
  const all = await runArtifacts(ctx);
  const cluster = clusterOf(ctx.inventory, ctx.host);
  const arch = releaseArch(ctx.facts.arch).arch;
  const found = all.get(cluster.name)?.get(arch);
  if (!found) throw new Error(`no K3s artifacts were prepared for ${ctx.host.name} (${ctx.facts.arch || 'no facts'})`);
  return found;
}
