// K3s hardened by default (lib/k3s/hardening.ts, pod-security.ts, server-files.ts, kernel-defaults.ts,
// flags.ts): what config.yaml and the server files say with the defaults and with each measure
// turned off, the settings' errors, the key list every rendered config must stay inside, the
// kernel parameters for protect-kernel-defaults (and how a container copes), the tls mode check.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { parseInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { Change, HostContext } from '../../lib/runner/types.ts';
import type { Transport } from '../../lib/ssh/types.ts';
import { agentConfig, serverConfig } from '../../lib/k3s/config.ts';
import { k3sSettings } from '../../lib/k3s/settings.ts';
import { mergeConfig } from '../../lib/k3s/hardening.ts';
import { COMPONENT_EXEMPTIONS, exemptions, psaYaml, auditPolicyYaml } from '../../lib/k3s/pod-security.ts';
import { serverFiles, serverFileTasks, tlsViolations } from '../../lib/k3s/server-files.ts';
import {
  KERNEL_DEFAULTS_FILE,
  kernelDefaultsTask,
  KUBELET_KERNEL_DEFAULTS,
  protectKernelDefaultsOn,
} from '../../lib/k3s/kernel-defaults.ts';
import { K3S_CONFIG_KEYS, unlistedKeys } from '../../lib/k3s/flags.ts';
import { sysctlFileContent } from '../../lib/blocks/sysctl.ts';
import { catalogEntry } from '../../lib/gitops/catalog.ts';
import { inState, probed } from '../support/probe-state.ts';
import { DEBIAN_FACTS, hostContext, quiet } from '../support/host-context.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

function inventory(k3s: Record<string, unknown> = {}): Inventory {
  return parseInventory(
    `
cluster:
  name: home
  k3s_version: v1.31.4+k3s1
  vars:
    k3s: ${JSON.stringify(k3s)}
defaults: { user: admin }
hosts:
  s1: { address: 192.168.1.10 }
  s2: { address: 192.168.1.11 }
  a1: { address: 192.168.1.21, node_ip: 10.0.0.21 }
groups:
  servers: [s1, s2]
  agents: [a1]
`,
    '/srv/inv/inventory.yaml',
  );
}

function configs(k3s: Record<string, unknown> = {}, protect?: boolean) {
  const inv = inventory(k3s);
  const settings = k3sSettings(inv, inv.clusters[0]);
  const h = (n: string) => inv.hosts.find((x) => x.name === n)!;
  const base = { inventory: inv, settings, preferBundledBin: true, protectKernelDefaults: protect };
  return {
    settings,
    first: serverConfig({ ...base, host: h('s1') }),
    second: serverConfig({ ...base, host: h('s2') }),
    agent: agentConfig({ ...base, host: h('a1') }),
  };
}

const KUBELET = ['seccomp-default=true', 'pod-max-pids=4096', 'streaming-connection-idle-timeout=5m'];

test('defaults: servers get secrets encryption, PSA, the audit log, protect-kernel-defaults and the kubelet args; agents the node part', () => {
  const { first, second, agent } = configs();
  for (const s of [first, second]) {
    assert.is(s['secrets-encryption'], true);
    assert.is(s['protect-kernel-defaults'], true);
    assert.equal(s['kube-apiserver-arg'], [
      'admission-control-config-file=/var/lib/rancher/k3s/server/psa.yaml',
      'audit-policy-file=/var/lib/rancher/k3s/server/audit.yaml',
      'audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log',
      'audit-log-maxage=30',
      'audit-log-maxbackup=5',
      'audit-log-maxsize=50',
    ]);
    assert.equal(s['kubelet-arg'], KUBELET);
  }
  assert.is(agent['protect-kernel-defaults'], true);
  assert.equal(agent['kubelet-arg'], KUBELET);
  assert.is(agent['secrets-encryption'], undefined, 'a server flag: never on an agent');
  assert.is(agent['kube-apiserver-arg'], undefined);
});

test('each measure can be turned off on its own', () => {
  const off = (k3s: Record<string, unknown>) => configs(k3s);
  assert.is(off({ secrets_encryption: false }).first['secrets-encryption'], undefined);
  const noPsa = off({ pod_security: false });
  assert.not.ok((noPsa.first['kube-apiserver-arg'] as string[]).some((a) => a.startsWith('admission-control-config-file')));
  assert.equal(
    serverFiles(noPsa.settings.hardening).map((f) => path.basename(f.path)),
    ['audit.yaml'],
  );
  const noAudit = off({ audit_log: false });
  assert.equal(noAudit.first['kube-apiserver-arg'], ['admission-control-config-file=/var/lib/rancher/k3s/server/psa.yaml']);
  assert.equal(
    serverFiles(noAudit.settings.hardening).map((f) => path.basename(f.path)),
    ['psa.yaml'],
  );
  const neither = off({ audit_log: false, pod_security: false });
  assert.is(neither.first['kube-apiserver-arg'], undefined, 'no empty argument list');
  assert.equal(serverFiles(neither.settings.hardening), []);
  assert.equal(off({ seccomp_default: false }).agent['kubelet-arg'], KUBELET.slice(1));
  assert.equal(off({ pod_max_pids: false }).agent['kubelet-arg'], [KUBELET[0], KUBELET[2]]);
  assert.equal(off({ streaming_connection_idle_timeout: false }).agent['kubelet-arg'], KUBELET.slice(0, 2));
  assert.is(off({ seccomp_default: false, pod_max_pids: false, streaming_connection_idle_timeout: false }).agent['kubelet-arg'], undefined);
  const noProtect = off({ protect_kernel_defaults: false });
  assert.is(noProtect.first['protect-kernel-defaults'], undefined);
  assert.is(noProtect.agent['protect-kernel-defaults'], undefined);
  assert.is(off({ tls_file_modes: false }).settings.hardening.tlsFileModes, false);
  // values, not only on/off
  const tuned = off({
    audit_log: { max_age: 7, max_backup: 2, max_size: 20 },
    pod_max_pids: 1024,
    streaming_connection_idle_timeout: '30m',
  });
  assert.ok((tuned.first['kube-apiserver-arg'] as string[]).includes('audit-log-maxage=7'));
  assert.ok((tuned.first['kube-apiserver-arg'] as string[]).includes('audit-log-maxbackup=2'));
  assert.ok((tuned.first['kube-apiserver-arg'] as string[]).includes('audit-log-maxsize=20'));
  assert.equal(tuned.agent['kubelet-arg'], ['seccomp-default=true', 'pod-max-pids=1024', 'streaming-connection-idle-timeout=30m']);
});

test('a host decided not to protect kernel defaults (a container) gets no protect-kernel-defaults', () => {
  const { first, agent } = configs({}, false);
  assert.is(first['protect-kernel-defaults'], undefined);
  assert.is(agent['protect-kernel-defaults'], undefined);
  assert.is(protectKernelDefaultsOn(true, ''), true);
  assert.is(protectKernelDefaultsOn(true, 'systemd-nspawn'), false);
  assert.is(protectKernelDefaultsOn(false, ''), false);
});

test("inventory arguments join clusterseed's; one of the same name replaces it; plain keys replace", () => {
  const { agent, first } = configs({
    agent_config: { 'kubelet-arg': ['max-pods=50', 'pod-max-pids=8192'] },
    server_config: { 'secrets-encryption': false },
  });
  assert.equal(agent['kubelet-arg'], ['seccomp-default=true', 'streaming-connection-idle-timeout=5m', 'max-pods=50', 'pod-max-pids=8192']);
  assert.is(first['secrets-encryption'], false);
  assert.equal(
    mergeConfig({ 'kubelet-arg': ['a=1'] }, { 'kubelet-arg': '--a=2' }),
    { 'kubelet-arg': ['--a=2'] },
    'a single string and a leading -- count too',
  );
});

test('settings: bad hardening values are errors naming the file and the field', () => {
  const bad = (k3s: Record<string, unknown>, re: RegExp) => {
    const inv = inventory(k3s);
    assert.throws(() => k3sSettings(inv, inv.clusters[0]), re);
  };
  bad({ secrets_encryption: 'yes' }, /inventory\.yaml: cluster "home": vars\.k3s\.secrets_encryption: expected true or false/);
  bad({ pod_security: { enforce: 'strict' } }, /vars\.k3s\.pod_security\.enforce: expected one of privileged, baseline, restricted/);
  bad({ pod_security: { exempt: ['x'] } }, /vars\.k3s\.pod_security\.exempt: unknown setting/);
  bad(
    { pod_security: { exempt_namespaces: ['Bad_NS'] } },
    /vars\.k3s\.pod_security\.exempt_namespaces: expected a list of namespace names/,
  );
  bad({ pod_security: 'baseline' }, /vars\.k3s\.pod_security: expected false, true or a mapping/);
  bad({ audit_log: { max_age: 0 } }, /vars\.k3s\.audit_log\.max_age: expected a whole number >= 1/);
  bad({ pod_max_pids: 10 }, /vars\.k3s\.pod_max_pids: expected a whole number >= 64/);
  bad({ streaming_connection_idle_timeout: '0s' }, /vars\.k3s\.streaming_connection_idle_timeout: expected a duration above zero/);
  bad({ streaming_connection_idle_timeout: 300 }, /streaming_connection_idle_timeout/);
  bad({ protect_kernel_defaults: 1 }, /vars\.k3s\.protect_kernel_defaults: expected true or false/);
  bad({ tls_modes: false }, /vars\.k3s\.tls_modes: unknown setting/);
});

test("psa.yaml: enforce baseline, warn and audit restricted; kube-system and the catalog's host-access namespaces exempt", () => {
  const { settings } = configs({ pod_security: { exempt_namespaces: ['lab-tools'] } });
  const ps = settings.hardening.podSecurity;
  assert.ok(ps);
  const doc = parse(psaYaml(ps));
  assert.is(doc.kind, 'AdmissionConfiguration');
  assert.is(doc.apiVersion, 'apiserver.config.k8s.io/v1');
  const plugin = doc.plugins[0];
  assert.is(plugin.name, 'PodSecurity');
  assert.is(plugin.configuration.apiVersion, 'pod-security.admission.config.k8s.io/v1');
  assert.equal(plugin.configuration.defaults, {
    enforce: 'baseline',
    'enforce-version': 'latest',
    audit: 'restricted',
    'audit-version': 'latest',
    warn: 'restricted',
    'warn-version': 'latest',
  });
  assert.equal(plugin.configuration.exemptions.namespaces, [
    'jupyterhub',
    'kube-system',
    'lab-tools',
    'logging',
    'longhorn-system',
    'metallb-system',
    'monitoring',
    'nvidia-device-plugin',
  ]);
  // the namespaces come from the catalog, so a renamed one follows
  for (const name of Object.keys(COMPONENT_EXEMPTIONS)) {
    assert.ok(plugin.configuration.exemptions.namespaces.includes(catalogEntry(name)!.namespace), name);
  }
  // namespaces whose pods fit the baseline level are NOT exempt
  for (const name of ['cert-manager', 'minio', 'postgresql', 'mlflow', 'argo-workflows', 'kserve', 'iris-classifier']) {
    assert.not.ok(plugin.configuration.exemptions.namespaces.includes(catalogEntry(name)!.namespace), `${name} is not exempt`);
  }
  assert.ok(
    exemptions(ps).every((e) => e.why.length > 10),
    'each exemption has its reason',
  );
});

test('the README lists every exempt namespace with its reason, and every hardening key', () => {
  const readme = readFileSync(path.join(ROOT, 'roles/k3s-server/README.md'), 'utf8');
  const ps = configs().settings.hardening.podSecurity;
  assert.ok(ps);
  for (const e of exemptions(ps)) assert.ok(readme.includes(`\`${e.namespace}\``), `README names ${e.namespace}`);
  for (const key of [
    'secrets_encryption',
    'pod_security',
    'audit_log',
    'seccomp_default',
    'pod_max_pids',
    'streaming_connection_idle_timeout',
    'protect_kernel_defaults',
    'tls_file_modes',
  ]) {
    assert.ok(readme.includes(`\`${key}\``), `README documents ${key}`);
  }
});

test('audit.yaml: a Policy that logs metadata only (never request bodies, so no Secret content)', () => {
  const doc = parse(auditPolicyYaml());
  assert.is(doc.apiVersion, 'audit.k8s.io/v1');
  assert.is(doc.kind, 'Policy');
  assert.equal(doc.rules.at(-1), { level: 'Metadata' });
  assert.ok(doc.rules.every((r: { level: string }) => r.level === 'Metadata' || r.level === 'None'));
  assert.equal(doc.omitStages, ['RequestReceived']);
});

test('server files: the 0700 server and log directories, then the 0600 files; files turned off are removed only if ours', () => {
  const on = serverFileTasks(configs().settings.hardening).map((t) => t.name);
  assert.equal(on, [
    'directory /var/lib/rancher/k3s',
    'directory /var/lib/rancher/k3s/server',
    'directory /var/lib/rancher/k3s/server/logs',
    'file /var/lib/rancher/k3s/server/psa.yaml',
    'file /var/lib/rancher/k3s/server/audit.yaml',
  ]);
  const offTasks = serverFileTasks(configs({ pod_security: false, audit_log: false }).settings.hardening);
  assert.equal(
    offTasks.map((t) => t.name),
    [
      'directory /var/lib/rancher/k3s',
      'directory /var/lib/rancher/k3s/server',
      'no /var/lib/rancher/k3s/server/psa.yaml of clusterseed',
      'no /var/lib/rancher/k3s/server/audit.yaml of clusterseed',
    ],
  );
  const stale = offTasks[2];
  assert.match(stale.probe!, /Managed by clusterseed \(k3s-server\)/);
  assert.is(stale.plan(probed(stale, 'none\n'), {} as HostContext), null, 'a file someone else wrote stays');
  assert.match(
    (stale.plan(probed(stale, 'ours\n'), {} as HostContext) as Change).summary,
    /remove \/var\/lib\/rancher\/k3s\/server\/psa\.yaml/,
  );
  assert.match(
    serverFiles(configs().settings.hardening)[0].content,
    /^# Managed by clusterseed \(k3s-server\)/,
    'the mark the removal looks for',
  );
});

test('tls: certificates and keys looser than 0600 or not root:root are flagged; stricter ones are fine', () => {
  const out = [
    '644 root:root /var/lib/rancher/k3s/server/tls/server-ca.crt',
    '600 root:root /var/lib/rancher/k3s/server/tls/server-ca.key',
    '400 root:root /var/lib/rancher/k3s/server/tls/etcd/peer-ca.key',
    '600 k3s:root /var/lib/rancher/k3s/server/tls/client-admin.crt',
    '640 root:root /var/lib/rancher/k3s/server/tls/etcd/server-client.key',
    '644 root:root /var/lib/rancher/k3s/server/tls/request-header-ca.pem',
  ].join('\n');
  assert.equal(
    tlsViolations(out).map((f) => path.basename(f.path)),
    ['server-ca.crt', 'client-admin.crt', 'server-client.key'],
  );
  assert.equal(tlsViolations(''), []);
});

test('the six kernel parameters the kubelet checks, with its values', () => {
  assert.equal(KUBELET_KERNEL_DEFAULTS, {
    'vm.panic_on_oom': 0,
    'vm.overcommit_memory': 1,
    'kernel.panic': 10,
    'kernel.panic_on_oops': 1,
    'kernel.keys.root_maxkeys': 1000000,
    'kernel.keys.root_maxbytes': 25000000,
  });
});

function prereqCtx(container: string, k3s: Record<string, unknown> = {}) {
  const warnings: string[] = [];
  const inv = inventory(k3s);
  const ctx = hostContext({
    host: inv.hosts[0],
    inventory: inv,
    conn: {} as Transport,
    facts: { ...DEBIAN_FACTS, container },
    vars: {},
    log: { ...quiet, warn: (m: string) => warnings.push(m) },
  });
  return { ctx, warnings };
}
const LIVE_DEFAULTS =
  'vm.panic_on_oom=0 vm.overcommit_memory=0 kernel.panic=0 kernel.panic_on_oops=0 kernel.keys.root_maxkeys=1000000 kernel.keys.root_maxbytes=25000000'
    .split(' ')
    .map((kv) => {
      const [k, v] = kv.split('=');
      return `/proc/sys/${k.replace(/\./g, '/')}:${v}`;
    })
    .join('\n');

test('k3s-prereq: on a real host the six are persisted and set live before K3s starts', async () => {
  const task = kernelDefaultsTask();
  const { ctx, warnings } = prereqCtx('');
  assert.ok(task.when!(ctx));
  const change = (await task.plan(probed(task, LIVE_DEFAULTS), ctx)) as Change;
  assert.match(change.summary, new RegExp(`write ${KERNEL_DEFAULTS_FILE}`));
  assert.match(change.summary, /vm\.overcommit_memory: 0 -> 1, kernel\.panic: 0 -> 10, kernel\.panic_on_oops: 0 -> 1/);
  assert.not.match(change.summary, /root_maxkeys/, 'already right: not written live');
  assert.equal(warnings, []);
  // in state: nothing to do
  const content = sysctlFileContent({
    file: KERNEL_DEFAULTS_FILE,
    values: KUBELET_KERNEL_DEFAULTS,
    comment: 'Managed by clusterseed (k3s-prereq): the values the kubelet checks with protect-kernel-defaults.',
  });
  const done = Object.entries(KUBELET_KERNEL_DEFAULTS)
    .map(([k, v]) => `/proc/sys/${k.replace(/\./g, '/')}:${v}`)
    .join('\n');
  assert.ok(inState(await task.plan(probed(task, done, { [KERNEL_DEFAULTS_FILE]: content }), ctx)));
});

test('k3s-prereq in a container: the file is persisted, nothing live is attempted, and it says why, without failing or looping', async () => {
  const task = kernelDefaultsTask();
  const { ctx, warnings } = prereqCtx('systemd-nspawn');
  const first = (await task.plan(probed(task, LIVE_DEFAULTS), ctx)) as Change;
  assert.is(first.summary, `write ${KERNEL_DEFAULTS_FILE}`, 'only the file: vm.* and kernel.* cannot be written in a container');
  assert.ok(
    warnings.some((w) => /protect-kernel-defaults left out of config\.yaml: inside a systemd-nspawn container/.test(w)),
    warnings.join('\n'),
  );
  assert.ok(warnings.some((w) => /kernel\.panic=10 cannot be applied inside a systemd-nspawn container/.test(w)));
  // the next run, with the file in place and the live values still the container host's: no change
  const content = sysctlFileContent({
    file: KERNEL_DEFAULTS_FILE,
    values: KUBELET_KERNEL_DEFAULTS,
    comment: 'Managed by clusterseed (k3s-prereq): the values the kubelet checks with protect-kernel-defaults.',
  });
  assert.ok(inState(await task.plan(probed(task, LIVE_DEFAULTS, { [KERNEL_DEFAULTS_FILE]: content }), ctx)));
  // turned off in the inventory: the task does not run at all
  assert.not.ok(task.when!(prereqCtx('systemd-nspawn', { protect_kernel_defaults: false }).ctx));
});

test('every key and argument clusterseed writes is on the list of ones real K3s documents', () => {
  const variants: Array<Record<string, unknown>> = [
    {},
    {
      secrets_encryption: false,
      pod_security: false,
      audit_log: false,
      seccomp_default: false,
      pod_max_pids: false,
      streaming_connection_idle_timeout: false,
      protect_kernel_defaults: false,
    },
    { disable: ['traefik'], embedded_etcd: true, prefer_bundled_bin: true, audit_log: { max_age: 1, max_backup: 1, max_size: 1 } },
  ];
  let checked = 0;
  for (const v of variants) {
    for (const protect of [undefined, false]) {
      const { first, second, agent } = configs(v, protect);
      assert.equal(unlistedKeys(first, 'server'), [], JSON.stringify(first));
      assert.equal(unlistedKeys(second, 'server'), [], JSON.stringify(second));
      assert.equal(unlistedKeys(agent, 'agent'), [], JSON.stringify(agent));
      checked += Object.keys(first).length + Object.keys(agent).length;
    }
  }
  assert.ok(checked > 40, 'the configs had keys to check');
  // the check itself catches what it should
  assert.equal(unlistedKeys({ 'secrets-encryption': true, 'kubelet-arg': ['max-podz=3'] }, 'agent'), [
    'secrets-encryption',
    'kubelet-arg: max-podz',
  ]);
  assert.equal(unlistedKeys({ 'protect-kernel-defaults': true, 'node-name': 'x', 'no-such-flag': 1 }, 'server'), ['no-such-flag']);
  for (const [key, known] of Object.entries(K3S_CONFIG_KEYS)) assert.match(known.source, /@ [0-9a-f]{40}/, `${key} cites a pinned commit`);
});

test.run();
