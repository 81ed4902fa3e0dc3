// How a role declares its settings: the keys, default values and (from them) types live in the
// role's own defaults.yaml, next to its index.ts; what a default cannot say (a range, a choice,
// null allowed, a free-form mapping such as labels or sysctl values) is a small rule beside it.
// The inventory's `vars.<role>` is checked against this declaration before any host is touched
// (checkVars in check.ts), and the role reads its merged vars with the typed reader (reader.ts).
import type { VarRule, VarType, VarsSpec } from './check.ts';
import { loadDefaults } from './reader.ts';

/** A role's declared settings: `vars.<name>` in the inventory. */
export type RoleSettings = VarsSpec;

export interface SettingsRules {
  /** dotted paths of mappings whose keys are free (e.g. `sysctl.values`) */
  open?: string[];
  /** rules of keys the default value cannot tell (range, choice, nullable, several types), by dotted path */
  types?: Record<string, VarType | VarRule>;
  /** what the key is, for messages (default: `role <name>`) */
  what?: string;
  /** where its settings are explained (default: the README of role <name>) */
  readme?: string;
}

/**
 * The settings of role `name` from the defaults.yaml next to `moduleUrl` (the role's index.ts),
 * with the rules the defaults cannot express. Every rule must name a key of the defaults (or a key
 * under an open mapping's parent): a rule for a key the file does not have is a programming error.
 */
export function roleSettings(name: string, moduleUrl: string, rules: SettingsRules = {}): RoleSettings {
  const defaults = loadDefaults(moduleUrl);
  for (const dotted of [...(rules.open ?? []), ...Object.keys(rules.types ?? {})]) {
    let cur: unknown = defaults;
    for (const part of dotted.split('.')) {
      if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) {
        throw new Error(`role ${name}: settings rule for "${dotted}", a key its defaults.yaml does not have`);
      }
      cur = (cur as Record<string, unknown>)[part];
    }
  }
  return { name, defaults, ...rules };
}

/** A role that reads no vars: any key under `vars.<name>` is an inventory error. */
export function noSettings(name: string, what?: string): RoleSettings {
  return { name, defaults: {}, ...(what ? { what } : {}) };
}
