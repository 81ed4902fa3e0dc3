// Runs the Ansible playbook of bench/ansible against a bench lab: writes the inventory and an
// ansible.cfg with Ansible's usual speed-ups, times `ansible-playbook`, reads the PLAY RECAP, and
// closes the SSH ControlPersist masters afterwards so that every timed run starts cold, as
// clusterseed's does.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestLab } from '../test/harness/hosts.ts';
import { runSync } from '../lib/process/index.ts';
import { timedRun } from './process.ts';
import type { ToolRun } from './clusterseed.ts';

const PLAYBOOK_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ansible');

export interface AnsibleProject {
  dir: string;
  config: string;
  inventory: string;
  /** ControlPath sockets of this lab's ssh masters */
  controlDir: string;
}

/** ini values with spaces need quotes; paths here come from the harness (no quotes in them) */
const quote = (s: string) => `"${s}"`;

/** The inventory: h1 server, the rest agents, like the clusterseed inventory of the same lab. */
export function ansibleInventory(lab: Pick<TestLab, 'hosts' | 'keyPath' | 'knownHostsFile'>, adminPubkey: string): string {
  const [server, ...agents] = lab.hosts;
  const line = (h: TestLab['hosts'][number]) => `${h.name} ansible_host=${h.address} ansible_port=${h.port}`;
  return [
    '[servers]',
    line(server),
    '',
    '[agents]',
    ...agents.map(line),
    '',
    '[all:vars]',
    'ansible_user=admin',
    `ansible_ssh_private_key_file=${lab.keyPath}`,
    `ansible_ssh_common_args=${quote(`-o UserKnownHostsFile=${lab.knownHostsFile} -o StrictHostKeyChecking=yes`)}`,
    'ansible_python_interpreter=/usr/bin/python3',
    `admin_pubkey=${quote(adminPubkey)}`,
    '',
  ].join('\n');
}

/**
 * ansible.cfg: forks = host count, pipelining, ControlPersist, facts gathered once and cached
 * (gathering = smart), linear strategy (Ansible's default: every host finishes a task before the
 * next task starts).
 */
export function ansibleConfig(opts: { forks: number; factCache: string; controlDir: string; rolesPath: string }): string {
  return [
    '[defaults]',
    `forks = ${opts.forks}`,
    'strategy = linear',
    'gathering = smart',
    'fact_caching = jsonfile',
    `fact_caching_connection = ${opts.factCache}`,
    'fact_caching_timeout = 86400',
    `roles_path = ${opts.rolesPath}`,
    'host_key_checking = True',
    'retry_files_enabled = False',
    'interpreter_python = /usr/bin/python3',
    'deprecation_warnings = False',
    '',
    '[ssh_connection]',
    'pipelining = True',
    'ssh_args = -o ControlMaster=auto -o ControlPersist=60s',
    `control_path_dir = ${opts.controlDir}`,
    '',
  ].join('\n');
}

export function writeAnsibleProject(lab: TestLab, workDir: string): AnsibleProject {
  const dir = path.join(workDir, 'ansible');
  const controlDir = path.join(dir, 'cp');
  mkdirSync(controlDir, { recursive: true, mode: 0o700 });
  const pubkey = readFileSync(`${lab.keyPath}.pub`, 'utf8').trim();
  const inventory = path.join(dir, 'inventory.ini');
  writeFileSync(inventory, ansibleInventory(lab, pubkey));
  const config = path.join(dir, 'ansible.cfg');
  writeFileSync(
    config,
    ansibleConfig({ forks: lab.hosts.length, factCache: path.join(dir, 'facts'), controlDir, rolesPath: path.join(PLAYBOOK_DIR, 'roles') }),
  );
  return { dir, config, inventory, controlDir };
}

export interface RecapLine {
  host: string;
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

/** The PLAY RECAP lines: "h1   : ok=40 changed=0 unreachable=0 failed=0 skipped=3 rescued=0 ignored=0". */
export function parseRecap(output: string): RecapLine[] {
  const at = output.lastIndexOf('PLAY RECAP');
  if (at < 0) return [];
  const lines: RecapLine[] = [];
  for (const text of output.slice(at).split('\n').slice(1)) {
    const m = /^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(text.trim());
    if (m) lines.push({ host: m[1], ok: Number(m[2]), changed: Number(m[3]), unreachable: Number(m[4]), failed: Number(m[5]) });
  }
  return lines;
}

/** `ssh -O exit` for every master of the run (ControlPersist would keep them 60 s). */
export function closeControlMasters(controlDir: string): void {
  if (!existsSync(controlDir)) return;
  for (const name of readdirSync(controlDir)) {
    runSync(['ssh', '-o', `ControlPath=${path.join(controlDir, name)}`, '-O', 'exit', 'bench-master'], 5_000);
  }
}

export async function runAnsible(
  project: AnsibleProject,
  opts: { label: string; hosts: number; timeoutMs: number; hostsCpu?: () => number },
): Promise<ToolRun> {
  const logFile = path.join(project.dir, `${opts.label}.log`);
  const env = {
    ...process.env,
    ANSIBLE_CONFIG: project.config,
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    ANSIBLE_LOCAL_TEMP: path.join(project.dir, 'tmp'),
  };
  const run = await timedRun('ansible-playbook', ['-i', project.inventory, path.join(PLAYBOOK_DIR, 'playbook.yml')], {
    cwd: project.dir,
    env,
    timeoutMs: opts.timeoutMs,
    logFile,
    hostsCpu: opts.hostsCpu,
  });
  closeControlMasters(project.controlDir);
  const recap = parseRecap(run.output);
  const failed = recap.filter((r) => r.failed > 0 || r.unreachable > 0);
  let problem: string | undefined;
  if (run.timedOut) problem = `timed out (log: ${logFile})`;
  else if (recap.length !== opts.hosts) problem = `exit ${run.code}, recap for ${recap.length} of ${opts.hosts} hosts (log: ${logFile})`;
  else if (failed.length) problem = `${failed.length} host(s) failed, e.g. ${failed[0].host} (log: ${logFile})`;
  else if (run.code !== 0) problem = `exit ${run.code} (log: ${logFile})`;
  return {
    tool: 'ansible',
    seconds: run.seconds,
    ok: !problem,
    changedHosts: recap.filter((r) => r.changed > 0).length,
    failedHosts: failed.length,
    problem,
    logFile,
    clientCpu: run.clientCpu,
    hostsCpu: run.hostsCpu,
  };
}
