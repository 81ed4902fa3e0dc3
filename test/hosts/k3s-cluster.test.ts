// K3s roles on real (nspawn) hosts with the STAND-IN K3s release served from a loopback mirror:
// a wrong checksum stops everything before any host is touched; 1 server + 2 agents (one of them
// a Raspberry Pi) converge, and a second run changes nothing and restarts nothing; the join token
// never shows in output, the JSON report or any remote argv; reset leaves nothing of K3s behind.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { HostReport, Role, RunReport } from '../../lib/runner/types.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { writeJsonReport } from '../../lib/runner/json-report.ts';
import { clearSecrets } from '../../lib/report/mask.ts';
import { k3sArtifactsRole } from '../../roles/k3s-prereq/artifacts.ts';
import { k3sPrereqRole } from '../../roles/k3s-prereq/index.ts';
import { k3sServerRole } from '../../roles/k3s-server/index.ts';
import { k3sAgentRole } from '../../roles/k3s-agent/index.ts';
import { kubeconfigRole } from '../../roles/kubeconfig/index.ts';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';

const VERSION = 'v1.31.4+k3s1';
const ROLES: Role[] = [k3sArtifactsRole, k3sPrereqRole, k3sServerRole, k3sAgentRole, kubeconfigRole];
const PI_CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=58b06195-02 rootfstype=ext4 fsck.repair=yes rootwait\n';
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

let lab: TestLab;
let mirror: K3sMirror;
let work: string;

test.before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'clusterseed-k3s-test-'));
  [lab, mirror] = await Promise.all([startLab({ count: 3, prefix: 'k' }), startK3sMirror({ versions: [VERSION], airgapImages: true })]);
  // k3 plays the Raspberry Pi: a firmware cmdline, and a unit that counts boots
  await lab.sh(
    'k3',
    `mkdir -p /boot/firmware && printf '%s' '${PI_CMDLINE}' > /boot/firmware/cmdline.txt && ` +
      `printf '[Unit]\\nDescription=count boots\\n[Service]\\nType=oneshot\\nExecStart=/bin/sh -c "echo boot >> /var/lib/cs-boots"\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/cs-boots.service && systemctl enable cs-boots.service`,
  );
});
test.after(async () => {
  await lab?.stop();
  await mirror?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  clearSecrets();
});

interface Run {
  report: RunReport;
  /** every line logged, by the runner and by the SSH transport (-vv level) */
  output: string[];
}

function writeInventory(extraCluster: Record<string, unknown> = {}, hostOverrides: Record<string, Record<string, unknown>> = {}): string {
  const [k1, k2, k3] = lab.hosts;
  const hosts: Record<string, Record<string, unknown>> = {
    k1: { address: k1.address, labels: { 'node-role.clusterseed.io/stateful': 'true' } },
    // node-role.kubernetes.io/* is refused by the kubelet: it must arrive through the API
    k2: {
      address: k2.address,
      labels: { 'clusterseed.io/arch-pool': 'x86', 'node-role.kubernetes.io/worker': 'true' },
      taints: ['clusterseed.io/edge=true:NoSchedule'],
    },
    k3: { address: k3.address, raspberry_pi: true, labels: { 'clusterseed.io/arch-pool': 'arm' } },
  };
  for (const [name, over] of Object.entries(hostOverrides)) hosts[name] = { ...hosts[name], ...over };
  return lab.writeInventory({
    servers: ['k1'],
    agents: ['k2', 'k3'],
    extra: {
      cluster: {
        name: 'test',
        k3s_version: VERSION,
        token_file: path.join(work, 'token'),
        vars: {
          k3s: {
            ready_timeout: 60,
            kubeconfig: path.join(work, 'kubeconfig'),
            airgap_images: true,
            registries: { mirrors: { 'docker.io': { endpoint: ['https://registry.lab.internal'] } } },
            disable: ['traefik'],
          },
        },
        ...extraCluster,
      },
      hosts,
    },
  });
}

async function converge(inventory: Inventory, opts: { mirrorUrl?: string; check?: boolean } = {}): Promise<Run> {
  const output: string[] = [];
  const push = (m: string) => output.push(m);
  const report = await runSite({
    inventory,
    roles: ROLES,
    options: { check: opts.check ?? false, diff: true, verbosity: 2, forks: 10 },
    connect: (h) => createTransport(h, { knownHostsFile: lab.knownHostsFile, log: push }),
    log: { info: push, verbose: push, debug: push, warn: push },
    shared: new Map<string, unknown>([
      ['k3s.mirror', opts.mirrorUrl ?? mirror.url],
      ['k3s.cacheDir', path.join(work, 'cache')],
    ]),
  });
  return { report, output };
}

function failures(r: RunReport): string {
  return JSON.stringify(
    r.hosts.flatMap((h) =>
      h.tasks.filter((t) => t.outcome === 'failed' || t.outcome === 'unreachable').map((t) => `${h.host}: ${t.task}: ${t.message}`),
    ),
    null,
    1,
  );
}

const sh = async (host: string, cmd: string) => (await lab.sh(host, cmd)).stdout.trim();

/** "start"/"ready" lines the stand-in appended: [kind, unix ms, version] */
async function events(host: string): Promise<Array<{ what: string; ms: number; version: string }>> {
  const text = await sh(host, 'cat /var/lib/rancher/k3s/standin/events.log 2>/dev/null || true');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [what, ms, version] = l.split(' ');
      return { what, ms: Number(ms), version };
    });
}

test('a wrong checksum stops the run before anything is installed on any host', async () => {
  const bad = await startK3sMirror({ versions: [VERSION] });
  try {
    bad.corrupt(VERSION, 'k3s');
    const inventory = await loadInventory(writeInventory());
    const { report } = await converge(inventory, { mirrorUrl: bad.url });
    for (const h of report.hosts) {
      assert.is(h.outcome, 'failed', `${h.host} must fail`);
      assert.is(h.counts.changed, 0, `${h.host} must not be changed`);
      const failed = h.tasks.find((t) => t.outcome === 'failed')!;
      assert.is(failed.role, 'k3s-artifacts');
      assert.match(failed.message!, /checksum mismatch/);
      assert.match(failed.message!, /nothing was installed on any host/);
    }
    for (const h of lab.hosts) {
      assert.is(
        await sh(
          h.name,
          'ls /usr/local/bin/k3s /etc/rancher /etc/sysctl.d/70-clusterseed-k3s.conf /etc/systemd/system/k3s.service 2>/dev/null | wc -l',
        ),
        '0',
        `nothing on ${h.name}`,
      );
    }
  } finally {
    await bad.close();
  }
});

test('an unreachable release names the air-gap options', async () => {
  const inventory = await loadInventory(writeInventory());
  const { report } = await converge(inventory, { mirrorUrl: 'http://127.0.0.1:9/k3s-io/k3s/releases' });
  const msg = report.hosts[0].tasks.find((t) => t.outcome === 'failed')?.message ?? '';
  assert.match(msg, /--k3s-mirror URL/);
  assert.match(msg, /k3s_mirror/);
  assert.ok(report.hosts.every((h) => h.counts.changed === 0));
});

test('--check on fresh hosts reports the install and changes nothing, not even the token file', async () => {
  const inventory = await loadInventory(writeInventory());
  const { report } = await converge(inventory, { check: true });
  assert.is(failures(report), '[]');
  assert.ok(
    report.hosts.every((h) => h.counts.changed > 0),
    'changes are reported',
  );
  assert.not.ok(existsSync(path.join(work, 'token')), 'no token file was written');
  assert.not.ok(existsSync(path.join(work, 'kubeconfig')), 'no kubeconfig was written');
  for (const h of lab.hosts) {
    assert.is(
      await sh(
        h.name,
        'ls /usr/local/bin/k3s /etc/rancher /etc/sysctl.d/70-clusterseed-k3s.conf /etc/modules-load.d/br_netfilter.conf 2>/dev/null | wc -l',
      ),
      '0',
      `nothing on ${h.name}`,
    );
  }
  assert.is(await sh('k3', 'cat /boot/firmware/cmdline.txt'), PI_CMDLINE.trim());
  assert.is(await sh('k3', 'cat /var/lib/cs-boots 2>/dev/null | wc -l'), '0', 'no reboot in check mode');
});

test('1 server + 2 agents (one a Raspberry Pi) converge; a second run changes and restarts nothing', async () => {
  const [k1, k2, k3] = lab.hosts.map((h) => h.name);
  // sample every process's argv on every host while the run goes on (a unit: it survives the Pi's reboot)
  for (const h of [k1, k2, k3]) {
    await lab.sh(
      h,
      `rm -f /var/tmp/ps-stop /var/tmp/ps-samples; ` +
        `printf '[Service]\\nExecStart=/bin/sh -c "while [ ! -e /var/tmp/ps-stop ]; do ps -eo args >> /var/tmp/ps-samples; sleep 0.1; done"\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/cs-ps-sampler.service && ` +
        `systemctl enable --now cs-ps-sampler.service`,
    );
  }
  const inventoryFile = writeInventory();
  const inventory = await loadInventory(inventoryFile);
  const first = await converge(inventory);
  for (const h of [k1, k2, k3]) await lab.sh(h, 'touch /var/tmp/ps-stop; systemctl disable --now cs-ps-sampler.service');
  assert.is(failures(first.report), '[]');
  assert.ok(first.report.hosts.every((h) => h.counts.changed > 0));

  // the token: generated 0600 on the control machine, in no output, report or remote argv
  const tokenFile = path.join(work, 'token');
  assert.is(statSync(tokenFile).mode & 0o777, 0o600);
  const token = readFileSync(tokenFile, 'utf8').trim();
  assert.match(token, /^[0-9a-f]{64}$/);
  const jsonFile = path.join(work, 'report.json');
  writeJsonReport(jsonFile, first.report);
  assert.not.ok(readFileSync(jsonFile, 'utf8').includes(token), 'token in the JSON report');
  assert.not.ok(first.output.join('\n').includes(token), 'token in the output');
  assert.ok(first.output.length > 50, 'the run logged (so the check above means something)');
  for (const h of [k1, k2, k3]) {
    const samples = await sh(h, 'cat /var/tmp/ps-samples');
    assert.ok(samples.includes(`k3s ${h === k1 ? 'server' : 'agent'}`), `ps sampling on ${h} saw K3s running`);
    assert.ok(samples.includes('sudo'), `ps sampling on ${h} saw clusterseed's commands`);
    assert.not.ok(samples.includes(token), `token in a process's argv on ${h}`);
    assert.not.ok((await sh(h, `grep -c ${token} /etc/rancher/k3s/config.yaml || true`)) !== '0', 'token in config.yaml');
  }
  assert.is(
    await sh(k1, 'stat -c %a /etc/systemd/system/k3s.service.env /etc/rancher/k3s/config.yaml /etc/rancher/k3s/registries.yaml'),
    '600\n600\n600',
  );
  assert.is(await sh(k2, 'stat -c %a /etc/systemd/system/k3s-agent.service.env'), '600');
  assert.is(await sh(k1, `grep -c "^K3S_TOKEN='${token}'$" /etc/systemd/system/k3s.service.env`), '1');

  // K3s as the official installer sets it up, with the stand-in release
  assert.is(await sh(k1, 'systemctl is-active k3s; systemctl is-enabled k3s'), 'active\nenabled');
  assert.is(await sh(k2, 'systemctl is-active k3s-agent'), 'active');
  assert.match(await sh(k1, 'k3s --version'), /STAND-IN/);
  assert.is(await sh(k1, 'readlink /usr/local/bin/kubectl'), 'k3s');
  const unit = await sh(k1, 'cat /etc/systemd/system/k3s.service');
  for (const line of [
    'Type=notify',
    'KillMode=process',
    'Delegate=yes',
    'LimitNOFILE=1048576',
    'TimeoutStartSec=0',
    'Restart=always',
    'ExecStartPre=-/sbin/modprobe br_netfilter',
    'EnvironmentFile=-/etc/default/%N',
  ]) {
    assert.ok(unit.includes(line), `unit has ${line}`);
  }
  const config = parse(await sh(k1, 'cat /etc/rancher/k3s/config.yaml'));
  assert.is(config['node-name'], 'k1');
  assert.equal(config.disable, ['traefik']);
  assert.ok(config['tls-san'].includes(lab.hosts[0].address));
  assert.is(config['cluster-init'], undefined, 'one server: no embedded etcd');
  const agentConfig = parse(await sh(k2, 'cat /etc/rancher/k3s/config.yaml'));
  assert.is(agentConfig.server, `https://${lab.hosts[0].address}:6443`);
  assert.equal(agentConfig['node-taint'], ['clusterseed.io/edge=true:NoSchedule']);
  assert.is(await sh(k2, 'ls /var/lib/rancher/k3s/agent/images/'), 'k3s-airgap-images-amd64.tar.zst');

  // the nodes as the API reports them, asked through the first server
  for (const [name, label] of [
    [k2, 'clusterseed.io/arch-pool'],
    [k3, 'clusterseed.io/arch-pool'],
    [k1, 'node-role.clusterseed.io/stateful'],
  ]) {
    const node = JSON.parse(await sh(k1, `k3s kubectl get node ${name} -o json`));
    assert.is(node.status.conditions.find((c: { type: string; status: string }) => c.type === 'Ready').status, 'True', `${name} Ready`);
    assert.is(node.status.nodeInfo.kubeletVersion, VERSION);
    assert.ok(node.metadata.labels[label], `${name} has ${label}`);
  }
  const k2node = JSON.parse(await sh(k1, `k3s kubectl get node ${k2} -o json`));
  assert.is(k2node.metadata.labels['node-role.kubernetes.io/worker'], 'true', 'a kubelet-restricted label set through the API');
  assert.equal(k2node.spec.taints, [{ key: 'clusterseed.io/edge', value: 'true', effect: 'NoSchedule' }]);
  assert.not.ok(agentConfig['node-label'].includes('node-role.kubernetes.io/worker=true'), 'not handed to the kubelet');
  assert.match(await sh(k2, 'ip -o link show flannel.1'), /flannel\.1/);

  // prerequisites
  assert.is(await sh(k2, 'sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables'), '1\n1');
  assert.is(await sh(k2, 'cat /etc/modules-load.d/br_netfilter.conf'), 'br_netfilter');

  // the Pi: flags once on the one line, and exactly one reboot
  assert.is(
    await sh(k3, 'cat /boot/firmware/cmdline.txt'),
    `${PI_CMDLINE.trim()} cgroup_memory=1 cgroup_enable=memory cgroup_enable=cpuset`,
  );
  assert.is(await sh(k3, 'cat /var/lib/cs-boots | wc -l'), '1', 'the Pi rebooted once');

  // the kubeconfig on the control machine
  const kubeconfigFile = path.join(work, 'kubeconfig');
  assert.is(statSync(kubeconfigFile).mode & 0o777, 0o600);
  const kubeconfig = parse(readFileSync(kubeconfigFile, 'utf8'));
  assert.is(kubeconfig['current-context'], 'test');
  assert.is(kubeconfig.clusters[0].name, 'test');
  assert.is(kubeconfig.clusters[0].cluster.server, `https://${lab.hosts[0].address}:6443`);
  const kubeconfigMtime = statSync(kubeconfigFile).mtimeMs;

  // second run: nothing changes, nothing restarts, nothing reboots
  const before = await Promise.all([k1, k2, k3].map(events));
  const activeBefore = await sh(k1, 'systemctl show -p ActiveEnterTimestampMonotonic --value k3s');
  const requestsBefore = mirror.requests.length;
  const second = await converge(inventory);
  assert.is(failures(second.report), '[]');
  assert.equal(
    second.report.hosts.map((h) => h.counts.changed),
    [0, 0, 0],
    JSON.stringify(second.report.hosts.map((h) => h.tasks.filter((t) => t.outcome === 'changed'))),
  );
  assert.equal(await Promise.all([k1, k2, k3].map(events)), before, 'no K3s start since the first run');
  assert.is(await sh(k1, 'systemctl show -p ActiveEnterTimestampMonotonic --value k3s'), activeBefore);
  assert.is(await sh(k3, 'cat /var/lib/cs-boots | wc -l'), '1', 'no second reboot');
  assert.is(statSync(kubeconfigFile).mtimeMs, kubeconfigMtime, 'kubeconfig not rewritten');
  assert.is(mirror.requests.length, requestsBefore, 'the second run downloaded nothing (verified cache)');
});

test('a config change restarts only the node it concerns', async () => {
  const [k1, k2, k3] = lab.hosts.map((h) => h.name);
  const before = await Promise.all([k1, k2, k3].map(events));
  const inventory = await loadInventory(writeInventory());
  inventory.clusters[0].vars = {
    ...inventory.clusters[0].vars,
    k3s: { ...(inventory.clusters[0].vars.k3s as object), agent_config: { 'kubelet-arg': ['max-pods=50'] } },
  };
  const run = await converge(inventory);
  assert.is(failures(run.report), '[]');
  const after = await Promise.all([k1, k2, k3].map(events));
  assert.is(after[0].length, before[0].length, 'the server was not restarted');
  for (const i of [1, 2]) {
    const fresh = after[i].slice(before[i].length).map((e) => e.what);
    assert.equal(fresh, ['start', 'ready'], `agent ${i} restarted once`);
  }
  const restart = run.report.hosts[1].tasks.find((t) => t.task.startsWith('k3s-agent.service'));
  assert.match(restart?.summary ?? '', /config\.yaml changed/);
});

test('label and taint changes reach the API without restarting anything', async () => {
  const [k1, k2, k3] = lab.hosts.map((h) => h.name);
  assert.is(failures((await converge(await loadInventory(writeInventory()))).report), '[]'); // back to the base inventory
  const before = await Promise.all([k1, k2, k3].map(events));
  const inventory = await loadInventory(
    writeInventory(
      {},
      {
        k1: { labels: {} },
        k2: { labels: { 'clusterseed.io/arch-pool': 'x86-fast' }, taints: ['clusterseed.io/gpu:NoExecute'] },
      },
    ),
  );
  const run = await converge(inventory);
  assert.is(failures(run.report), '[]');
  const node = async (n: string) => JSON.parse(await sh(k1, `k3s kubectl get node ${n} -o json`));
  const n1 = await node(k1);
  assert.is(n1.metadata.labels['node-role.clusterseed.io/stateful'], undefined, 'a label dropped from the inventory leaves the node');
  assert.is(n1.metadata.labels['node-role.kubernetes.io/control-plane'], 'true', 'labels clusterseed does not manage stay');
  const n2 = await node(k2);
  assert.is(n2.metadata.labels['clusterseed.io/arch-pool'], 'x86-fast');
  assert.is(n2.metadata.labels['node-role.kubernetes.io/worker'], undefined);
  assert.equal(n2.spec.taints, [{ key: 'clusterseed.io/gpu', effect: 'NoExecute' }]);
  assert.equal(await Promise.all([k1, k2, k3].map(events)), before, 'no restart for labels and taints');
  assert.match(await sh(k2, 'cat /etc/rancher/k3s/config.yaml'), /x86-fast/, 'config.yaml has them for a later registration');
  const again = await converge(inventory);
  assert.equal(
    again.report.hosts.map((h) => h.counts.changed),
    [0, 0, 0],
  );
});

test('an agent with a wrong token does not join; the next run repairs it', async () => {
  const [k1, k2] = lab.hosts.map((h) => h.name);
  await lab.sh(
    k2,
    `sed -i "s/^K3S_TOKEN=.*/K3S_TOKEN='not-the-cluster-token'/" /etc/systemd/system/k3s-agent.service.env && systemctl restart --no-block k3s-agent`,
  );
  await new Promise((r) => setTimeout(r, 3000));
  assert.is(await sh(k2, 'systemctl is-active k3s-agent || true'), 'activating', 'no READY with a wrong token');
  assert.match(await sh(k2, 'journalctl -u k3s-agent -n 5 --no-pager -o cat'), /token CA hash does not match/);
  const node = JSON.parse(await sh(k1, `k3s kubectl get node ${k2} -o json`));
  assert.is(node.status.conditions.find((c: { type: string; status: string }) => c.type === 'Ready').status, 'Unknown');

  const run = await converge(await loadInventory(writeInventory()));
  assert.is(failures(run.report), '[]');
  const k2tasks = run.report.hosts[1].tasks.filter((t) => t.outcome === 'changed').map((t) => t.task);
  assert.ok(k2tasks.includes('file /etc/systemd/system/k3s-agent.service.env'), k2tasks.join(', '));
  assert.is(await sh(k2, 'systemctl is-active k3s-agent'), 'active');
});

test('reset asks for confirmation, then leaves no K3s unit, binary, data directory, interface or iptables rule behind', async () => {
  const inventoryFile = writeInventory();
  // not a terminal and no --yes: refused, nothing changed
  const refused = await runReset(['-i', inventoryFile], '');
  assert.is(refused.code, 1);
  assert.match(refused.out, /Pass --yes/);
  assert.is(await sh('k1', 'systemctl is-active k3s'), 'active');

  // rules like kube-proxy and flannel leave behind, next to one of the host's own
  await lab.sh(
    'k1',
    'DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables >/dev/null 2>&1 || ' +
      '(apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables >/dev/null)',
    { timeoutMs: 180_000 },
  );
  await lab.sh(
    'k1',
    'iptables -N KUBE-SERVICES && iptables -A INPUT -j KUBE-SERVICES && iptables -A FORWARD -m comment --comment "flanneld forward" -j ACCEPT && ' +
      'iptables -t nat -N CNI-HOSTPORT-MASQ && iptables -t nat -A POSTROUTING -j CNI-HOSTPORT-MASQ && iptables -A INPUT -p tcp --dport 2222 -j ACCEPT',
  );

  const done = await runReset(['-i', inventoryFile, '--yes'], '');
  assert.is(done.code, 0, done.out);
  for (const h of lab.hosts.map((x) => x.name)) {
    assert.is(await sh(h, 'ls /etc/systemd/system | grep -c "^k3s" || true'), '0', `units on ${h}`);
    assert.is(await sh(h, 'systemctl list-units --all --plain --no-legend "k3s*" | wc -l'), '0', `loaded units on ${h}`);
    assert.is(
      await sh(
        h,
        'ls /usr/local/bin/k3s /usr/local/bin/kubectl /usr/local/bin/crictl /usr/local/bin/ctr /etc/rancher/k3s /var/lib/rancher/k3s /var/lib/kubelet 2>/dev/null | wc -l',
      ),
      '0',
      `files on ${h}`,
    );
    assert.is(await sh(h, 'ip -o link show | grep -c -e flannel -e cni0 || true'), '0', `interfaces on ${h}`);
    assert.is(await sh(h, 'pgrep -c -f "k3s (server|agent)" || true'), '0', `processes on ${h}`);
  }
  const rules = await sh('k1', 'iptables-save');
  assert.not.match(rules, /KUBE-|CNI-|flannel/i, 'K3s rules removed');
  assert.match(rules, /--dport 2222 -j ACCEPT/, "the host's own rule stays");
  const kubeconfig = parse(readFileSync(path.join(work, 'kubeconfig'), 'utf8'));
  assert.equal(kubeconfig.contexts, [], 'the context left the local kubeconfig');

  const again = await runReset(['-i', inventoryFile, '--yes', '--json', path.join(work, 'reset.json')], '');
  assert.is(again.code, 0);
  const json = JSON.parse(readFileSync(path.join(work, 'reset.json'), 'utf8'));
  assert.equal(
    json.hosts.map((h: HostReport) => h.counts.changed),
    [0, 0, 0],
    'a second reset changes nothing',
  );
});

/** scripts/reset.mjs in a child process (real argv, stdin that is not a terminal). */
function runReset(args: string[], input: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'reset.mjs'), ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.stdin.end(input);
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

test.run();
