// The lab's parts that need no VM: topology, inventory (loaded by clusterseed's own inventory
// loader), QEMU command lines, accelerator override, keys, and the build's apt proxy. Seconds, not minutes.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { planTopology } from '../../lib/lab/topology.ts';
import { renderInventory } from '../../lib/lab/inventory.ts';
import { qemuCommand, labMac } from '../../lib/lab/qemu.ts';
import { generateKeyPair } from '../../lib/lab/identity.ts';
import { chooseAccel, ACCEL_ENV } from '../../lib/lab/accel.ts';
import { startAptProxy } from '../../lib/lab/apt-proxy.ts';
import { imageRecipe, PI_CMDLINE_TXT } from '../../lib/lab/recipe.ts';
import { labLaunchSpec as launch } from '../support/lab-launch.ts';
import { loadInventory, parseInventory } from '../../lib/inventory/load.ts';
import { lanAddress, lanGroup } from '../../lib/lab/lan.ts';
import { k3sSettings, kubeconfigServer } from '../../lib/k3s/settings.ts';
import { agentConfig } from '../../lib/k3s/config.ts';
import type { LabState } from '../../lib/lab/state.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clusterseed-labcfg-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('topology: the default is an x86_64 desktop server and an arm64 Pi agent', () => {
  assert.equal(
    planTopology().map((v) => [v.name, v.arch, v.role, v.raspberryPi, v.memoryMb]),
    [
      ['desktop', 'x86_64', 'server', false, 2048],
      ['pi-1', 'aarch64', 'agent', true, 1024],
    ],
  );
  assert.equal(
    planTopology({ servers: 3, agents: 2, arch: ['arm64', 'amd64'] }).map((v) => v.name),
    ['pi-server-1', 'pi-server-2', 'pi-server-3', 'node-1', 'node-2'],
  );
  assert.equal(
    planTopology({ agents: 0, arch: ['x86_64'] }).map((v) => v.name),
    ['desktop'],
  );
  assert.throws(() => planTopology({ servers: 0 }), /servers must be a whole number from 1 to 16/);
  assert.throws(() => planTopology({ arch: ['riscv64'] }), /unknown architecture "riscv64"/);
  assert.throws(() => planTopology({ memoryMb: 100 }), /at least 512 MiB/);
});

test('topology: VMs by name (a two-site lab), arch and role per VM; bad names refused', () => {
  assert.equal(
    planTopology({
      vms: [
        { name: 'cloud', role: 'server' },
        { name: 'home', arch: 'arm64' },
      ],
    }).map((v) => [v.name, v.arch, v.role, v.raspberryPi, v.memoryMb]),
    [
      ['cloud', 'x86_64', 'server', false, 2048],
      ['home', 'aarch64', 'agent', true, 1024],
    ],
  );
  assert.throws(() => planTopology({ vms: [{ name: 'Cloud_1' }] }), /VM name "Cloud_1" must be a lowercase host name/);
  assert.throws(() => planTopology({ vms: [{ name: 'a1' }, { name: 'a1' }] }), /VM name "a1" is given twice/);
  assert.throws(() => planTopology({ vms: [] }), /vms takes 1 to 16 VMs/);
});

test('inventory: clusterseed loads what the lab writes, Pi override and key paths included', () => {
  const dir = path.join(tmp, 'lab with space');
  fs.mkdirSync(dir);
  const key = path.join(dir, 'id_ed25519');
  const knownHosts = path.join(dir, 'known_hosts');
  fs.writeFileSync(key, generateKeyPair('ed25519', 'test').private, { mode: 0o600 });
  fs.writeFileSync(knownHosts, '');
  const vms = planTopology({ agents: 2 }).map((p, i) => ({ ...p, port: 2222 + i }));
  const state = { id: 'abcd1234', dir, k3sVersion: 'v1.31.4+k3s1', vms } as unknown as LabState;
  const file = path.join(dir, 'inventory.yaml');
  fs.writeFileSync(file, renderInventory(state, key, knownHosts));
  const inv = parseInventory(fs.readFileSync(file, 'utf8'), file);
  assert.equal(
    inv.hosts.map((h) => [h.name, h.address, h.port, h.arch, h.raspberryPi, h.user, h.become, h.sshKey, h.knownHostsFile]),
    [
      ['desktop', '127.0.0.1', 2222, 'x86_64', undefined, 'admin', true, key, knownHosts],
      ['pi-1', '127.0.0.1', 2223, 'aarch64', true, 'admin', true, key, knownHosts],
      ['pi-2', '127.0.0.1', 2224, 'aarch64', true, 'admin', true, key, knownHosts],
    ],
  );
  assert.equal(inv.clusters[0].servers, ['desktop']);
  assert.equal(inv.clusters[0].agents, ['pi-1', 'pi-2']);
  assert.is(inv.clusters[0].k3sVersion, 'v1.31.4+k3s1');
});

test('inventory with the lab LAN: nodes reach each other at their LAN addresses, the kubeconfig at the API forward', async () => {
  const dir = path.join(tmp, 'lan lab');
  fs.mkdirSync(dir);
  const key = path.join(dir, 'id_ed25519');
  fs.writeFileSync(key, generateKeyPair('ed25519', 'test').private, { mode: 0o600 });
  const vms = planTopology({ agents: 1 }).map((p, i) => ({
    ...p,
    port: 2222 + i,
    lan: { mac: labMac(i + 1, 'lan'), address: lanAddress(i) },
  }));
  const state = {
    id: 'abcd1234',
    dir,
    k3sVersion: 'v1.31.4+k3s1',
    lan: { ...lanGroup('abcd1234'), apiPort: 16443 },
    vms,
  } as unknown as LabState;
  const file = path.join(dir, 'inventory.yaml');
  fs.writeFileSync(file, renderInventory(state, key, path.join(dir, 'known_hosts')));
  const inv = await loadInventory(file);
  assert.equal(
    inv.hosts.map((h) => [h.name, h.address, h.nodeIp]),
    [
      ['desktop', '127.0.0.1', '172.30.213.11'],
      ['pi-1', '127.0.0.1', '172.30.213.12'],
    ],
  );
  const settings = k3sSettings(inv, inv.clusters[0]);
  assert.is(kubeconfigServer(inv, settings), 'https://127.0.0.1:16443');
  const agent = agentConfig({ inventory: inv, settings, host: inv.hosts[1], preferBundledBin: false });
  assert.is(agent.server, 'https://172.30.213.11:6443', 'the agent joins over the LAN, not through a forward');
  assert.is(agent['node-ip'], '172.30.213.12');
  // labs get distinct multicast groups, always a valid group address
  const a = lanGroup('abcd1234');
  const b = lanGroup('abce1234');
  assert.ok(a.group !== b.group || a.port !== b.port);
  assert.match(a.group, /^239\.255\.\d{1,3}\.\d{1,3}$/);
  assert.ok(a.port >= 20000 && a.port < 40000);
});

const argAfter = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

test('qemu: TCG x86_64 uses qemu64 and a bounded translation cache; arm64 is virt/cortex-a72', () => {
  const x86 = qemuCommand(launch('x86_64', 'tcg'), 'console=ttyS0');
  assert.is(x86.binary, 'qemu-system-x86_64');
  assert.is(argAfter(x86.args, '-accel'), 'tcg,tb-size=128');
  assert.is(argAfter(x86.args, '-cpu'), 'qemu64');
  assert.is(argAfter(x86.args, '-name'), 'clusterseed-vmlab-0000-vm');
  assert.is(argAfter(x86.args, '-netdev'), 'user,id=net0,hostfwd=tcp:127.0.0.1:2299-:22');
  assert.ok(x86.args.includes('-no-reboot'), 'a guest reboot must end QEMU so the supervisor sets the next command line');
  const arm = qemuCommand(launch('aarch64', 'tcg'), 'console=ttyAMA0');
  assert.is(arm.binary, 'qemu-system-aarch64');
  assert.is(argAfter(arm.args, '-machine'), 'virt');
  assert.is(argAfter(arm.args, '-cpu'), 'cortex-a72');
  const kvm = qemuCommand(launch('x86_64', 'kvm'), '');
  assert.is(argAfter(kvm.args, '-accel'), 'kvm');
  assert.is(argAfter(kvm.args, '-cpu'), 'host');
  assert.is(labMac(258), '52:54:00:c5:01:02');
  assert.is(labMac(258, 'lan'), '52:54:00:c6:01:02');
});

test('qemu: the first server forwards its K3s API; every VM gets a second NIC on the loopback multicast LAN', () => {
  const server = qemuCommand(
    { ...launch('x86_64', 'tcg'), apiPort: 16443, lan: { group: '239.255.1.3', port: 23456, mac: labMac(1, 'lan') } },
    '',
  );
  const netdevs = server.args.filter((_, i) => server.args[i - 1] === '-netdev');
  assert.equal(netdevs, [
    'user,id=net0,hostfwd=tcp:127.0.0.1:2299-:22,hostfwd=tcp:127.0.0.1:16443-:6443',
    'socket,id=lan,mcast=239.255.1.3:23456,localaddr=127.0.0.1',
  ]);
  assert.ok(server.args.includes(`virtio-net-pci,netdev=lan,mac=${labMac(1, 'lan')},romfile=`));
});

test('qemu: a UDP forward from 127.0.0.1 to the guest (a WireGuard endpoint other VMs reach at 10.0.2.2); no LAN NIC without a LAN', () => {
  const cloud = qemuCommand({ ...launch('x86_64', 'tcg'), udpForwards: [{ hostPort: 25820, guestPort: 51820 }] }, '');
  const netdevs = cloud.args.filter((_, i) => cloud.args[i - 1] === '-netdev');
  assert.equal(netdevs, ['user,id=net0,hostfwd=tcp:127.0.0.1:2299-:22,hostfwd=udp:127.0.0.1:25820-:51820']);
  assert.is(cloud.args.filter((a) => a.startsWith('virtio-net-pci')).length, 1, "one NIC: the VM's own user-mode network");
});

test('accelerator: the override wins and is checked; a foreign guest is always TCG', async () => {
  const saved = process.env[ACCEL_ENV];
  try {
    process.env[ACCEL_ENV] = 'tcg';
    assert.equal(await chooseAccel('x86_64', '/nonexistent'), { accel: 'tcg', reason: `${ACCEL_ENV}=tcg` });
    process.env[ACCEL_ENV] = 'fast';
    await chooseAccel('x86_64', '/nonexistent').then(
      () => assert.unreachable('accepted a bad override'),
      (err: Error) => assert.match(err.message, `${ACCEL_ENV}=fast: expected "tcg" or "kvm"`),
    );
    delete process.env[ACCEL_ENV];
    const foreign = process.arch === 'arm64' ? 'x86_64' : 'aarch64';
    assert.is((await chooseAccel(foreign, '/nonexistent')).accel, 'tcg');
  } finally {
    if (saved === undefined) delete process.env[ACCEL_ENV];
    else process.env[ACCEL_ENV] = saved;
  }
});

test('recipe: the kernel comes from the setup (after MODULES=list), not from debootstrap', () => {
  for (const arch of ['x86_64', 'aarch64'] as const) {
    const r = imageRecipe(arch);
    assert.not.ok(
      r.packages.some((p) => p.startsWith('linux-image')),
      'debootstrap must not configure the kernel',
    );
    const listAt = r.setup.indexOf('MODULES=list');
    const installAt = r.setup.indexOf(`install linux-image-${r.debArch}`);
    assert.ok(listAt >= 0 && installAt > listAt, 'initramfs configured before the kernel is installed');
  }
  // only the arm64 image carries a Raspberry-Pi-style cmdline.txt
  assert.match(imageRecipe('aarch64').setup, `'${PI_CMDLINE_TXT}' > /boot/firmware/cmdline.txt`);
  assert.not.match(imageRecipe('x86_64').setup, PI_CMDLINE_TXT.trim());
});

test('apt proxy: serves the mirror host only', async () => {
  const mirror = http.createServer((req, res) => res.end(`mirror saw ${req.url}`));
  await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', () => r()));
  const mirrorUrl = `http://127.0.0.1:${(mirror.address() as { port: number }).port}/debian`;
  const proxy = await startAptProxy(mirrorUrl);
  const viaProxy = (url: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const p = new URL(proxy.url);
      http
        .get({ host: p.hostname, port: p.port, path: url, headers: { host: new URL(url).host } }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  try {
    const ok = await viaProxy(`${mirrorUrl}/dists/bookworm/InRelease`);
    assert.equal(ok, { status: 200, body: 'mirror saw /debian/dists/bookworm/InRelease' });
    assert.is((await viaProxy('http://example.invalid/x')).status, 403);
  } finally {
    await proxy.close();
    mirror.close();
  }
});

test.run();
