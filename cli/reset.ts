// scripts/reset.mjs: stops and uninstalls K3s on the inventory's K3s nodes (the k3s-reset role).
//   0 done (or nothing to do) · 1 bad input, or not confirmed · 2 a host failed or was unreachable
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseFlags, verbosity, nameList, UsageError } from './args.ts';
import { preflight } from './preflight.ts';
import { formatUserError } from './errors.ts';
import { consoleLogger } from '../lib/report/logger.ts';
import { formatRecap } from '../lib/runner/recap.ts';
import { writeJsonReport } from '../lib/runner/json-report.ts';
import { createTransport } from '../lib/ssh/index.ts';
import { exitCode, runSite } from '../lib/runner/run-site.ts';
import { k3sResetRole } from '../roles/k3s-reset/index.ts';
import { acquireStateLock } from '../lib/locks/state-lock.ts';

const DEFAULT_KNOWN_HOSTS = path.join(os.homedir(), '.ssh', 'known_hosts');

export const USAGE = `Usage: npx zx scripts/reset.mjs -i INVENTORY [options]

Stops K3s and removes it from the inventory's K3s nodes: services, containers, mounts, network
interfaces, iptables rules, binaries, /etc/rancher/k3s and ALL cluster data in /var/lib/rancher/k3s.

  -i, --inventory FILE        inventory file (default ./inventory.yaml)
      --limit HOSTS           comma-separated host and group names (default: every K3s node)
      --yes                   do not ask for confirmation (required when stdin is not a terminal)
      --forks N               hosts in parallel (default 10)
      --json FILE             write a machine-readable report
      --accept-new-host-keys  trust and record unknown SSH host keys
  -v, -vv                     more output
  -h, --help                  this text`;

export interface ResetIo {
  stdin: Readable & { isTTY?: boolean };
  /** prompts and messages for the user */
  write: (text: string) => void;
  /** error messages (default: stderr) */
  error?: (text: string) => void;
}

async function confirm(io: ResetIo, question: string): Promise<boolean> {
  const rl = createInterface({ input: io.stdin, terminal: false });
  io.write(question);
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
    return answer.trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}

export async function main(argv: string[], io: ResetIo = { stdin: process.stdin, write: (t) => process.stdout.write(t) }): Promise<number> {
  const { level, rest } = verbosity(argv);
  const log = consoleLogger({ verbosity: level });
  try {
    const { values } = parseFlags(rest, {
      inventory: { type: 'string', short: 'i', default: 'inventory.yaml' },
      limit: { type: 'string' },
      yes: { type: 'boolean', default: false },
      forks: { type: 'string', default: '10' },
      json: { type: 'string' },
      'accept-new-host-keys': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    });
    if (values.help) {
      io.write(`${USAGE}\n`);
      return 0;
    }
    const forks = Number(values.forks);
    if (!Number.isInteger(forks) || forks < 1) throw new UsageError(`--forks must be a positive integer (got ${values.forks})`);
    const json = values.json ? path.resolve(values.json) : undefined;
    const limit = nameList('--limit', values.limit);
    // bad input refused before anything is asked, contacted or written (cli/preflight.ts)
    const { inventory, hosts } = await preflight({
      inventoryFile: path.resolve(values.inventory!),
      roles: [k3sResetRole],
      limit,
      json,
      connect: true,
      acceptNewHostKeys: values['accept-new-host-keys']!,
      defaultKnownHosts: DEFAULT_KNOWN_HOSTS,
    });
    const nodes = hosts.filter((h) => k3sResetRole.appliesTo(h, inventory));
    if (nodes.length === 0) {
      io.write('No K3s node selected: nothing to reset.\n');
      return 0;
    }
    const names = nodes.map((h) => `${h.name} (${h.address})`).join(', ');
    if (!values.yes) {
      if (!io.stdin.isTTY) {
        io.write(`Refusing to reset ${names} without confirmation: stdin is not a terminal. Pass --yes to confirm.\n`);
        return 1;
      }
      const ok = await confirm(io, `This uninstalls K3s and deletes ALL cluster data on: ${names}.\nType "yes" to continue: `);
      if (!ok) {
        io.write('Aborted: nothing was changed.\n');
        return 1;
      }
    }
    // one run at a time: the inventory's state dir on this machine, each host for the run
    const lock = acquireStateLock(path.join(inventory.dir, '.clusterseed'), {
      command: ['reset.mjs', '-i', inventory.file, ...(limit ? ['--limit', limit.join(',')] : [])].join(' '),
      warn: (m) => log.warn(m),
    });
    let report;
    try {
      const { pid, host, command, startedAt } = lock.holder;
      report = await runSite({
        inventory,
        roles: [k3sResetRole],
        options: {
          check: false,
          diff: false,
          verbosity: level,
          forks,
          limit: nodes.map((h) => h.name),
          hostLock: { pid, host, command, startedAt },
        },
        connect: (host) =>
          createTransport(host, {
            knownHostsFile: host.knownHostsFile ?? DEFAULT_KNOWN_HOSTS,
            acceptNewHostKeys: values['accept-new-host-keys']!,
            log: (line) => log.debug(`[${host.name}] ${line}`),
          }),
        log,
      });
    } finally {
      lock.release();
    }
    log.info(formatRecap(report));
    if (json) writeJsonReport(json, report, { inventory: inventory.file, command: 'reset' });
    return exitCode(report);
  } catch (err) {
    const text = formatUserError(err);
    if (text) {
      const error = io.error ?? ((t: string) => console.error(t));
      error(text);
      if (err instanceof UsageError) error(`\n${USAGE}`);
      return 1;
    }
    throw err;
  }
}
