import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../../lib/inventory/load.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('the shipped inventory.yaml loads: desktop server, two Pi agents', async () => {
  const inv = await loadInventory(path.join(root, 'inventory.yaml'));
  assert.is(inv.file, path.join(root, 'inventory.yaml'));
  assert.equal(inv.hosts.map((h) => h.name), ['desktop', 'pi-1', 'pi-2']);
  assert.equal(inv.clusters.map((c) => [c.name, c.servers, c.agents]), [['homelab', ['desktop'], ['pi-1', 'pi-2']]]);
  const pi = inv.hosts.find((h) => h.name === 'pi-1')!;
  assert.is(pi.raspberryPi, true);
  assert.is(pi.arch, 'aarch64');
  assert.is(pi.labels['clusterseed.io/arch-pool'], 'arm');
  assert.is(inv.hosts[0].labels['node-role.clusterseed.io/stateful'], 'true');
  assert.is(inv.clusters[0].k3sVersion, 'v1.31.4+k3s1');
  assert.is(inv.clusters[0].components.minio.enabled, true);
  assert.equal(inv.gitops.repo, { kind: 'local', path: path.join(root, '.clusterseed/gitops.git') });
  assert.is(inv.warnings, undefined);
});

test.run();
