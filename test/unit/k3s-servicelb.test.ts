// One owner for LoadBalancer Services (issue 15): with MetalLB enabled, K3s' ServiceLB is disabled
// in the servers' config.yaml; without it, K3s keeps its own.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { loadInventory } from '../../lib/inventory/load.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import { serverConfig } from '../../lib/k3s/config.ts';
import { k3sSettings } from '../../lib/k3s/settings.ts';

function firstServerConfig(inv: Inventory): Record<string, unknown> {
  const cluster = inv.clusters[0];
  const host = inv.hosts.find((h) => h.name === cluster.servers[0])!;
  return serverConfig({ inventory: inv, settings: k3sSettings(inv, cluster), host, preferBundledBin: false });
}

test('metallb enabled: servicelb disabled', async () => {
  const inv = await loadInventory(path.resolve('test/fixtures/inventory/good/all-components.yaml'));
  assert.equal(firstServerConfig(inv).disable, ['servicelb']);
});

test('metallb enabled and traefik disabled by the inventory: both, servicelb once', async () => {
  const inv = await loadInventory(path.resolve('test/fixtures/inventory/good/all-components.yaml'));
  inv.clusters[0].vars = { ...inv.clusters[0].vars, k3s: { disable: ['servicelb', 'traefik'] } };
  assert.equal(firstServerConfig(inv).disable, ['servicelb', 'traefik']);
});

test('no metallb: K3s keeps ServiceLB', async () => {
  const inv = await loadInventory(path.resolve('inventory.yaml'));
  assert.is(firstServerConfig(inv).disable, undefined);
});

test.run();
