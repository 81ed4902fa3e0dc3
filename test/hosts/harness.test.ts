// The test-host harness itself: real nspawn hosts with systemd and sshd, reachable over their own
// bridge, reachable from each other, restartable, and gone without a trace after stop() — also
// when the owning process is interrupted or killed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execOnce } from '../../lib/ssh/exec-once.ts';
import { parse } from 'yaml';
import { cleanupStale, startLab, type TestHost, type TestLab } from '../harness/hosts.ts';
import { run } from '../../lib/process/index.ts';
import { ensureHostImage } from '../harness/image.ts';
import { checkConnectionFiles, loadInventory } from '../../lib/inventory/load.ts';

let lab: TestLab | undefined;

test.before(async () => {
  lab = await startLab({ count: 3 });
});

test.after(async () => {
  await lab?.stop();
});

function theLab(): TestLab {
  if (!lab) throw new Error('the lab did not start');
  return lab;
}

function banner(address: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port, timeout: 5_000 });
    let data = '';
    socket.on('data', (d) => {
      data += d.toString('latin1');
      if (data.includes('\n')) {
        socket.destroy();
        resolve(data.trim());
      }
    });
    socket.on('timeout', () => socket.destroy(new Error(`no banner from ${address}:${port}`)));
    socket.on('error', reject);
  });
}

/** Public key blob (base64) the known_hosts file lists for an address. */
function knownKey(lab: TestLab, address: string): string {
  const line = fs
    .readFileSync(lab.knownHostsFile, 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[0] === address);
  if (!line) throw new Error(`${address} missing from ${lab.knownHostsFile}`);
  return line.split(' ')[2];
}

/** Logs in with ssh2 (host key checked against the lab's known_hosts) and runs one command. */
function sshExec(
  lab: TestLab,
  host: TestHost,
  user: string,
  command: string,
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const expectedKey = knownKey(lab, host.address);
  const config = {
    host: host.address,
    port: host.port,
    username: user,
    privateKey: fs.readFileSync(lab.keyPath),
    hostVerifier: (key: Buffer) => key.toString('base64') === expectedKey,
    readyTimeout: 15_000,
  };
  return execOnce(config, command, { input: input ?? '' });
}

async function initStart(lab: TestLab, host: string): Promise<string> {
  // start time of the container's PID 1: changes whenever the host boots again
  const r = await lab.sh(host, "cut -d' ' -f22 /proc/1/stat");
  assert.is(r.code, 0, r.stderr);
  return r.stdout.trim();
}

test('the cached image is reused and carries no machine identity', async () => {
  const started = Date.now();
  const image = await ensureHostImage();
  assert.ok(Date.now() - started < 2_000, 'a cached rootfs comes back at once');
  assert.is(fs.readFileSync(path.join(image, 'etc/machine-id'), 'utf8'), '');
  assert.equal(
    fs.readdirSync(path.join(image, 'etc/ssh')).filter((f) => f.startsWith('ssh_host_')),
    [],
  );
  for (const timer of ['apt-daily.timer', 'apt-daily-upgrade.timer']) {
    assert.is(fs.readlinkSync(path.join(image, 'etc/systemd/system', timer)), '/dev/null', `${timer} is masked`);
  }
  assert.not.ok(fs.existsSync(path.join(image, 'usr/bin/python3')), 'no python on a bare host');
});

test('every host answers with an SSH banner on its own address', async () => {
  const { hosts } = theLab();
  assert.equal(
    hosts.map((h) => h.name),
    ['h1', 'h2', 'h3'],
  );
  assert.is(new Set(hosts.map((h) => h.address)).size, 3);
  for (const host of hosts) assert.match(await banner(host.address, host.port), /^SSH-2\.0-OpenSSH/);
});

test('sh() runs as root inside the right host, which booted systemd with its own identity', async () => {
  const lab = theLab();
  const identities = new Set<string>();
  for (const host of lab.hosts) {
    const r = await lab.sh(
      host.name,
      'hostname; id -u; cat /etc/machine-id; systemctl is-system-running --wait; cat /etc/ssh/ssh_host_ed25519_key.pub',
    );
    assert.is(r.code, 0, r.stderr);
    const [hostname, uid, machineId, state, hostKey] = r.stdout.trim().split('\n');
    assert.is(hostname, host.name);
    assert.is(uid, '0');
    assert.match(machineId, /^[0-9a-f]{32}$/);
    const failedUnits =
      state === 'running'
        ? ''
        : (await lab.sh(host.name, 'systemctl --failed --no-legend; journalctl -b -p warning --no-pager | tail -20')).stdout;
    assert.is(state, 'running', failedUnits);
    assert.is(hostKey.split(' ')[1], knownKey(lab, host.address), 'known_hosts holds the real host key');
    identities.add(machineId).add(hostKey);
  }
  assert.is(identities.size, 6, 'machine ids and host keys differ between hosts');
  const failed = await lab.sh('h1', 'exit 3');
  assert.is(failed.code, 3);
});

test('root, admin and operator log in with the lab key; admin sudo needs no password, operator sudo needs its own', async () => {
  const lab = theLab();
  const h1 = lab.hosts[0];
  assert.is((await sshExec(lab, h1, 'root', 'id -un')).stdout.trim(), 'root');
  const admin = await sshExec(lab, h1, 'admin', 'sudo -n id -un');
  assert.is(admin.stdout.trim(), 'root', admin.stderr);
  const operatorNoPassword = await sshExec(lab, h1, 'operator', 'sudo -n id -un');
  assert.is.not(operatorNoPassword.code, 0, 'operator must not have passwordless sudo');
  const operator = await sshExec(lab, h1, 'operator', "sudo -S -p '' id -un", `${lab.operatorPassword}\n`);
  assert.is(operator.stdout.trim(), 'root', operator.stderr);
  const wrong = await sshExec(lab, h1, 'operator', "sudo -S -p '' id -un", 'not-the-password\n');
  assert.is.not(wrong.code, 0);
});

test('each host has its own cgroups: stopping sshd on one host leaves the others alone', async () => {
  const lab = theLab();
  const [h1, h2, h3] = lab.hosts;
  const stopped = await lab.sh('h1', 'systemctl stop ssh.service');
  assert.is(stopped.code, 0, stopped.stderr);
  assert.not.ok(
    await banner(h1.address, h1.port).then(
      () => true,
      () => false,
    ),
    'sshd on h1 is stopped',
  );
  for (const other of [h2, h3]) assert.match(await banner(other.address, other.port), /^SSH-2\.0/);
  const inCgroup = await lab.sh(
    'h2',
    'cat /sys/fs/cgroup/systemd/system.slice/ssh.service/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup/system.slice/ssh.service/cgroup.procs',
  );
  assert.ok(inCgroup.stdout.trim().length > 0, 'sshd of h2 is in its own ssh.service cgroup');
  assert.is((await lab.sh('h1', 'systemctl start ssh.service')).code, 0);
  await lab.waitForSsh('h1');
});

test('hosts reach each other by address and by name', async () => {
  const lab = theLab();
  const [h1, h2, h3] = lab.hosts;
  for (const target of [h2.address, 'h3', h3.address]) {
    const r = await lab.sh(h1.name, `timeout 5 bash -c 'exec 3<>/dev/tcp/${target}/22; head -c 7 <&3'`);
    assert.is(r.stdout, 'SSH-2.0', `h1 -> ${target}: ${r.stderr}`);
  }
});

test('apt-get update and install work over SSH through the mirror relay', async () => {
  const lab = theLab();
  const r = await sshExec(
    lab,
    lab.hosts[1],
    'admin',
    'sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q tree && tree --version',
  );
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /tree v\d/);
});

test('a reboot inside a host brings it back (nspawn exit 133 restarts it)', async () => {
  const lab = theLab();
  const before = await initStart(lab, 'h3');
  await lab.sh('h3', 'systemctl reboot');
  const deadline = Date.now() + 30_000;
  let after = before;
  while (after === before && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    after = await lab.sh('h3', "cut -d' ' -f22 /proc/1/stat").then(
      (r) => (r.code === 0 ? r.stdout.trim() : before),
      () => before,
    );
  }
  assert.is.not(after, before, 'h3 booted again');
  await lab.waitForSsh('h3');
  assert.is((await sshExec(lab, lab.hosts[2], 'root', 'hostname')).stdout.trim(), 'h3');
});

test('restart() power-cycles a host, which keeps its disk and answers SSH again', async () => {
  const lab = theLab();
  await lab.sh('h2', 'echo kept > /root/marker');
  const before = await initStart(lab, 'h2');
  await lab.restart('h2');
  assert.is.not(await initStart(lab, 'h2'), before);
  assert.is((await sshExec(lab, lab.hosts[1], 'root', 'cat /root/marker')).stdout.trim(), 'kept');
});

test('writeInventory writes the agreed format, which lib/inventory loads', async () => {
  const lab = theLab();
  const file = lab.writeInventory({ servers: ['h1', 'h2'], user: 'operator', extra: { defaults: { become_password_env: 'OPERATOR_PW' } } });
  const doc = parse(fs.readFileSync(file, 'utf8'));
  assert.equal(doc.defaults, {
    user: 'operator',
    become: true,
    ssh_key: lab.keyPath,
    known_hosts: lab.knownHostsFile,
    port: 22,
    become_password_env: 'OPERATOR_PW',
  });
  assert.equal(doc.hosts.h2, { address: lab.hosts[1].address });
  assert.equal(doc.groups, { servers: ['h1', 'h2'], agents: ['h3'] });

  const inventory = await loadInventory(lab.writeInventory());
  checkConnectionFiles(inventory, { SSH_AUTH_SOCK: '' });
  const h3 = inventory.hosts.find((h) => h.name === 'h3');
  assert.ok(h3, 'h3 is in the loaded inventory');
  assert.is(h3.address, lab.hosts[2].address);
  assert.is(h3.user, 'admin');
  assert.is(h3.sshKey, lab.keyPath);
  assert.is(h3.knownHostsFile, lab.knownHostsFile);
  assert.equal(h3.groups, ['agents']);
  assert.throws(() => lab.writeInventory({ agents: ['nope'] }), /no host named nope/);
});

/** Everything a lab can leave behind, for before/after comparisons. */
async function leftovers(labDir: string, hosts: TestHost[]): Promise<string[]> {
  const found: string[] = [];
  const netns = (await run(['ip', 'netns', 'list'], { timeoutMs: 30_000 })).stdout;
  for (const h of hosts) if (netns.split('\n').some((l) => l.split(' ')[0] === h.netns)) found.push(`netns ${h.netns}`);
  const subnet = hosts[0].address.replace(/\.\d+$/, '.');
  if ((await run(['ip', '-4', '-o', 'addr', 'show'], { timeoutMs: 30_000 })).stdout.includes(subnet))
    found.push(`an interface with ${subnet}0/24`);
  if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(labDir)) found.push(`a mount under ${labDir}`);
  if (fs.existsSync(labDir)) found.push(labDir);
  const procs = (await run(['ps', '-eo', 'args'], { timeoutMs: 30_000 })).stdout.split('\n');
  if (procs.some((p) => p.includes('systemd-nspawn') && p.includes(labDir))) found.push('a systemd-nspawn process');
  if (procs.some((p) => p.startsWith('socat') && p.includes(`bind=${subnet}1,`))) found.push('the mirror relay');
  return found;
}

test('stop() leaves no nspawn process, netns, bridge, mount, relay or temp dir behind', async () => {
  const lab = theLab();
  const labDir = path.dirname(lab.keyPath);
  const hosts = lab.hosts;
  assert.ok((await leftovers(labDir, hosts)).length >= 5, 'the probe sees a running lab');
  await lab.stop();
  assert.equal(await leftovers(labDir, hosts), []);
});

/** Starts a lab in a child process (test/harness/lab-cli.ts) and returns it with the lab's description. */
async function labInChild(): Promise<{
  child: ReturnType<typeof spawn>;
  labDir: string;
  hosts: TestHost[];
  exited: Promise<number | null>;
}> {
  const cli = path.resolve('test/harness/lab-cli.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', cli, '2', 'x'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    exited.then((code) => reject(new Error(`lab-cli exited with ${code} before the lab was ready`)));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error('lab-cli did not start a lab within 60 s'));
    }, 60_000);
    timer.unref();
  });
  const info = JSON.parse(line) as { labDir: string; hosts: TestHost[] };
  return { child, exited, ...info };
}

test('SIGTERM to the owning process tears its lab down', async () => {
  const { child, exited, labDir, hosts } = await labInChild();
  assert.equal(
    hosts.map((h) => h.name),
    ['x1', 'x2'],
  );
  assert.ok((await leftovers(labDir, hosts)).length > 0);
  child.kill('SIGTERM');
  assert.is(await exited, 143);
  assert.equal(await leftovers(labDir, hosts), []);
});

test('cleanupStale() removes what a killed process left behind', async () => {
  const { child, exited, labDir, hosts } = await labInChild();
  child.kill('SIGKILL');
  await exited;
  assert.ok((await leftovers(labDir, hosts)).length >= 5, 'SIGKILL leaves the lab running');
  cleanupStale();
  assert.equal(await leftovers(labDir, hosts), []);
});

test.run();
