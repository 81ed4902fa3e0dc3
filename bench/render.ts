// The GitOps step of a run, timed warm: load the shipped inventory.yaml, render the repository with
// its sealed secrets and validate it offline (lib/gitops renderRepoWithSecrets validates before it
// returns). The first call (module loading, template compilation, the sealing key pair generated
// into a throwaway state directory) is reported apart and not counted in the median.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../lib/inventory/load.ts';
import { renderRepoWithSecrets } from '../lib/gitops/index.ts';
import { median } from './stats.ts';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export interface RenderTiming {
  /** seconds of each warm iteration */
  samples: number[];
  median: number;
  /** the cold first call */
  firstSeconds: number;
  files: number;
}

export async function timeRender(iterations: number, inventoryFile = path.join(ROOT, 'inventory.yaml')): Promise<RenderTiming> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'clusterseed-bench-state-'));
  try {
    const once = async () => {
      const t0 = process.hrtime.bigint();
      const inventory = await loadInventory(inventoryFile);
      const { files } = await renderRepoWithSecrets(inventory, { stateDir });
      return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, files: files.size };
    };
    const first = await once();
    const samples: number[] = [];
    for (let i = 0; i < iterations; i++) samples.push((await once()).seconds);
    return { samples, median: median(samples), firstSeconds: first.seconds, files: first.files };
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}
