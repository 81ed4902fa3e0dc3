// Throwaway Debian bookworm hosts for tests: `systemd-nspawn --boot` containers with real systemd
// and sshd, each in its own network namespace on a bridge the lab creates, copy-on-write over one
// cached rootfs. See README.md in this folder for the layout and the rules.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, runOk, runSync, type RunResult } from '../../lib/process/index.ts';
import { pollBanner } from '../../lib/ssh/banner.ts';
import { isAlive, killIfAlive, type ProcessRef } from './exec.ts';
import { ensureHostImage, USERS } from './image.ts';
import { generateEd25519, installAuthorizedKey, knownHostsLine, randomPassword, setShadowPassword, shadowHash } from './keys.ts';
import { writeInventoryFile, type InventoryOptions } from './inventory.ts';
import { addSecondInterface, createBridge, createHostNetns, deleteDebris, deleteNetwork } from './netns.ts';
import { containerCgroups, removeCgroupTree } from './cgroups.ts';
import { Container } from './nspawn.ts';
import { claimSubnet, releaseRecord, saveRecord, staleRecords, type LabRecord } from './registry.ts';
import { mirrorEndpoint, startMirrorRelay } from './relay.ts';

export interface TestHost {
  name: string;
  address: string;
  port: number;
  netns: string;
  /** address on the node network (eth1), when the lab was started with `lan: true` */
  lanAddress?: string;
}

export interface TestLab {
  hosts: TestHost[];
  /** the node network of a `lan: true` lab: its /24 and the address the test process has on it */
  lan?: { cidr: string; gateway: string };
  /** private key (ed25519, OpenSSH format) accepted for root, admin, operator */
  keyPath: string;
  /** OpenSSH known_hosts with every host's real host key */
  knownHostsFile: string;
  operatorPassword: string;
  /** writes an inventory.yaml for these hosts and returns its path */
  writeInventory(opts?: InventoryOptions): string;
  /** runs a command inside the container as root without ssh (nsenter into the container's init) */
  sh(host: string, cmd: string, opts?: { input?: string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** power-cycles a host's container (kill, boot again) and waits until its sshd answers */
  restart(host: string): Promise<void>;
  waitForSsh(host: string, timeoutMs?: number): Promise<void>;
  /** tears everything down: nspawn processes, mounts, netns, veths, bridge, relay, temp dirs */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 90_000;
const SSH_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;
const MAX_HOSTS = 200;

export interface LabOptions {
  count: number;
  prefix?: string;
  /**
   * Two networks per host: besides eth0 (SSH, mirror, default route) an eth1 on a second bridge,
   * the node network ("LAN") 172.31.X.0/24 with the same host numbers; the inventory's node_ip is
   * then the eth1 address. The test process has .1 on it, as an outsider of the cluster.
   */
  lan?: boolean;
}

export async function startLab(opts: LabOptions): Promise<TestLab> {
  const prefix = opts.prefix ?? 'h';
  if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > MAX_HOSTS) {
    throw new Error(`startLab: count must be an integer from 1 to ${MAX_HOSTS}, got ${opts.count}`);
  }
  if (process.getuid?.() !== 0) throw new Error('startLab: test hosts need root (network namespaces, mounts, systemd-nspawn)');
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(prefix)) throw new Error(`startLab: prefix must be a lower-case host name start, got "${prefix}"`);
  cleanupStale();
  const rootfs = await ensureHostImage();
  const labDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clusterseed-lab-'));
  let record: LabRecord;
  try {
    record = claimSubnet(labDir);
  } catch (err) {
    fs.rmSync(labDir, { recursive: true, force: true });
    throw err;
  }
  if (opts.lan) {
    record.lanBridge = `cslan-${record.subnet}`;
    saveRecord(record);
  }
  const lab = new Lab(record, rootfs, prefix, opts.count);
  track(lab);
  try {
    await withTimeout(lab.start(), START_TIMEOUT_MS, 'starting the lab');
  } catch (err) {
    await lab.stop();
    throw err;
  }
  return lab;
}

/** Tears down what labs of dead processes left behind (found through their registry files). */
export function cleanupStale(): void {
  for (const record of staleRecords()) teardownRecord(record);
}

interface HostState extends TestHost {
  container: Container;
  rootDir: string;
}

class Lab implements TestLab {
  hosts: TestHost[] = [];
  readonly keyPath: string;
  readonly knownHostsFile: string;
  operatorPassword = randomPassword();
  private readonly state = new Map<string, HostState>();
  private relay?: ProcessRef;
  private inventories = 0;
  private stopping?: Promise<void>;

  constructor(
    private readonly record: LabRecord,
    private readonly rootfs: string,
    private readonly prefix: string,
    private readonly count: number,
  ) {
    this.keyPath = path.join(record.labDir, 'id_ed25519');
    this.knownHostsFile = path.join(record.labDir, 'known_hosts');
  }

  private get net() {
    return `172.30.${this.record.subnet}`;
  }

  /** the node network's first three octets (172.31.X: X is this lab's claimed subnet number) */
  private get lanNet() {
    return `172.31.${this.record.subnet}`;
  }

  get lan(): TestLab['lan'] {
    return this.record.lanBridge ? { cidr: `${this.lanNet}.0/24`, gateway: `${this.lanNet}.1` } : undefined;
  }

  async start(): Promise<void> {
    const { record } = this;
    const clientKey = await generateEd25519(this.keyPath, `clusterseed-test@${record.bridge}`);
    const operatorHash = await shadowHash(this.operatorPassword);
    await deleteDebris(`cs-${record.subnet}-`, record.bridge, ...(record.lanBridge ? [record.lanBridge] : []));
    await createBridge(record.bridge, `${this.net}.1/24`);
    if (record.lanBridge) await createBridge(record.lanBridge, `${this.lanNet}.1/24`);
    const mirror = mirrorEndpoint();
    this.relay = await startMirrorRelay(`${this.net}.1`, mirror, path.join(record.labDir, 'relay.log'));
    record.processes.push(this.relay);
    saveRecord(record);

    const names = Array.from({ length: this.count }, (_, i) => `${this.prefix}${i + 1}`);
    const etcHosts = [
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      `${this.net}.1\t${mirror.hostname}`,
      ...names.map((name, i) => `${this.net}.${i + 2}\t${name}`),
      '',
    ].join('\n');
    const hostKeys = await Promise.all(names.map((name, i) => this.prepareHost(name, i, { clientKey, operatorHash, etcHosts })));
    fs.writeFileSync(this.knownHostsFile, hostKeys.map((line) => `${line}\n`).join(''));
    this.hosts = names.map((name) => {
      const { address, port, netns, lanAddress } = this.host(name);
      return { name, address, port, netns, ...(lanAddress ? { lanAddress } : {}) };
    });
    this.assertNotStopped();
    await Promise.all(names.map((name) => this.host(name).container.start()));
    await Promise.all(names.map((name) => this.waitForSsh(name)));
  }

  /** Network, overlay tree and per-host identity; returns the host's known_hosts line. */
  private async prepareHost(
    name: string,
    index: number,
    shared: { clientKey: string; operatorHash: string; etcHosts: string },
  ): Promise<string> {
    const { record } = this;
    const address = `${this.net}.${index + 2}`;
    const netns = `cs-${record.subnet}-${name}`;
    const veth = `csv-${record.subnet}-${index + 1}`;
    const dir = path.join(record.labDir, 'hosts', name);
    const rootDir = path.join(dir, 'root');
    this.assertNotStopped();
    record.netns.push(netns);
    record.veths.push(veth);
    record.mounts.push(rootDir);
    const cgroups = containerCgroups(netns);
    record.cgroups.push(...cgroups);
    saveRecord(record);

    await createHostNetns({ netns, veth, bridge: record.bridge, addressCidr: `${address}/24`, gateway: `${this.net}.1` });
    const lanAddress = record.lanBridge ? `${this.lanNet}.${index + 2}` : undefined;
    if (record.lanBridge) {
      const lanVeth = `csl-${record.subnet}-${index + 1}`;
      record.veths.push(lanVeth);
      saveRecord(record);
      await addSecondInterface({ netns, veth: lanVeth, bridge: record.lanBridge, addressCidr: `${lanAddress}/24` });
    }
    for (const sub of ['upper', 'work', 'root']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
    this.assertNotStopped();
    await runOk(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${this.rootfs},upperdir=${dir}/upper,workdir=${dir}/work`, rootDir], {
      timeoutMs: 30_000,
    });

    const machineId = randomBytes(16).toString('hex');
    const etc = (file: string) => path.join(rootDir, 'etc', file);
    fs.writeFileSync(etc('hostname'), `${name}\n`);
    fs.writeFileSync(etc('machine-id'), `${machineId}\n`);
    fs.writeFileSync(etc('hosts'), shared.etcHosts);
    fs.rmSync(etc('resolv.conf'), { force: true }); // no DNS in the lab: names come from /etc/hosts
    fs.writeFileSync(etc('resolv.conf'), '');
    for (const user of Object.values(USERS)) installAuthorizedKey(rootDir, user.home, user.uid, user.gid, shared.clientKey);
    setShadowPassword(rootDir, 'operator', shared.operatorHash);
    const hostKey = await generateEd25519(etc('ssh/ssh_host_ed25519_key'), `root@${name}`);

    const container = new Container({
      machine: netns,
      hostname: name,
      machineId,
      rootDir,
      netnsPath: `/run/netns/${netns}`,
      consoleLog: path.join(dir, 'console.log'),
      cgroups,
      onProcesses: () => this.saveProcesses(),
    });
    this.state.set(name, { name, address, port: 22, netns, container, rootDir, ...(lanAddress ? { lanAddress } : {}) });
    return knownHostsLine(address, 22, hostKey);
  }

  /** A start that timed out goes on in the background: it must not create anything after stop(). */
  private assertNotStopped(): void {
    if (this.stopping) throw new Error('the lab was stopped while it was starting');
  }

  private saveProcesses(): void {
    const containers = [...this.state.values()].flatMap((h) => h.container.processes());
    this.record.processes = [...(this.relay ? [this.relay] : []), ...containers];
    saveRecord(this.record);
  }

  private host(name: string): HostState {
    const host = this.state.get(name);
    if (!host) throw new Error(`no host "${name}" in this lab (hosts: ${[...this.state.keys()].join(', ')})`);
    return host;
  }

  writeInventory(opts: InventoryOptions = {}): string {
    const file = path.join(this.record.labDir, `inventory-${++this.inventories}.yaml`);
    return writeInventoryFile(file, this.hosts, { keyPath: this.keyPath, knownHostsFile: this.knownHostsFile }, opts);
  }

  async sh(name: string, cmd: string, opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    const { container } = this.host(name);
    const args = [
      '--target',
      String(container.leader),
      '--mount',
      '--uts',
      '--ipc',
      '--net',
      '--pid',
      '--cgroup',
      '--root',
      '--wd',
      '--',
      '/bin/sh',
      '-c',
      cmd,
    ];
    const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' };
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const r = await run(['nsenter', ...args], { env, input: opts.input, timeoutMs });
    return r.timedOut ? { ...r, stderr: `${r.stderr}\n[harness] killed after ${timeoutMs} ms` } : r;
  }

  async restart(name: string): Promise<void> {
    const { container } = this.host(name);
    this.assertNotStopped();
    await container.kill();
    await container.start();
    await this.waitForSsh(name);
  }

  async waitForSsh(name: string, timeoutMs = SSH_TIMEOUT_MS): Promise<void> {
    const host = this.host(name);
    const stop = () => {
      const failures = host.container.unexpectedExits;
      return failures.length ? `host ${name}: ${failures.join('; ')}` : undefined;
    };
    const early = stop();
    if (early) throw new Error(early);
    await pollBanner(host.address, host.port, { deadline: Date.now() + timeoutMs, probeMs: 2_000, intervalMs: 100, stop }).catch(
      (err: Error) => {
        if (err.message.startsWith(`host ${name}: `)) throw err;
        const last = /\(last: (.*)\)$/.exec(err.message)?.[1];
        throw new Error(
          `host ${name} (${host.address}:${host.port}): no SSH banner within ${timeoutMs} ms (last: ${last || 'nothing'}; console: ${path.join(this.record.labDir, 'hosts', name, 'console.log')})`,
        );
      },
    );
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    try {
      await withTimeout(Promise.all([...this.state.values()].map((h) => h.container.kill())), STOP_TIMEOUT_MS, 'stopping the containers');
    } catch {
      // teardownRecord below kills whatever is left
    }
    this.saveProcesses();
    teardownRecord(this.record);
    untrack(this);
  }

  /** Synchronous teardown for exit and signal handlers. */
  teardownNow(): void {
    this.stopping ??= Promise.resolve();
    this.saveProcesses();
    teardownRecord(this.record);
    untrack(this);
  }
}

/**
 * Removes everything a lab record lists, in dependency order. Synchronous and best effort, so it
 * also works from a process 'exit' handler and for labs of dead processes.
 */
function teardownRecord(record: LabRecord): void {
  for (const proc of record.processes) {
    killIfAlive(proc);
    // relays fork a child per connection, all in the relay's process group
    try {
      if (isAlive(proc)) process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // not a group leader or already gone
    }
  }
  const deadline = Date.now() + 5_000;
  while (record.processes.some(isAlive) && Date.now() < deadline) blockFor(20);
  for (const mount of record.mounts) {
    if (isMountPoint(mount) && runSync(['umount', mount]) !== 0) runSync(['umount', '--lazy', mount]);
  }
  deleteNetwork(record.netns, record.veths, record.bridge, ...(record.lanBridge ? [record.lanBridge] : []));
  for (const cgroup of record.cgroups ?? []) removeCgroupTree(cgroup);
  const stillMounted = record.mounts.filter(isMountPoint);
  if (!stillMounted.length && path.basename(record.labDir).startsWith('clusterseed-lab-')) {
    runSync(['rm', '-rf', '--one-file-system', record.labDir], 60_000);
  }
  releaseRecord(record);
}

function isMountPoint(dir: string): boolean {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[4] === dir);
}

function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Labs of this process, torn down on exit and on SIGINT/SIGTERM/SIGHUP even when a test forgot
// stop() or failed before reaching it.
const liveLabs = new Set<Lab>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function track(lab: Lab): void {
  if (liveLabs.size === 0) {
    process.on('exit', teardownAll);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  liveLabs.add(lab);
}

function untrack(lab: Lab): void {
  liveLabs.delete(lab);
  if (liveLabs.size === 0) {
    process.off('exit', teardownAll);
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
}

function teardownAll(): void {
  for (const lab of [...liveLabs]) lab.teardownNow();
}

function onSignal(signal: NodeJS.Signals): void {
  teardownAll();
  process.exit(128 + (os.constants.signals[signal] ?? 1));
}
