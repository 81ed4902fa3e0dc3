// The seed topologies in examples/ load through the real loader, show what they are meant to show,
// and carry nothing the secret scanner would flag (the GPU cluster's kubeconfig is a dummy).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { apiAddressFromManagement, clusterSpansSites } from '../../lib/inventory/sites.ts';
import { scanText } from '../../lib/gitops/secret-scan.ts';
import { checkInventoryVars } from '../../roles/vars-specs.ts';
import { preflightRoleVars } from '../../roles/vars-preflight.ts';
import { siteRoles } from '../../roles/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const examples = path.join(root, 'examples');
const inventories = readdirSync(examples)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

const load = (name: string) => loadInventory(path.join(examples, name));
/** Warnings other than a checkout's file mode on the dummy kubeconfig (git keeps no 0600). */
const warnings = (inv: Inventory) => (inv.warnings ?? []).filter((w) => !/kubeconfigs\/gpu\.yaml has mode/.test(w));

test('the three seed topologies are there; every inventory in examples/ loads without warnings and passes the role vars preflight', async () => {
  assert.equal(inventories, ['cloud-edge.yaml', 'home.yaml', 'managed-gpu.yaml']);
  for (const name of inventories) {
    const inv = await load(name);
    assert.equal(warnings(inv), [], name);
    checkInventoryVars(inv);
    await preflightRoleVars(inv, siteRoles());
  }
});

test('home.yaml is the shipped inventory.yaml: one cluster, desktop server, two Pi agents', async () => {
  const example = await load('home.yaml');
  const shipped = await loadInventory(path.join(root, 'inventory.yaml'));
  // paths differ (relative to each file's directory); everything else is the same
  const comparable = (inv: Inventory) => ({
    ...inv,
    file: '',
    dir: '',
    clusters: inv.clusters.map((c) => ({ ...c, tokenFile: path.relative(inv.dir, c.tokenFile!) })),
    gitops: { ...inv.gitops, repo: { kind: inv.gitops.repo.kind } },
  });
  assert.equal(comparable(example), comparable(shipped));
  assert.equal(
    example.clusters.map((c) => [c.name, c.servers, c.agents]),
    [['homelab', ['desktop'], ['pi-1', 'pi-2']]],
  );
});

test('cloud-edge.yaml: a cloud management cluster and a home edge cluster, linked through the cloud hub', async () => {
  const inv = await load('cloud-edge.yaml');
  assert.equal(
    inv.clusters.map((c) => [c.name, c.servers, c.agents]),
    [
      ['cloud', ['cloud-1'], []],
      ['edge', ['pi-1'], ['pi-2']],
    ],
  );
  assert.equal(inv.sites, ['cloud', 'home']);
  assert.is(inv.siteLink?.topology, 'hub');
  assert.is(inv.siteLink?.hub, 'cloud-1');
  assert.equal(
    inv.hosts.map((h) => [h.name, h.site, h.link]),
    [
      ['cloud-1', 'cloud', { address: '10.77.0.1', endpoint: '203.0.113.10:51820' }],
      ['pi-1', 'home', { address: '10.77.0.11' }],
      ['pi-2', 'home', { address: '10.77.0.12' }],
    ],
  );
  // each cluster stays at one site; Argo CD in the cloud reaches the edge API through the tunnel
  assert.equal(
    inv.clusters.map((c) => clusterSpansSites(inv, c.name)),
    [false, false],
  );
  assert.is(apiAddressFromManagement(inv, inv.clusters[1]), '10.77.0.11');
});

test('managed-gpu.yaml: a built management cluster and an adopted GPU cluster with its server and pools', async () => {
  const inv = await load('managed-gpu.yaml');
  const [mgmt, gpu] = inv.clusters;
  assert.is(mgmt.adopted, undefined);
  assert.equal(mgmt.servers, ['desktop']);
  assert.is(gpu.adopted?.kubeconfig, path.join(examples, 'kubeconfigs/gpu.yaml'));
  assert.is(gpu.adopted?.server, 'https://lke-gpu.example:443');
  assert.equal(
    gpu.adopted?.nodePools.map((p) => [p.name, p.count, p.gpus, p.memoryMi, p.labels, p.taints]),
    [
      ['system', 1, 0, 4096, {}, []],
      ['gpu', 2, 1, 32768, { 'clusterseed.io/pool': 'gpu' }, ['nvidia.com/gpu=present:NoSchedule']],
    ],
  );
  assert.ok(inv.hosts.every((h) => h.cluster === 'mgmt'));
});

test('nothing in examples/ looks like a secret to the scanner (which would flag a real token there)', () => {
  const kubeconfig = readFileSync(path.join(examples, 'kubeconfigs/gpu.yaml'), 'utf8');
  const real = kubeconfig.replace('"<token-written-by-tofu>"', 'kX9fQ2pL7vR4mN8sT1wZ6yB3cH5jD0gA');
  assert.equal(
    scanText('examples/kubeconfigs/gpu.yaml', real).map((f) => f.rule),
    ['plaintext-credential'],
  );
  const files = readdirSync(examples, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  assert.ok(files.length >= 4);
  for (const f of files) {
    const rel = path.relative(root, path.join(f.parentPath, f.name));
    assert.equal(scanText(rel, readFileSync(path.join(root, rel), 'utf8')), [], rel);
  }
});

test.run();
