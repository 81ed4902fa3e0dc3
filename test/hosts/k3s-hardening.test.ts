// K3s hardened by default on real (nspawn) hosts with the STAND-IN K3s: after converging 1 server +
// 1 agent, config.yaml carries the CIS flags, psa.yaml and audit.yaml sit 0600 in the 0700 server
// directory before K3s starts, the kernel-parameter file is in place (and, in a container, the flag
// is left out with a warning); a rerun changes nothing; certificates K3s writes 0644 are tightened
// without a restart; changing a server file's setting restarts the server once and the agent not at
// all; turning a file off removes it.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { Role, RunReport } from '../../lib/runner/types.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { clearSecrets } from '../../lib/report/mask.ts';
import { k3sArtifactsRole } from '../../roles/k3s-prereq/artifacts.ts';
import { k3sPrereqRole } from '../../roles/k3s-prereq/index.ts';
import { k3sServerRole } from '../../roles/k3s-server/index.ts';
import { k3sAgentRole } from '../../roles/k3s-agent/index.ts';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';

const VERSION = 'v1.31.4+k3s1';
const ROLES: Role[] = [k3sArtifactsRole, k3sPrereqRole, k3sServerRole, k3sAgentRole];
const SERVER_DIR = '/var/lib/rancher/k3s/server';

let lab: TestLab;
let mirror: K3sMirror;
let work: string;

test.before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'clusterseed-k3s-cis-'));
  [lab, mirror] = await Promise.all([startLab({ count: 2, prefix: 'c' }), startK3sMirror({ versions: [VERSION] })]);
});
test.after(async () => {
  await lab?.stop();
  await mirror?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  clearSecrets();
});

async function inventory(k3s: Record<string, unknown> = {}): Promise<Inventory> {
  const [c1, c2] = lab.hosts;
  return loadInventory(
    lab.writeInventory({
      servers: ['c1'],
      agents: ['c2'],
      extra: {
        cluster: { name: 'cis', k3s_version: VERSION, token_file: path.join(work, 'token'), vars: { k3s: { ready_timeout: 60, ...k3s } } },
        hosts: { c1: { address: c1.address }, c2: { address: c2.address } },
      },
    }),
  );
}

async function converge(inv: Inventory): Promise<{ report: RunReport; output: string[] }> {
  const output: string[] = [];
  const push = (m: string) => output.push(m);
  const report = await runSite({
    inventory: inv,
    roles: ROLES,
    options: { check: false, diff: false, verbosity: 1, forks: 10 },
    connect: (h) => createTransport(h, { knownHostsFile: lab.knownHostsFile }),
    log: { info: push, verbose: push, debug: () => {}, warn: push },
    shared: new Map<string, unknown>([
      ['k3s.mirror', mirror.url],
      ['k3s.cacheDir', path.join(work, 'cache')],
    ]),
  });
  return { report, output };
}

const failures = (r: RunReport) =>
  JSON.stringify(r.hosts.flatMap((h) => h.tasks.filter((t) => t.outcome === 'failed').map((t) => `${h.host}: ${t.task}: ${t.message}`)));
const changedTasks = (r: RunReport, host: number) => r.hosts[host].tasks.filter((t) => t.outcome === 'changed').map((t) => t.task);
const sh = async (host: string, cmd: string) => (await lab.sh(host, cmd)).stdout.trim();
/** K3s (stand-in) starts on a host, from the events it logs */
const starts = async (host: string) => await sh(host, 'grep -c "^start " /var/lib/rancher/k3s/standin/events.log || true');

test('converge: CIS flags in config.yaml, PSA and audit files 0600 under the 0700 server directory, kernel parameters persisted', async () => {
  const { report, output } = await converge(await inventory());
  assert.is(failures(report), '[]');

  const server = parse(await sh('c1', 'cat /etc/rancher/k3s/config.yaml'));
  assert.is(server['secrets-encryption'], true);
  assert.ok(server['kube-apiserver-arg'].includes(`admission-control-config-file=${SERVER_DIR}/psa.yaml`));
  assert.ok(server['kube-apiserver-arg'].includes(`audit-policy-file=${SERVER_DIR}/audit.yaml`));
  assert.ok(server['kube-apiserver-arg'].includes(`audit-log-path=${SERVER_DIR}/logs/audit.log`));
  assert.ok(server['kube-apiserver-arg'].includes('audit-log-maxbackup=5'));
  assert.equal(server['kubelet-arg'], ['seccomp-default=true', 'pod-max-pids=4096', 'streaming-connection-idle-timeout=5m']);
  const agent = parse(await sh('c2', 'cat /etc/rancher/k3s/config.yaml'));
  assert.equal(agent['kubelet-arg'], server['kubelet-arg']);
  assert.is(agent['secrets-encryption'], undefined);

  // nspawn: the kubelet could not start with protect-kernel-defaults, so it is left out, loudly
  assert.is(server['protect-kernel-defaults'], undefined);
  assert.is(agent['protect-kernel-defaults'], undefined);
  assert.ok(
    output.some((l) => /protect-kernel-defaults left out of config\.yaml: inside a systemd-nspawn container/.test(l)),
    'the container case is reported',
  );
  for (const h of ['c1', 'c2']) {
    const conf = await sh(h, 'cat /etc/sysctl.d/71-clusterseed-k3s-kernel-defaults.conf');
    for (const line of [
      'vm.panic_on_oom = 0',
      'vm.overcommit_memory = 1',
      'kernel.panic = 10',
      'kernel.panic_on_oops = 1',
      'kernel.keys.root_maxkeys = 1000000',
      'kernel.keys.root_maxbytes = 25000000',
    ]) {
      assert.ok(conf.includes(line), `${h}: ${line}`);
    }
  }

  // the server files: modes, owner, content, and only on servers
  assert.is(
    await sh('c1', `stat -c '%a %U:%G %n' ${SERVER_DIR} ${SERVER_DIR}/logs ${SERVER_DIR}/psa.yaml ${SERVER_DIR}/audit.yaml`),
    [
      `700 root:root ${SERVER_DIR}`,
      `700 root:root ${SERVER_DIR}/logs`,
      `600 root:root ${SERVER_DIR}/psa.yaml`,
      `600 root:root ${SERVER_DIR}/audit.yaml`,
    ].join('\n'),
  );
  const psa = parse(await sh('c1', `cat ${SERVER_DIR}/psa.yaml`));
  assert.equal(psa.plugins[0].configuration.defaults.enforce, 'baseline');
  assert.ok(psa.plugins[0].configuration.exemptions.namespaces.includes('kube-system'));
  assert.is(parse(await sh('c1', `cat ${SERVER_DIR}/audit.yaml`)).kind, 'Policy');
  assert.is(await sh('c2', `ls ${SERVER_DIR} 2>/dev/null | wc -l`), '0', 'no server files on the agent');

  // written before K3s first started: the stand-in's start came after the files' mtimes
  const startMs = Number((await sh('c1', 'grep "^start " /var/lib/rancher/k3s/standin/events.log | head -1')).split(' ')[1]);
  const psaMs = Number(await sh('c1', `stat -c %Y ${SERVER_DIR}/psa.yaml`)) * 1000;
  assert.ok(psaMs <= startMs, `psa.yaml (${psaMs}) before the first start (${startMs})`);
});

test('a second run changes nothing and restarts nothing', async () => {
  const before = [await starts('c1'), await starts('c2')];
  const { report } = await converge(await inventory());
  assert.is(failures(report), '[]');
  assert.equal(
    report.hosts.map((h) => h.counts.changed),
    [0, 0],
    JSON.stringify([changedTasks(report, 0), changedTasks(report, 1)]),
  );
  assert.equal([await starts('c1'), await starts('c2')], before);
});

test('certificates K3s writes 0644 are tightened to 0600 root:root, without a restart; stricter ones stay', async () => {
  await lab.sh(
    'c1',
    `mkdir -p ${SERVER_DIR}/tls/etcd && cd ${SERVER_DIR}/tls && ` +
      'touch server-ca.crt server-ca.key etcd/peer-ca.key && chmod 644 server-ca.crt && chmod 600 server-ca.key && chmod 400 etcd/peer-ca.key',
  );
  const before = await starts('c1');
  const { report } = await converge(await inventory());
  assert.is(failures(report), '[]');
  assert.equal(changedTasks(report, 0), [`${SERVER_DIR}/tls: certificates and keys 0600 root:root`]);
  assert.is(
    await sh('c1', `cd ${SERVER_DIR}/tls && stat -c '%a %U:%G %n' server-ca.crt server-ca.key etcd/peer-ca.key`),
    '600 root:root server-ca.crt\n600 root:root server-ca.key\n400 root:root etcd/peer-ca.key',
  );
  assert.is(await starts('c1'), before, 'no restart for file modes');
  const again = await converge(await inventory());
  assert.equal(
    again.report.hosts.map((h) => h.counts.changed),
    [0, 0],
  );
});

test('a changed server-file setting restarts the server once and the agent not at all; turning a file off removes it', async () => {
  const before = [Number(await starts('c1')), Number(await starts('c2'))];
  const { report } = await converge(await inventory({ pod_security: { exempt_namespaces: ['lab-tools'] } }));
  assert.is(failures(report), '[]');
  assert.ok(changedTasks(report, 0).includes(`file ${SERVER_DIR}/psa.yaml`));
  const restart = report.hosts[0].tasks.find((t) => t.task.startsWith('k3s.service'));
  assert.match(restart?.summary ?? '', /restart k3s\.service: psa\.yaml changed/, 'only psa.yaml changed: config.yaml is the same');
  assert.equal([Number(await starts('c1')), Number(await starts('c2'))], [before[0] + 1, before[1]]);
  assert.ok(parse(await sh('c1', `cat ${SERVER_DIR}/psa.yaml`)).plugins[0].configuration.exemptions.namespaces.includes('lab-tools'));

  const off = await converge(await inventory({ pod_security: { exempt_namespaces: ['lab-tools'] }, audit_log: false }));
  assert.is(failures(off.report), '[]');
  assert.is(await sh('c1', `ls ${SERVER_DIR}/audit.yaml 2>/dev/null | wc -l`), '0', 'audit.yaml removed');
  assert.not.match(await sh('c1', 'cat /etc/rancher/k3s/config.yaml'), /audit-/);
  assert.is(Number(await starts('c1')), before[0] + 2, 'one more restart for that change');
  const again = await converge(await inventory({ pod_security: { exempt_namespaces: ['lab-tools'] }, audit_log: false }));
  assert.equal(
    again.report.hosts.map((h) => h.counts.changed),
    [0, 0],
  );
});

test.run();
