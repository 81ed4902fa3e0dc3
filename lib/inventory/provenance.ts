// Remembers, for inventories made by the loader, where in the file each host's settings came
// from, so checks that run later (checkConnectionFiles) can still point at a line.
import type { Inventory } from './model.ts';
import type { HostOrigins } from './normalize.ts';
import type { RawInventory } from './raw.ts';
import type { SourceDoc } from './source.ts';

export interface Provenance {
  source: SourceDoc;
  origins: Map<string, HostOrigins>;
  /** the document as written, for checks that need to know which layer set what (role vars) */
  raw?: RawInventory;
}

const byInventory = new WeakMap<Inventory, Provenance>();

export function rememberProvenance(inventory: Inventory, provenance: Provenance): void {
  byInventory.set(inventory, provenance);
}

export function provenanceOf(inventory: Inventory): Provenance | undefined {
  return byInventory.get(inventory);
}
