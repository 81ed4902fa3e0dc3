// One booted container: `systemd-nspawn --boot` of an overlay tree inside a prepared network
// namespace, supervised like systemd-nspawn@.service: exit code 133 (a `reboot` inside) starts it
// again. The leader (the container's PID 1) is what sh() enters and what a power cycle kills.
import fs from 'node:fs';
import { createCgroups, ENTER_CGROUPS_AND_EXEC, removeCgroupTree } from './cgroups.ts';
import { killIfAlive, processRef, settlesWithin, waitFor, type ProcessRef } from './exec.ts';
import { start, type Started } from '../../lib/process/index.ts';

type ChildProcess = Started['child'];

/** nspawn's exit code when the container asked for a reboot */
const EXIT_REBOOT = 133;

export interface ContainerSpec {
  machine: string;
  hostname: string;
  machineId: string;
  rootDir: string;
  netnsPath: string;
  consoleLog: string;
  /** cgroups (one per tracking hierarchy) the container lives in; see cgroups.ts */
  cgroups: string[];
  /** called whenever the set of processes to kill on teardown changes */
  onProcesses(processes: ProcessRef[]): void;
}

export class Container {
  private child?: ChildProcess;
  private nspawn?: ProcessRef;
  private leaderRef?: ProcessRef;
  private exited?: Promise<number | null>;
  private wanted = false;
  /** exits that were not asked for (crash, poweroff inside), for error messages */
  readonly unexpectedExits: string[] = [];

  constructor(readonly spec: ContainerSpec) {}

  get leader(): number {
    if (!this.leaderRef) throw new Error(`container ${this.spec.machine} is not running`);
    return this.leaderRef.pid;
  }

  get running(): boolean {
    return this.leaderRef !== undefined;
  }

  async start(timeoutMs = 15_000): Promise<void> {
    this.wanted = true;
    this.unexpectedExits.length = 0;
    await this.launch(timeoutMs);
  }

  /** Kills the container at once (power off, no shutdown) and waits for nspawn to exit. */
  async kill(timeoutMs = 10_000): Promise<void> {
    this.wanted = false;
    const exited = this.exited;
    if (this.leaderRef) killIfAlive(this.leaderRef);
    if (!exited) return;
    if (!(await settlesWithin(exited, timeoutMs)) && this.nspawn) {
      killIfAlive(this.nspawn);
      await settlesWithin(exited, 2_000);
    }
  }

  processes(): ProcessRef[] {
    return [this.nspawn, this.leaderRef].filter((p): p is ProcessRef => p !== undefined);
  }

  private async launch(timeoutMs: number): Promise<void> {
    const { spec } = this;
    const log = fs.openSync(spec.consoleLog, 'a');
    // what the previous boot left in the container's cgroups (it is dead: nspawn has exited)
    for (const dir of spec.cgroups) removeCgroupTree(dir, true);
    createCgroups(spec.cgroups);
    const started = start(
      [
        'sh',
        '-c',
        ENTER_CGROUPS_AND_EXEC,
        'sh',
        String(spec.cgroups.length),
        ...spec.cgroups,
        'systemd-nspawn',
        '--quiet',
        '--boot',
        '--register=no',
        '--keep-unit',
        `--directory=${spec.rootDir}`,
        `--machine=${spec.machine}`,
        `--hostname=${spec.hostname}`,
        `--uuid=${spec.machineId}`,
        `--network-namespace-path=${spec.netnsPath}`,
        '--capability=CAP_NET_ADMIN',
        '--resolv-conf=off',
        '--timezone=off',
        '--link-journal=no',
        '--console=read-only',
      ],
      {
        // own process group: a Ctrl-C in the terminal reaches the harness, which tears down in order
        detached: true,
        stdio: ['ignore', log, log],
        // net.* sysctls writable inside the container (roles set them)
        env: { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: 'network' },
        unref: true,
      },
    );
    fs.closeSync(log);
    const child = started.child;
    let spawnError: Error | undefined;
    this.child = child;
    this.exited = started.done.then(
      // null when a signal ended nspawn (as node's 'exit' event gives it)
      ({ code, signal }) => (signal ? null : code),
      (err: Error) => {
        spawnError = (err.cause as Error | undefined) ?? err;
        return null;
      },
    );
    this.nspawn = child.pid ? processRef(child.pid) : undefined;
    this.leaderRef = undefined;
    const exited = this.exited;
    void exited.then((code) => this.onExit(child, code));
    try {
      const leader = await waitFor(`the ${spec.machine} container's init`, timeoutMs, () => {
        if (spawnError) throw new Error(`cannot start systemd-nspawn: ${spawnError.message}`);
        if (this.child !== child || !this.nspawn)
          throw new Error(`systemd-nspawn for ${spec.machine} exited at start (package systemd-container; see ${spec.consoleLog})`);
        return findContainerInit(this.nspawn.pid);
      });
      this.leaderRef = processRef(leader);
      spec.onProcesses(this.processes());
    } catch (err) {
      if (this.nspawn) killIfAlive(this.nspawn);
      throw err;
    }
  }

  private onExit(child: ChildProcess, code: number | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.nspawn = undefined;
    this.leaderRef = undefined;
    this.exited = undefined;
    if (!this.wanted) return;
    if (code === EXIT_REBOOT) {
      this.launch(15_000).catch((err: Error) => this.unexpectedExits.push(`restart after reboot failed: ${err.message}`));
      return;
    }
    this.unexpectedExits.push(`systemd-nspawn exited with ${code} (see ${this.spec.consoleLog})`);
  }
}

/** The process below nspawn that is PID 1 of a new PID namespace (nspawn forks in between). */
function findContainerInit(nspawnPid: number): number | undefined {
  const parents = new Map<number, number>();
  const initPids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
    parents.set(Number(entry), ppid);
    const nspid = /^NSpid:\s+(.+)$/m.exec(status)?.[1].trim().split(/\s+/);
    if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === '1') initPids.push(Number(entry));
  }
  return initPids.find((pid) => {
    for (let p = parents.get(pid), depth = 0; p && depth < 4; p = parents.get(p), depth++) if (p === nspawnPid) return true;
    return false;
  });
}
