// Everything the CLIs check before a host is contacted and before anything is written: the --json
// path, the inventory (file, YAML, schema, role vars of every host), --limit and --tags names, the
// key and known_hosts files of the hosts that will be contacted. Bad input is refused here with a
// message naming the flag, file, line or field (exit 1), never halfway through a run.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from './args.ts';
import { loadInventory, checkConnectionFiles, checkKubeconfigFiles } from '../lib/inventory/load.ts';
import { fileInTheWay } from '../lib/inventory/paths.ts';
import type { HostSpec, Inventory } from '../lib/inventory/model.ts';
import { selectHosts } from '../lib/runner/run-site.ts';
import type { Role } from '../lib/runner/types.ts';
import { factsRole } from '../lib/runner/facts-role.ts';
import { checkInventoryVars } from '../roles/vars-specs.ts';
import { preflightRoleVars } from '../roles/vars-preflight.ts';

/** The report is written at the end of a run: a path that cannot take it must stop the run before it starts. */
export function checkJsonPath(file: string): void {
  checkOutputPath('--json', file);
}

/** A file a command writes at its end (--json, bench --markdown): writable, or creatable in an existing directory. */
export function checkOutputPath(name: string, file: string): void {
  const flag = `${name} ${file}`;
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const blocker = code === 'ENOTDIR' ? fileInTheWay(file) : undefined;
    if (blocker) throw new UsageError(`${flag}: ${blocker} is not a directory`);
    if (code !== 'ENOENT') throw new UsageError(`${flag}: cannot use this path (${code})`);
  }
  if (st) {
    if (st.isDirectory()) throw new UsageError(`${flag}: is a directory; give a file name`);
    if (!st.isFile()) throw new UsageError(`${flag}: is not a regular file`);
    try {
      accessSync(file, constants.W_OK);
    } catch (err) {
      throw new UsageError(`${flag}: the file is not writable (${(err as NodeJS.ErrnoException).code})`);
    }
    return;
  }
  const dir = path.dirname(file);
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag}: the directory ${dir} ${code === 'ENOENT' ? 'does not exist' : `cannot be used (${code})`}`);
  }
  if (!dirStat.isDirectory()) throw new UsageError(`${flag}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new UsageError(`${flag}: the directory ${dir} is not writable (${(err as NodeJS.ErrnoException).code})`);
  }
}

/**
 * The state directory next to the inventory (.clusterseed: sealing keys, tokens, publish state) is
 * written by every site run: a directory that cannot be created or written stops the run here.
 */
export function checkStateDir(dir: string): void {
  let at = dir;
  for (;;) {
    let st;
    try {
      st = statSync(at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && path.dirname(at) !== at) {
        at = path.dirname(at);
        continue;
      }
      throw new UsageError(`the state directory ${dir} (keys, tokens and publish state, next to the inventory) cannot be used (${code})`);
    }
    const verb = at === dir ? 'is not writable' : `cannot be created: ${at} is not writable`;
    if (!st.isDirectory())
      throw new UsageError(
        `the state directory ${dir} (next to the inventory) ${at === dir ? 'is not a directory' : `cannot be created: ${at} is not a directory`}`,
      );
    try {
      accessSync(at, constants.W_OK | constants.X_OK);
    } catch (err) {
      throw new UsageError(
        `the state directory ${dir} (keys, tokens and publish state, next to the inventory) ${verb} (${(err as NodeJS.ErrnoException).code})`,
      );
    }
    return;
  }
}

/** The hosts --limit selects; unknown names are refused with the valid ones listed. */
export function checkLimit(inventory: Inventory, limit: string[] | undefined): HostSpec[] {
  if (!limit) return inventory.hosts;
  const groups = Object.keys(inventory.groups);
  const unknown = limit.filter((n) => !groups.includes(n) && !inventory.hosts.some((h) => h.name === n));
  if (unknown.length) {
    throw new UsageError(
      `--limit: ${unknown.map((n) => `"${n}"`).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} neither a host nor a group of ${inventory.file}; ` +
        `hosts: ${inventory.hosts.map((h) => h.name).join(', ')}; groups: ${groups.join(', ') || 'none'}`,
    );
  }
  const hosts = selectHosts(inventory, limit);
  if (hosts.length === 0)
    throw new UsageError(`--limit ${limit.join(',')} selects no host (${limit.length === 1 ? 'the group is' : 'the groups are'} empty)`);
  return hosts;
}

/**
 * Every name --tags accepts: `facts` (it always runs: `--tags facts` runs nothing else, a cheap
 * reachability check), the roles' names, the tags they declare and the tags their tasks carry.
 */
export function validTags(roles: Role[], taskTags: Iterable<string>): string[] {
  const names = new Set<string>([factsRole.name]);
  for (const role of roles) {
    names.add(role.name);
    for (const t of role.tags ?? []) names.add(t);
  }
  for (const t of taskTags) names.add(t);
  return [...names];
}

export function checkTags(tags: string[] | undefined, valid: string[]): void {
  if (!tags) return;
  const unknown = tags.filter((t) => !valid.includes(t));
  if (unknown.length) {
    throw new UsageError(
      `--tags: unknown tag${unknown.length === 1 ? '' : 's'} ${unknown.map((t) => `"${t}"`).join(', ')}; valid tags: ${valid.join(', ')}`,
    );
  }
}

export interface PreflightInput {
  inventoryFile: string;
  /** the roles the command runs: their vars are checked on every host, their names and tags are what --tags accepts */
  roles: Role[];
  limit?: string[];
  tags?: string[];
  json?: string;
  /** hosts will be contacted: check key and known_hosts files (not with --skip-hosts) */
  connect: boolean;
  acceptNewHostKeys: boolean;
  defaultKnownHosts: string;
  /** the run writes the state directory next to the inventory (site: always) */
  writesState?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface Preflight {
  inventory: Inventory;
  /** the hosts --limit selects */
  hosts: HostSpec[];
}

/** Throws UsageError or InventoryError (exit 1) for anything wrong; touches no host and writes nothing. */
export async function preflight(input: PreflightInput): Promise<Preflight> {
  if (input.json !== undefined) checkJsonPath(input.json);
  const inventory = await loadInventory(input.inventoryFile);
  // every role var known and of the right type, then what each role reads of them, for every host
  checkInventoryVars(inventory);
  const hosts = checkLimit(inventory, input.limit);
  const { taskTags } = await preflightRoleVars(inventory, input.roles);
  checkTags(input.tags, validTags(input.roles, taskTags));
  if (input.writesState) checkStateDir(path.join(inventory.dir, '.clusterseed'));
  if (input.connect) {
    checkConnectionFiles(inventory, input.env ?? process.env, {
      hosts,
      defaultKnownHosts: input.defaultKnownHosts,
      acceptNewHostKeys: input.acceptNewHostKeys,
    });
    // adopted clusters are registered through their API during the run
    checkKubeconfigFiles(inventory);
  }
  return { inventory, hosts };
}
