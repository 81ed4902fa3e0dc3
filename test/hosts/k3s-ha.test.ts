// Three K3s servers with embedded etcd (STAND-IN release from a loopback mirror): the first
// initialises the cluster, the others join one at a time, each a Ready voting etcd member before
// the next one starts; a version bump is a rolling upgrade in the same order, proven by the hosts'
// own start/ready timestamps.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
import { kubeconfigRole } from '../../roles/kubeconfig/index.ts';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';

const V1 = 'v1.31.4+k3s1';
const V2 = 'v1.31.5+k3s1';
const API = 'k8s-api.lab.internal';
const ROLES: Role[] = [k3sArtifactsRole, k3sPrereqRole, k3sServerRole, k3sAgentRole, kubeconfigRole];

let lab: TestLab;
let mirror: K3sMirror;
let work: string;
let names: string[];

test.before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'clusterseed-k3s-ha-'));
  [lab, mirror] = await Promise.all([startLab({ count: 3, prefix: 'ha' }), startK3sMirror({ versions: [V1, V2] })]);
  names = lab.hosts.map((h) => h.name);
});
test.after(async () => {
  await lab?.stop();
  await mirror?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  clearSecrets();
});

async function inventoryAt(version: string): Promise<Inventory> {
  return loadInventory(
    lab.writeInventory({
      servers: names,
      agents: [],
      extra: {
        cluster: {
          name: 'ha',
          k3s_version: version,
          api_endpoint: API,
          token_file: path.join(work, 'token'),
          vars: { k3s: { ready_timeout: 60, kubeconfig: path.join(work, 'kubeconfig'), etcd_snapshot_retention: 7 } },
        },
      },
    }),
  );
}

async function converge(inventory: Inventory, check = false): Promise<RunReport> {
  const quiet = () => undefined;
  return runSite({
    inventory,
    roles: ROLES,
    options: { check, diff: false, verbosity: 0, forks: 10 },
    connect: (h) => createTransport(h, { knownHostsFile: lab.knownHostsFile }),
    log: { info: quiet, verbose: quiet, debug: quiet, warn: quiet },
    shared: new Map<string, unknown>([
      ['k3s.mirror', mirror.url],
      ['k3s.cacheDir', path.join(work, 'cache')],
    ]),
  });
}

function failures(r: RunReport): string {
  return JSON.stringify(
    r.hosts.flatMap((h) => h.tasks.filter((t) => t.outcome === 'failed').map((t) => `${h.host}: ${t.task}: ${t.message}`)),
  );
}

const sh = async (host: string, cmd: string) => (await lab.sh(host, cmd)).stdout.trim();

interface Event {
  what: string;
  ms: number;
  version: string;
}

async function events(host: string): Promise<Event[]> {
  const text = await sh(host, 'cat /var/lib/rancher/k3s/standin/events.log 2>/dev/null || true');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [what, ms, version] = l.split(' ');
      return { what, ms: Number(ms), version };
    });
}

/**
 * For each host: exactly one start and ready of `version`; each start after the previous host was
 * ready (its own READY) AND a voting etcd member (promotion time as the datastore recorded it).
 */
async function assertOneAtATime(all: Event[][], version: string) {
  const spans = all.map((evs, i) => {
    const mine = evs.filter((e) => e.version === version);
    assert.equal(
      mine.map((e) => e.what),
      ['start', 'ready'],
      `${names[i]}: one start and one ready of ${version}`,
    );
    return { start: mine[0].ms, ready: mine[1].ms };
  });
  const voterSince = await Promise.all(
    names.map(async (n) => Number((await apiNode(n)).metadata.annotations['standin.clusterseed.io/voter-since'])),
  );
  for (let i = 1; i < spans.length; i++) {
    assert.ok(
      spans[i].start > spans[i - 1].ready,
      `${names[i]} started (${spans[i].start}) after ${names[i - 1]} was ready (${spans[i - 1].ready})`,
    );
    assert.ok(
      spans[i].start > voterSince[i - 1],
      `${names[i]} started (${spans[i].start}) after ${names[i - 1]} became a voter (${voterSince[i - 1]})`,
    );
  }
}

/** The fields of `kubectl get node -o json` these tests read. */
interface ApiNode {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  status: { conditions: { type: string; status: string }[]; nodeInfo: { kubeletVersion: string } };
}

async function apiNode(name: string): Promise<ApiNode> {
  return JSON.parse(await sh(names[0], `k3s kubectl get node ${name} -o json`)) as ApiNode;
}

test('three servers: cluster-init on the first, the others join one at a time as voting etcd members', async () => {
  const run = await converge(await inventoryAt(V1));
  assert.is(failures(run), '[]');
  const configs = await Promise.all(names.map(async (n) => parse(await sh(n, 'cat /etc/rancher/k3s/config.yaml'))));
  assert.is(configs[0]['cluster-init'], true);
  assert.is(configs[0].server, undefined);
  for (const c of configs.slice(1)) {
    assert.is(c.server, `https://${lab.hosts[0].address}:6443`);
    assert.is(c['cluster-init'], undefined);
  }
  for (const [i, c] of configs.entries()) {
    assert.equal(c['tls-san'], [API, lab.hosts[i].address]);
    assert.is(c['etcd-snapshot-retention'], 7);
    assert.is(c['etcd-snapshot-schedule-cron'], '0 */12 * * *');
  }
  await assertOneAtATime(await Promise.all(names.map(events)), V1);
  for (const n of names) {
    const node = await apiNode(n);
    assert.is(node.metadata.labels['node-role.kubernetes.io/etcd'], 'true');
    assert.is(node.status.conditions.find((c) => c.type === 'EtcdIsVoter')?.status, 'True');
  }
  const kubeconfig = parse(readFileSync(path.join(work, 'kubeconfig'), 'utf8'));
  assert.is(kubeconfig.clusters.find((c: { name: string }) => c.name === 'ha').cluster.server, `https://${API}:6443`);

  const settled = await Promise.all(names.map(events));
  const again = await converge(await inventoryAt(V1));
  assert.equal(
    again.hosts.map((h) => h.counts.changed),
    [0, 0, 0],
  );
  assert.equal(await Promise.all(names.map(events)), settled, 'the second run restarted nothing');
});

test('a version bump: --check changes nothing, then servers upgrade strictly one at a time', async () => {
  const before = await Promise.all(names.map(events));
  const check = await converge(await inventoryAt(V2), true);
  assert.ok(
    check.hosts.every((h) => h.counts.changed > 0),
    'check reports the upgrade',
  );
  assert.equal(await Promise.all(names.map(events)), before, 'check restarted nothing');
  assert.match(await sh(names[0], 'k3s --version'), new RegExp(V1.replace('+', '\\+')));

  const run = await converge(await inventoryAt(V2));
  assert.is(failures(run), '[]');
  await assertOneAtATime(await Promise.all(names.map(events)), V2);
  for (const [i, h] of run.hosts.entries()) {
    const restart = h.tasks.find((t) => t.task.startsWith('k3s.service'));
    assert.match(restart?.summary ?? '', /binary changed/, `${names[i]} restarted for the new binary`);
  }
  for (const n of names) assert.is((await apiNode(n)).status.nodeInfo.kubeletVersion, V2);
  const settled = await Promise.all(names.map(events));
  const again = await converge(await inventoryAt(V2));
  assert.equal(
    again.hosts.map((h) => h.counts.changed),
    [0, 0, 0],
  );
  assert.equal(await Promise.all(names.map(events)), settled, 'the run after the upgrade restarted nothing');
});

test.run();
