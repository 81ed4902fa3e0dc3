// Remembers, for inventories made by the loader, where in the file each host's settings came
// from, so checks that run later (checkConnectionFiles) can still point at a line.
import { formatPath, type FieldPath, type InventoryIssue } from './errors.ts';
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

/**
 * An error issue at an inventory path: the file and line come from the loader's document (the key or
 * the value there), line 0 for inventories built without the loader (tests).
 */
export function issueAt(inventory: Inventory, path: FieldPath, message: string, at: 'key' | 'value' = 'value'): InventoryIssue {
  const source = provenanceOf(inventory)?.source;
  const pos = source ? (at === 'key' ? source.locateKey(path) : source.locateValue(path)) : { line: 0, column: 0 };
  return { file: source?.file ?? inventory.file, line: pos.line, column: pos.column, path: formatPath(path), message, severity: 'error' };
}
