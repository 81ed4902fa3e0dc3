// The VM lab end to end (npm run test:vm; not part of the default npm test): one x86_64 and one arm64
// VM from the cached images (built first when missing), SSH as the lab's admin, per-VM identity,
// the inventory, a reboot of each (the Pi one with an edited cmdline.txt that must reach
// /proc/cmdline), and a `down` that leaves no process and no open file behind.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import {
  labDown,
  labStatus,
  labUp,
  rebootAndWait,
  readState,
  sshExec,
  sshTarget,
  processTag,
  type LabUpResult,
} from '../../lib/lab/index.ts';
import { findProcesses } from '../../lib/lab/proc.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clusterseed-vmtest-'));
let lab: LabUpResult | undefined;
let tag = '';
const log = (line: string) => console.log(`  [lab] ${line}`);

// Whatever happens (assertion, hang), the VMs go away: a watchdog well inside CI's limits.
const WATCHDOG_MS = 24 * 60_000;
const watchdog = setTimeout(async () => {
  console.error(`vm test: still running after ${WATCHDOG_MS / 60_000} min: tearing the lab down`);
  await labDown(dir).catch(() => undefined);
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();
const onSignal = async () => {
  await labDown(dir).catch(() => undefined);
  process.exit(1);
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

async function remote(name: string, command: string): Promise<string> {
  const state = readState(dir)!;
  const vm = state.vms.find((v) => v.name === name)!;
  const r = await sshExec(sshTarget(state, vm), command);
  assert.is(r.code, 0, `${name}: \`${command}\` exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Open files under one of `roots` (disks, sockets, logs of the lab), as "pid: path". */
function openFilesUnder(roots: string[]): string[] {
  const hits: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (roots.some((r) => target.startsWith(r))) hits.push(`${pid}: ${target}`);
    }
  }
  return hits;
}

test.after(async () => {
  await labDown(dir).catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
  // other suites (test/vm/site.test.ts) run in this process after this one
  clearTimeout(watchdog);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
});

test('up: an x86_64 desktop and an arm64 Pi answer SSH as admin with sudo', async () => {
  const started = Date.now();
  lab = await labUp({ dir, servers: 1, agents: 1, arch: ['x86_64', 'arm64'], log });
  log(`up took ${Math.round((Date.now() - started) / 1000)} s: ${JSON.stringify(lab.timings)}`);
  tag = processTag(readState(dir)!);
  assert.equal(
    lab.hosts.map((h) => [h.name, h.arch, h.role, h.raspberryPi]),
    [
      ['desktop', 'x86_64', 'server', false],
      ['pi-1', 'aarch64', 'agent', true],
    ],
  );
  assert.is(await remote('desktop', 'uname -m'), 'x86_64');
  assert.is(await remote('pi-1', 'uname -m'), 'aarch64');
  for (const name of ['desktop', 'pi-1']) {
    assert.is(await remote(name, 'sudo -n id -un'), 'root');
    assert.is(await remote(name, 'hostname'), name);
  }
});

test('every VM has the identity the lab made for it (machine id, host keys in known_hosts)', async () => {
  const state = readState(dir)!;
  for (const vm of state.vms) {
    assert.is(await remote(vm.name, 'cat /etc/machine-id'), vm.machineId);
    const served = await remote(vm.name, 'cat /etc/ssh/ssh_host_ed25519_key.pub');
    assert.ok(vm.hostPublicKeys.includes(served.split(/\s+/).slice(0, 2).join(' ')), `${vm.name}: host key not the generated one`);
  }
  assert.is.not(state.vms[0].machineId, state.vms[1].machineId);
  const knownHosts = fs.readFileSync(lab!.knownHostsFile, 'utf8');
  for (const h of lab!.hosts) assert.match(knownHosts, `[127.0.0.1]:${h.port} ssh-ed25519 `);
  assert.is(fs.statSync(lab!.keyPath).mode & 0o777, 0o600);
});

test('the inventory describes the lab in clusterseed inventory format', () => {
  const inv = YAML.parse(fs.readFileSync(lab!.inventoryFile, 'utf8'));
  const state = readState(dir)!;
  assert.equal(inv.cluster, {
    name: 'lab',
    k3s_version: 'v1.31.4+k3s1',
    vars: { k3s: { kubeconfig_server: `https://127.0.0.1:${state.lan!.apiPort}` } },
  });
  assert.equal(inv.defaults, { user: 'admin', become: true, ssh_key: lab!.keyPath, known_hosts: lab!.knownHostsFile });
  const [desktop, pi] = lab!.hosts;
  assert.equal(inv.hosts, {
    desktop: { address: '127.0.0.1', port: desktop.port, node_ip: '172.30.213.11', arch: 'x86_64' },
    'pi-1': { address: '127.0.0.1', port: pi.port, node_ip: '172.30.213.12', arch: 'aarch64', raspberry_pi: true },
  });
  assert.equal(inv.groups, { servers: ['desktop'], agents: ['pi-1'] });
});

test('the lab LAN: each VM has its address, and they reach each other on it', async () => {
  assert.match(await remote('desktop', 'ip -4 -o addr show'), 'inet 172.30.213.11/24');
  assert.match(await remote('pi-1', 'ip -4 -o addr show'), 'inet 172.30.213.12/24');
  // a TCP connection to the other VM's sshd over the LAN (no ping in the image)
  assert.is(await remote('pi-1', "timeout 20 bash -c '</dev/tcp/172.30.213.11/22' && echo open"), 'open');
  assert.is(await remote('desktop', "timeout 20 bash -c '</dev/tcp/172.30.213.12/22' && echo open"), 'open');
});

test('up again on the running lab returns it as it is', async () => {
  const again = await labUp({ dir, servers: 1, agents: 1, arch: ['x86_64', 'arm64'] });
  assert.equal(again.hosts, lab!.hosts);
  assert.equal(again.timings.bootToSshSeconds, {}, 'nothing booted');
  await labUp({ dir, servers: 1, agents: 2 }).then(
    () => assert.unreachable('accepted another topology'),
    (err: Error) => assert.match(err.message, 'run `lab down` first'),
  );
});

test('status: both VMs running and answering SSH', async () => {
  const status = await labStatus(dir);
  assert.equal(
    status.vms.map((v) => [v.name, v.running, v.ssh]),
    [
      ['desktop', true, true],
      ['pi-1', true, true],
    ],
  );
});

test('reboot and wait: both come back; the Pi boots with its edited cmdline.txt', async () => {
  assert.match(await remote('pi-1', 'cat /boot/firmware/cmdline.txt'), 'root=/dev/vda');
  assert.not.match(await remote('pi-1', 'cat /proc/cmdline'), 'cgroup_memory=1');
  // what the K3s role does on a real Pi: append the cgroup flags to the single line
  await remote('pi-1', `sudo sed -i '1 s/$/ cgroup_memory=1 cgroup_enable=memory/' /boot/firmware/cmdline.txt`);
  const [desktopSeconds, piSeconds] = await Promise.all([rebootAndWait('desktop', { dir }), rebootAndWait('pi-1', { dir })]);
  log(`reboot until SSH: desktop ${desktopSeconds} s, pi-1 ${piSeconds} s`);
  assert.match(await remote('pi-1', 'cat /proc/cmdline'), 'cgroup_memory=1 cgroup_enable=memory');
  assert.is(await remote('desktop', 'uname -m'), 'x86_64');
  // identity survives the reboot (applied once, machine id committed)
  const state = readState(dir)!;
  assert.is(await remote('pi-1', 'cat /etc/machine-id'), state.vms[1].machineId);
});

test('down: no QEMU or supervisor of the lab left, no file of it open, folder gone', async () => {
  assert.ok(findProcesses(tag).length >= 4, 'expected a supervisor and a QEMU per VM while up');
  assert.ok(openFilesUnder([dir + '/']).length > 0, 'expected the running lab to hold its disks open');
  assert.is(await labDown(dir), true);
  // (the base images in the cache are shared with other labs: their holders are other labs' QEMUs,
  // and ours are covered by the process check)
  assert.equal(findProcesses(tag), []);
  assert.equal(openFilesUnder([dir + '/']), []);
  assert.not.ok(fs.existsSync(path.join(dir, 'lab.json')));
  assert.not.ok(fs.existsSync(path.join(dir, 'vms')));
  assert.is(await labDown(dir), false, 'a second down finds nothing to do');
});

test.run();
