// Every role folder has a defaults.yaml and a README listing every key of it (dotted paths for
// nested keys; a free-form map such as `sysctl.values` is listed once), and every role's settings
// are checked: an unknown key or a wrong type under `vars.<role>` is an InventoryError naming the
// inventory file, the line and the field, for each role.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { InventoryError, parseInventory } from '../../lib/inventory/load.ts';
import { HARDENING_KEYS } from '../../lib/k3s/hardening.ts';
import { k3sSettingsSpec } from '../../lib/k3s/settings.ts';
import { ruleProblem, type RoleSettings, type VarRule, type VarsSpec } from '../../lib/settings/index.ts';
import { checkInventoryVars, roleSettingsList } from '../../roles/vars-specs.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ROLES = path.join(ROOT, 'roles');
const folders = readdirSync(ROLES).filter((f) => statSync(path.join(ROLES, f)).isDirectory());

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The dotted paths a README must name: every key, descending into mappings unless they are free-form. */
function documentedPaths(defaults: Record<string, unknown>, open: string[] = [], prefix = ''): string[] {
  return Object.entries(defaults).flatMap(([key, value]) => {
    const dotted = prefix ? `${prefix}.${key}` : key;
    if (isMapping(value) && Object.keys(value).length && !open.includes(dotted)) return documentedPaths(value, open, dotted);
    return [dotted];
  });
}

/** Keys of `path` missing from `readme` (a free-form map may be written `key.<name>`). */
function missingFrom(readme: string, spec: VarsSpec): string[] {
  return documentedPaths(spec.defaults, spec.open).filter((p) => !readme.includes(`\`${p}\``) && !readme.includes(`\`${p}.<`));
}

const settingsByName = new Map(roleSettingsList().map((s) => [s.name, s]));

test('the walk finds every role folder, and the check can fail', () => {
  assert.ok(folders.length >= 12, folders.join(', '));
  assert.equal(missingFrom('| `a` |', { name: 'x', defaults: { a: 1, b: { c: 2 } } }), ['b.c']);
  assert.equal(missingFrom('| `b.<name>` |', { name: 'x', defaults: { b: { c: 2 } }, open: ['b'] }), []);
});

for (const folder of folders) {
  test(`roles/${folder}: defaults.yaml is its declared settings and the README lists every key`, () => {
    const defaultsFile = path.join(ROLES, folder, 'defaults.yaml');
    const readmeFile = path.join(ROLES, folder, 'README.md');
    assert.ok(existsSync(defaultsFile), `${defaultsFile} is missing`);
    assert.ok(existsSync(readmeFile), `${readmeFile} is missing`);
    const spec = settingsByName.get(folder);
    assert.ok(spec, `no role settings named ${folder} in roles/vars-specs.ts`);
    assert.equal(spec.defaults, parse(readFileSync(defaultsFile, 'utf8')));
    const readme = readFileSync(readmeFile, 'utf8');
    assert.equal(missingFrom(readme, spec), [], `keys of roles/${folder}/defaults.yaml missing from its README`);
    if (!Object.keys(spec.defaults).length) assert.match(readme, /no settings/i, 'a role without settings says so in its README');
  });
}

test('vars.k3s: lib/k3s/defaults.yaml keys are listed in roles/k3s-server/README.md, the hardening keys among them', () => {
  const readme = readFileSync(path.join(ROLES, 'k3s-server', 'README.md'), 'utf8');
  assert.equal(missingFrom(readme, k3sSettingsSpec), []);
  for (const key of HARDENING_KEYS) assert.ok(Object.hasOwn(k3sSettingsSpec.defaults, key), key);
});

const BASE = `cluster:
  name: lab
  k3s_version: v1.31.4+k3s1
defaults: { user: admin }
hosts:
  s1: { address: 127.0.0.1, port: 1 }
groups:
  servers: [s1]
`;

/** The issues for BASE plus `extra`, as "file:line:path: message". */
function issuesOf(text: string): string[] {
  const inventory = parseInventory(text, '/srv/site/inventory.yaml');
  try {
    checkInventoryVars(inventory);
    return [];
  } catch (err) {
    assert.instance(err, InventoryError);
    return (err as InventoryError).issues.map((i) => `${i.file}:${i.line}:${i.path}: ${i.message}`);
  }
}

/** A key of the settings and a value of the wrong type for it, if the settings have a typed key. */
function wrongTyped(spec: RoleSettings): { key: string; value: unknown } | undefined {
  for (const [key, dflt] of Object.entries(spec.defaults)) {
    const declared = spec.types?.[key];
    const rule: VarRule = declared
      ? typeof declared === 'string'
        ? { type: declared }
        : declared
      : {
          type:
            typeof dflt === 'string'
              ? 'string'
              : typeof dflt === 'boolean'
                ? 'boolean'
                : typeof dflt === 'number'
                  ? 'number'
                  : Array.isArray(dflt)
                    ? 'list'
                    : isMapping(dflt)
                      ? 'mapping'
                      : 'any',
        };
    const value = [{ a: 1 }, 'not-this', 7].find((v) => ruleProblem(rule, v) !== undefined);
    if (value !== undefined) return { key, value };
  }
  return undefined;
}

for (const spec of roleSettingsList()) {
  test(`vars.${spec.name}: an unknown key and a wrong type are inventory errors with file, line and field`, () => {
    // host vars (line 10), group vars (line 14) and top-level vars
    const unknown = `${BASE}vars:\n  ${spec.name}:\n    no_such_key: 1\n`;
    const issues = issuesOf(unknown);
    assert.equal(issues.length, 1, issues.join('\n'));
    assert.match(issues[0], new RegExp(`^/srv/site/inventory\\.yaml:11:vars\\.${spec.name}\\.no_such_key: unknown setting "no_such_key"`));
    const inHost = BASE.replace(
      's1: { address: 127.0.0.1, port: 1 }',
      `s1:\n    address: 127.0.0.1\n    vars:\n      ${spec.name}: { nosuch: 1 }`,
    );
    assert.match(
      issuesOf(inHost).join('\n'),
      new RegExp(`^/srv/site/inventory\\.yaml:9:hosts\\.s1\\.vars\\.${spec.name}\\.nosuch: unknown setting`),
    );
    const wrong = wrongTyped(spec);
    if (!wrong) return; // a role without settings: every key is unknown (above)
    const text = `${BASE}vars:\n  ${spec.name}:\n    ${wrong.key}: ${JSON.stringify(wrong.value)}\n`;
    assert.match(issuesOf(text).join('\n'), new RegExp(`^/srv/site/inventory\\.yaml:11:vars\\.${spec.name}\\.${wrong.key}: expected `));
  });
}

test('vars.k3s (cluster vars): an unknown key, also nested, and a wrong type or range', () => {
  const cluster = (vars: string) =>
    BASE.replace('  k3s_version: v1.31.4+k3s1\n', `  k3s_version: v1.31.4+k3s1\n  vars:\n    k3s:\n${vars}`);
  assert.equal(issuesOf(cluster('      pod_security: { enforce: baseline, enforcing: restricted }\n')), [
    '/srv/site/inventory.yaml:6:cluster.vars.k3s.pod_security.enforcing: unknown setting "enforcing" of k3s.pod_security (did you mean "enforce"?): known are enforce, audit, warn, exempt_namespaces (see roles/k3s-server/README.md)',
  ]);
  assert.equal(issuesOf(cluster('      ready_timeout: soon\n      pod_max_pids: 10\n')), [
    '/srv/site/inventory.yaml:6:cluster.vars.k3s.ready_timeout: expected a number, got the string "soon"',
    '/srv/site/inventory.yaml:7:cluster.vars.k3s.pod_max_pids: expected a whole number >= 64 or false, got number 10',
  ]);
  // off switches and free-form maps stay valid
  assert.equal(issuesOf(cluster('      audit_log: false\n      pod_security: true\n      server_config: { any-flag: 1 }\n')), []);
});

test('vars.k3s-prereq.reboot_timeout: not a number, or out of range, is refused before any host is touched (no NaN wait)', () => {
  assert.match(
    issuesOf(`${BASE}vars:\n  k3s-prereq: { reboot_timeout: 10m }\n`).join('\n'),
    /:10:vars\.k3s-prereq\.reboot_timeout: expected an integer from 30 to 7200, got the string "10m"/,
  );
  assert.match(
    issuesOf(`${BASE}vars:\n  k3s-prereq: { reboot_timeout: 5 }\n`).join('\n'),
    /expected an integer from 30 to 7200, got number 5/,
  );
});

test('vars.k3s-agent.config and vars.k3s-server.config (documented per-host K3s keys) are accepted', () => {
  assert.equal(
    issuesOf(`${BASE}vars:\n  k3s-agent: { config: { node-ip: 192.168.1.21 } }\n  k3s-server: { config: { node-ip: 192.168.1.20 } }\n`),
    [],
  );
});

test.run();
