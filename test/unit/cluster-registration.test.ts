// roles/cluster-registration without a host: its probe and apply scripts run for real (sh) against
// a fake `k3s kubectl` (test/fixtures/fake-k3s) that keeps objects in a temp dir and plays the
// token controller. Registration applies the argocd-manager objects on stdin, records the access
// (0600) and reports nothing on a rerun; a deleted token Secret re-registers with the new token;
// --check never writes; the token shows in no script, summary or error.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import type { Change, HostContext, PlanResult } from '../../lib/runner/types.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { clusterRegistrationRole, registrationTask, SEALING_KEY_FILE } from '../../roles/cluster-registration/index.ts';
import {
  builtClusterServer,
  isRegistrationHost,
  parseRegistrationState,
  pendingObjects,
  registrationProbe,
} from '../../lib/clusters/built.ts';
import { argocdManagerObjects, MANAGER_CLUSTER_ROLE } from '../../lib/clusters/manifests.ts';
import { clusterAccessFile, readClusterAccess } from '../../lib/clusters/access.ts';
import { LocalTransport } from '../support/local-transport.ts';
import { cluster, host } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';
import { loadOrCreateSealingKeys } from '../../lib/gitops/sealing-keys.ts';

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'fake-k3s');
const work = tempDir('cluster-registration');
process.env.PATH = `${FAKE}:${process.env.PATH}`;

function inventory(dir: string): Inventory {
  const hosts = [
    host('mgmt-1', 'mgmt', { address: '10.0.0.1', groups: ['servers'] }),
    host('edge-1', 'edge', { address: '10.0.1.1', groups: ['servers'] }),
    host('edge-2', 'edge', { address: '10.0.1.2', groups: ['agents'] }),
  ];
  return {
    file: path.join(dir, 'inventory.yaml'),
    dir,
    hosts,
    groups: { servers: ['mgmt-1', 'edge-1'], agents: ['edge-2'] },
    clusters: [
      cluster('mgmt', ['mgmt-1'], [], {}),
      cluster('edge', ['edge-1'], ['edge-2'], {}),
      cluster('gpu', [], [], {}, { adopted: { kubeconfig: '/k', nodePools: [] } }),
    ],
    gitops: { repo: { kind: 'local', path: path.join(dir, '.clusterseed', 'gitops.git') }, branch: 'main' },
    vars: {},
  };
}

interface Fixture {
  inv: Inventory;
  store: string;
  stateDir: string;
  ctx: (check?: boolean) => HostContext & { conn: LocalTransport };
}

let n = 0;
function fixture(): Fixture {
  const dir = path.join(work, `case-${++n}`);
  const store = path.join(dir, 'k3s-store');
  process.env.FAKE_K3S_STORE = store;
  // the token arrives at the second read: the apply script's wait loop runs once
  process.env.FAKE_K3S_TOKEN_DELAY = '1';
  const inv = inventory(dir);
  const logs: string[] = [];
  const ctx = (check = false) => {
    const h = inv.hosts[1];
    return {
      host: h,
      inventory: inv,
      conn: new LocalTransport(h),
      facts: {} as HostContext['facts'],
      vars: {},
      options: { check, diff: false, verbosity: 0 },
      shared: new Map(),
      peers: new Map(),
      log: {
        info: (m: string) => logs.push(m),
        verbose: (m: string) => logs.push(m),
        debug: (m: string) => logs.push(m),
        warn: (m: string) => logs.push(m),
      },
    } as HostContext & { conn: LocalTransport };
  };
  return { inv, store, stateDir: path.join(dir, '.clusterseed'), ctx };
}

/** probe → plan → apply (unless check), as the runner does; returns the plan */
async function converge(f: Fixture, check = false): Promise<{ change: Change | null; scripts: string[] }> {
  const task = registrationTask(f.inv.clusters[1], f.stateDir);
  const c = f.ctx(check);
  const res = await c.conn.exec(task.probe!, { become: true });
  assert.is(res.code, 0, res.stderr);
  const change = (await task.plan({ stdout: res.stdout, code: res.code }, c)) as PlanResult;
  assert.ok(!change || !('skip' in change));
  if (change && !check) await (change as Change).apply(c);
  return { change: change as Change | null, scripts: c.conn.scripts };
}

const secretFile = (f: Fixture) => path.join(f.store, 'Secret.kube-system.argocd-manager-long-lived-token.json');
const storedToken = (f: Fixture) => Buffer.from(JSON.parse(readFileSync(secretFile(f), 'utf8')).data.token, 'base64').toString();

test('the role runs on the first server of every built non-management cluster only', () => {
  const inv = inventory(work);
  assert.equal(
    inv.hosts.filter((h) => clusterRegistrationRole.appliesTo(h, inv)).map((h) => h.name),
    ['edge-1'],
  );
  assert.is(isRegistrationHost(inv, 'mgmt-1'), false);
  assert.is(builtClusterServer(inv, inv.clusters[1]), 'https://10.0.1.1:6443');
});

test('first run applies the four objects as one JSON List on stdin, waits for the token, records the access 0600', async () => {
  const f = fixture();
  const { change, scripts } = await converge(f);
  assert.ok(change);
  assert.match(change!.summary, /ServiceAccount argocd-manager \(absent\)/);
  assert.match(change!.summary, /Secret argocd-manager-long-lived-token \(absent\)/);
  const applied = readFileSync(path.join(f.store, 'stdin.log'), 'utf8').trim();
  assert.equal(JSON.parse(applied), { apiVersion: 'v1', kind: 'List', items: argocdManagerObjects() });
  const access = await readClusterAccess(f.stateDir, 'edge');
  const token = storedToken(f);
  assert.equal(access, {
    server: 'https://10.0.1.1:6443',
    caData: JSON.parse(readFileSync(secretFile(f), 'utf8')).data['ca.crt'],
    bearerToken: token,
  });
  assert.is(statSync(clusterAccessFile(f.stateDir, 'edge')).mode & 0o777, 0o600);
  // the token is nowhere in what was sent to the host, nor in the summary
  for (const s of scripts) assert.not.ok(s.includes(token));
  assert.not.ok(change!.summary.includes(token));
});

test('a rerun finds everything in place: no change, one probe only', async () => {
  const f = fixture();
  await converge(f);
  const before = readFileSync(clusterAccessFile(f.stateDir, 'edge'), 'utf8');
  const again = await converge(f);
  assert.is(again.change, null);
  assert.is(again.scripts.length, 1, 'only the probe ran');
  assert.is(readFileSync(clusterAccessFile(f.stateDir, 'edge'), 'utf8'), before);
});

test('rotation: a deleted token Secret is applied again and the new token recorded', async () => {
  const f = fixture();
  await converge(f);
  const old = (await readClusterAccess(f.stateDir, 'edge'))!.bearerToken;
  execFileSync('k3s', ['kubectl', 'delete', 'secret', 'argocd-manager-long-lived-token', '-n', 'kube-system']);
  const { change } = await converge(f);
  assert.match(change!.summary, /Secret argocd-manager-long-lived-token \(absent\)/);
  const now = (await readClusterAccess(f.stateDir, 'edge'))!.bearerToken;
  assert.is(now, storedToken(f));
  assert.is.not(now, old);
  assert.is((await converge(f)).change, null);
});

test('a lost access file is recorded again from the existing token, without applying anything', async () => {
  const f = fixture();
  await converge(f);
  const token = storedToken(f);
  rmSync(clusterAccessFile(f.stateDir, 'edge'));
  const { change, scripts } = await converge(f);
  assert.match(change!.summary, /^record Argo CD's access to edge/);
  assert.is(scripts.length, 1, 'nothing applied on the host');
  assert.is((await readClusterAccess(f.stateDir, 'edge'))!.bearerToken, token);
});

test('a ClusterRole with other rules is applied again', async () => {
  const f = fixture();
  await converge(f);
  const file = path.join(f.store, `ClusterRole._.${MANAGER_CLUSTER_ROLE}.json`);
  const role = JSON.parse(readFileSync(file, 'utf8'));
  role.rules = [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }];
  writeFileSync(file, JSON.stringify(role));
  const { change } = await converge(f);
  assert.match(change!.summary, /ClusterRole argocd-manager-role \(rules differ\)/);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).rules, argocdManagerObjects()[1].rules);
});

test('--check reads only: would register, nothing applied or recorded', async () => {
  const f = fixture();
  const { change, scripts } = await converge(f, true);
  assert.match(change!.summary, /^register edge with Argo CD/);
  assert.is(scripts.length, 1);
  assert.not.ok(existsSync(path.join(f.store, 'stdin.log')));
  assert.is(await readClusterAccess(f.stateDir, 'edge'), undefined);
});

test('without K3s: --check says it would register; a real run stops with a clear error', async () => {
  const f = fixture();
  const task = registrationTask(f.inv.clusters[1], f.stateDir);
  const absent = { stdout: 'k3s absent\n', code: 0 };
  const would = (await task.plan(absent, f.ctx(true))) as Change;
  assert.match(would.summary, /would register edge with Argo CD \(once K3s runs on edge-1\)/);
  try {
    await task.plan(absent, f.ctx(false));
    assert.unreachable('no error');
  } catch (err) {
    assert.match((err as Error).message, /K3s is not installed on edge-1: cluster edge cannot be registered/);
  }
});

test('probe output of the API as kubectl prints it parses; objects compare by content, not key order', () => {
  const objs = argocdManagerObjects();
  const line = (o: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    `${o.kind} ${Buffer.from(JSON.stringify({ ...extra, ...o, metadata: { ...(o.metadata as object), uid: 'x', resourceVersion: '1' } })).toString('base64')}`;
  const st = parseRegistrationState(objs.map((o) => line(o)).join('\n') + '\n');
  assert.equal(pendingObjects(st), []);
  const missing = parseRegistrationState(
    objs
      .slice(0, 3)
      .map((o) => line(o))
      .join('\n') + '\nSecret \n',
  );
  assert.equal(
    pendingObjects(missing).map((p) => p.kind),
    ['Secret'],
  );
  assert.match(registrationProbe(), /^if ! command -v k3s/);
});

test("the role installs the cluster's own sealing key (0600, secret) before registering", async () => {
  const f = fixture();
  // made here with a small key (fast); the role finds and uses it
  await loadOrCreateSealingKeys(path.join(f.stateDir, 'edge', 'sealing'), TEST_KEY_OPTIONS);
  const tasks = await clusterRegistrationRole.tasks(f.ctx());
  const key = tasks.find((t) => t.name === 'sealing key of edge')!;
  assert.ok(key, tasks.map((t) => t.name).join(', '));
  assert.equal(
    key.files?.map((x) => x.path),
    [`/var/lib/rancher/k3s/server/manifests/${SEALING_KEY_FILE}`],
  );
  assert.ok(tasks.indexOf(key) < tasks.findIndex((t) => t.name === 'register edge with Argo CD'));
  assert.ok(readdirSync(path.join(f.stateDir, 'edge', 'sealing')).includes('sealed-secrets.key'));
});

test.run();
