// roles/platform-prereq without a host: which nodes need which host packages for the enabled
// components (issue 15: open-iscsi for Longhorn on every node, the NVIDIA toolkit on GPU nodes).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { loadInventory } from '../../lib/inventory/load.ts';
import type { HostContext } from '../../lib/runner/types.ts';
import { defaults, nvidiaSourcesLine, platformPrereqRole, prereqsFor } from '../../roles/platform-prereq/index.ts';

const ALL = path.resolve('test/fixtures/inventory/good/all-components.yaml');

test('all components: iscsi on every node, the NVIDIA toolkit on the GPU node only', async () => {
  const inv = await loadInventory(ALL);
  const by = Object.fromEntries(inv.hosts.map((h) => [h.name, prereqsFor(h, inv).map((p) => `${p.prereq}:${p.component}`)]));
  assert.equal(by, {
    desktop: ['iscsi:longhorn', 'nfs:longhorn'],
    'gpu-box': ['iscsi:longhorn', 'nfs:longhorn', 'nvidia-toolkit:nvidia-device-plugin'],
    'pi-1': ['iscsi:longhorn', 'nfs:longhorn'],
    'pi-2': ['iscsi:longhorn', 'nfs:longhorn'],
  });
  for (const h of inv.hosts) assert.ok(platformPrereqRole.appliesTo(h, inv), h.name);
});

test('the shipped inventory (no Longhorn, no GPU component) installs nothing', async () => {
  const inv = await loadInventory(path.resolve('inventory.yaml'));
  for (const h of inv.hosts) {
    assert.equal(prereqsFor(h, inv), [], h.name);
    assert.not.ok(platformPrereqRole.appliesTo(h, inv), h.name);
  }
});

test('tasks: open-iscsi + iscsid everywhere, NVIDIA repository signed by its own key on the GPU node', async () => {
  const inv = await loadInventory(ALL);
  const tasksOf = async (name: string) => {
    const host = inv.hosts.find((h) => h.name === name)!;
    return platformPrereqRole.tasks({ host, inventory: inv, vars: defaults } as unknown as HostContext);
  };
  const pi = await tasksOf('pi-1');
  assert.equal(
    pi.flatMap((t) => t.packages ?? []),
    ['open-iscsi', 'nfs-common'],
  );
  assert.equal(
    pi.flatMap((t) => t.units ?? []),
    ['iscsid.service', 'iscsid.service'],
  );
  assert.ok(pi.some((t) => t.name === 'kernel module iscsi_tcp'));
  const gpu = await tasksOf('gpu-box');
  assert.ok(gpu.flatMap((t) => t.packages ?? []).includes('nvidia-container-toolkit'));
  const line = nvidiaSourcesLine(defaults);
  assert.is(
    line,
    'deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.asc] https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /',
  );
  const repo = gpu.find((t) => /apt repository/.test(t.name))!;
  assert.ok(repo.probe!.includes(line));
  // the repository comes before the package that needs it
  assert.ok(gpu.indexOf(repo) < gpu.findIndex((t) => (t.packages ?? []).includes('nvidia-container-toolkit')));
});

test.run();
