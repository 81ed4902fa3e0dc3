// Inventory loading: YAML (with positions) → JSON Schema → cross-field checks → normalized model.
// Every user mistake ends as one InventoryError listing all problems found, file:line:col each.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InventoryError, formatIssue, type InventoryIssue } from './errors.ts';
import { readLayout } from './layout.ts';
import type { Inventory } from './model.ts';
import { normalize } from './normalize.ts';
import { rememberProvenance } from './provenance.ts';
import type { RawInventory } from './raw.ts';
import { describe, validateAgainstSchema } from './schema.ts';
import { checkSemantics } from './semantic.ts';
import { parseYamlSource } from './source.ts';

export { InventoryError, isInventoryError, formatIssue, type InventoryIssue } from './errors.ts';
export { checkConnectionFiles, checkKubeconfigFiles } from './connection-files.ts';

/** Reads and checks an inventory file. Throws InventoryError for anything wrong in it. */
export async function loadInventory(file: string): Promise<Inventory> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new InventoryError([{ file, line: 0, column: 0, path: '', message: `cannot read the inventory: ${reason}`, severity: 'error' }]);
  }
  return parseInventory(text, file);
}

/**
 * Checks inventory text. `file` names it in messages and anchors relative paths (its directory).
 * Throws InventoryError with every problem found; warnings end up in `inventory.warnings`.
 */
export function parseInventory(text: string, file: string): Inventory {
  const { source, data, issues } = parseYamlSource(text, file);
  if (issues.length) throw new InventoryError(issues);

  const at1 = (message: string, expected?: string): InventoryIssue => {
    const { line, column } = source.position(undefined);
    return { file, line, column, path: '', message, expected, severity: 'error' };
  };
  if (data === null || data === undefined) {
    throw new InventoryError([at1('the inventory is empty: it needs cluster, hosts and groups (see docs/inventory.md)', 'a mapping')]);
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new InventoryError([at1(`the top level must be a mapping with cluster, hosts and groups (got ${describe(data)})`, 'a mapping')]);
  }

  const schemaIssues = validateAgainstSchema(data, source);
  if (schemaIssues.length) throw new InventoryError(schemaIssues);

  const raw = data as RawInventory;
  const absolute = path.resolve(file);
  const dir = path.dirname(absolute);
  const { errors, warnings, kubeconfigServers } = checkSemantics(raw, source, dir);
  if (errors.length) throw new InventoryError(errors, warnings);

  const { inventory, origins } = normalize(raw, readLayout(raw, source), absolute, dir, kubeconfigServers);
  if (warnings.length) inventory.warnings = warnings.map(formatIssue);
  rememberProvenance(inventory, { source, origins, raw });
  return inventory;
}
