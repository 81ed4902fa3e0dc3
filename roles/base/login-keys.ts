// Refused before any host is touched: `admin_keys_exclusive: true` with a key set that holds none
// of the keys the control machine logs in with, for a host whose admin user is the user clusterseed
// connects as. Writing that authorized_keys would end every later run at "authentication failed".
// The control machine's keys are the inventory's ssh_key and ssh-agent's (lib/ssh/identities.ts).
import type { Inventory, HostSpec } from '../../lib/inventory/model.ts';
import type { FieldPath } from '../../lib/inventory/errors.ts';
import { provenanceOf } from '../../lib/inventory/provenance.ts';
import { deepMerge } from '../../lib/runner/merge.ts';
import { agentIdentities, controlIdentities, keyIdentity } from '../../lib/ssh/identities.ts';
import { adminUserName, collectAdminKeys, exclusiveKeysRefusal } from './admin.ts';
import { VarsError, VarsReader, hostVarsLayers, throwIfProblems, type Problem } from '../../lib/settings/index.ts';

/** Where the inventory sets vars.base.<key> for this host (host vars win over group vars over top-level vars). */
function varsPath(inventory: Inventory, host: HostSpec, key: string): FieldPath | undefined {
  const raw = provenanceOf(inventory)?.raw;
  if (!raw) return undefined;
  const layers = hostVarsLayers(raw).filter(
    ({ path: p }) =>
      p[0] === 'vars' || (p[0] === 'groups' && host.groups.includes(String(p[1]))) || (p[0] === 'hosts' && p[1] === host.name),
  );
  const rank = (p: FieldPath) => (p[0] === 'hosts' ? 2 : p[0] === 'groups' ? 1 : 0);
  const setting = layers
    .filter(({ vars }) => {
      const base = (vars as Record<string, unknown> | null)?.base;
      return typeof base === 'object' && base !== null && key in base;
    })
    .sort((a, b) => rank(b.path) - rank(a.path))[0];
  return setting ? [...setting.path, 'base', key] : undefined;
}

/** The hosts whose exclusive admin keys would lock clusterseed out, as inventory problems. */
export async function adminKeysLockoutProblems(
  inventory: Inventory,
  baseDefaults: Record<string, unknown>,
  agentKeys?: string[],
): Promise<Problem[]> {
  const problems: Problem[] = [];
  let agent = agentKeys;
  for (const host of inventory.hosts) {
    let keys: string[];
    try {
      const vars = deepMerge(baseDefaults, (host.vars.base as Record<string, unknown>) ?? {});
      const r = VarsReader.of({ inventory, host, vars }, 'base');
      if (!r.bool('admin_keys_exclusive')) continue;
      if (adminUserName(host, inventory, baseDefaults) !== host.user) continue;
      keys = collectAdminKeys(r, host, inventory.dir);
    } catch (err) {
      // a malformed var is reported with its field by the role (or the vars check) itself
      if (err instanceof VarsError) continue;
      throw err;
    }
    if (keys.length === 0) continue; // nothing to write: the task keeps the file and says why
    agent ??= await agentIdentities();
    const control = await controlIdentities(host.sshKey, process.env.SSH_AUTH_SOCK ? agent : undefined);
    const wanted = new Set(keys.map((k) => keyIdentity(k)));
    if ([...control.keys].some((k) => wanted.has(k))) continue;
    const path = varsPath(inventory, host, 'admin_keys') ?? varsPath(inventory, host, 'admin_keys_exclusive') ?? ['hosts', host.name];
    problems.push({ path, message: `host ${host.name}: ${exclusiveKeysRefusal(host.user, control.sources)}`, at: 'value' });
  }
  return problems;
}

/** Throws InventoryError (file:line:column) for every such host; nothing has been touched yet. */
export async function checkAdminKeysKeepLogin(inventory: Inventory, baseDefaults: Record<string, unknown>): Promise<void> {
  throwIfProblems(inventory, await adminKeysLockoutProblems(inventory, baseDefaults));
}
