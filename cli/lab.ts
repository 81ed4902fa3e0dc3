// scripts/lab.mjs: throwaway Debian VMs (QEMU) to try clusterseed on before real hosts.
import { parseFlags } from './args.ts';
import { labDown, labStatus, labUp, rebootAndWait, sshTarget } from '../lib/lab/lab.ts';
import { defaultLabDir, labFiles } from '../lib/lab/paths.ts';
import { findVm, requireState } from '../lib/lab/state.ts';
import { interactiveShell } from '../lib/lab/shell.ts';
import { sshExec } from '../lib/lab/ssh.ts';

export const USAGE = `Usage: npx zx scripts/lab.mjs <command> [options]

Commands:
  up [--servers N] [--agents N] [--arch SERVER_ARCH[,AGENT_ARCH]] [--memory MB] [--k3s-version V]
                        build (once, cached) and boot the VMs; writes DIR/inventory.yaml
  status [--json]       list the VMs and whether SSH answers (exit 0 when all do)
  ssh NAME [-- CMD...]  shell on a VM (or run CMD); without a terminal, prints the ssh command
  reboot NAME           reboot a VM and wait until SSH is back
  down                  stop every VM of the lab and remove its files

Options:
  --dir DIR             lab folder (default .clusterseed/lab)
  -h, --help            this text

Defaults: one x86_64 server "desktop" and one arm64 Raspberry-Pi-like agent "pi-1"
(--arch x86_64,arm64). Images are cached in \${XDG_CACHE_HOME:-~/.cache}/clusterseed.
KVM is used when it works (probed), else TCG; CLUSTERSEED_LAB_ACCEL=tcg|kvm forces one.`;

const log = (line: string) => console.error(`lab: ${line}`);

export async function main(argv: string[]): Promise<number> {
  const dashdash = argv.indexOf('--');
  const remoteCommand = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  let parsed;
  try {
    parsed = parseFlags(
      dashdash >= 0 ? argv.slice(0, dashdash) : argv,
      {
        dir: { type: 'string' },
        servers: { type: 'string' },
        agents: { type: 'string' },
        arch: { type: 'string' },
        memory: { type: 'string' },
        'k3s-version': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      true,
    );
  } catch (err) {
    console.error(`error: ${(err as Error).message}\n\n${USAGE}`);
    return 1;
  }
  const { values, positionals } = parsed;
  const [command, name] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 1;
  }
  // `down now` or `up 3` must not run `down` or `up` with the extra word ignored
  const takesName = command === 'ssh' || command === 'reboot';
  if (positionals.length > (takesName ? 2 : 1)) {
    console.error(
      `error: unexpected argument "${positionals[takesName ? 2 : 1]}" after "${command}${takesName && name ? ` ${name}` : ''}"\n\n${USAGE}`,
    );
    return 1;
  }
  const dir = values.dir ?? defaultLabDir();
  try {
    switch (command) {
      case 'up': {
        const result = await labUp({
          dir,
          servers: intFlag(values.servers, '--servers'),
          agents: intFlag(values.agents, '--agents'),
          arch: values.arch?.split(',').filter(Boolean),
          memoryMb: intFlag(values.memory, '--memory'),
          k3sVersion: values['k3s-version'],
          log,
        });
        for (const [arch, s] of Object.entries(result.timings.imageBuildSeconds)) log(`built the ${arch} image in ${s} s`);
        console.log(`lab is up (${result.dir})`);
        for (const h of result.hosts) {
          console.log(
            `  ${h.name.padEnd(12)} ${h.arch.padEnd(8)} ${h.role.padEnd(7)} 127.0.0.1:${h.port}${h.raspberryPi ? '  raspberry_pi' : ''}`,
          );
        }
        console.log(`inventory: ${result.inventoryFile}`);
        console.log(`try:       npx zx scripts/site.mjs -i ${result.inventoryFile}`);
        return 0;
      }
      case 'status': {
        const status = await labStatus(dir);
        if (values.json) console.log(JSON.stringify(status, null, 2));
        else if (!status.vms.length) console.log(`no lab in ${status.dir}`);
        else {
          console.log(`lab ${status.id} (${status.dir})`);
          for (const vm of status.vms) {
            const state = !vm.running ? 'stopped' : vm.ssh ? 'running, ssh ok' : 'running, ssh not answering';
            console.log(`  ${vm.name.padEnd(12)} ${vm.arch.padEnd(8)} 127.0.0.1:${vm.port}  ${vm.accel}  ${state}`);
          }
        }
        return status.vms.length && status.vms.every((v) => v.ssh) ? 0 : 1;
      }
      case 'ssh': {
        if (!name) throw new Error('ssh needs a VM name');
        const state = requireState(dir);
        const vm = findVm(state, name);
        const target = sshTarget(state, vm);
        if (remoteCommand.length) {
          const r = await sshExec(target, remoteCommand.join(' '));
          process.stdout.write(r.stdout);
          process.stderr.write(r.stderr);
          return r.code;
        }
        if (!process.stdin.isTTY || !process.stdout.isTTY) {
          const f = labFiles(state.dir);
          console.log(`ssh -i ${f.key} -p ${vm.port} -o UserKnownHostsFile=${f.knownHosts} -o StrictHostKeyChecking=yes admin@127.0.0.1`);
          return 0;
        }
        return await interactiveShell(target);
      }
      case 'reboot': {
        if (!name) throw new Error('reboot needs a VM name');
        const seconds = await rebootAndWait(name, { dir });
        console.log(`${name} rebooted, SSH back after ${seconds} s`);
        return 0;
      }
      case 'down': {
        const removed = await labDown(dir, log);
        if (!removed) console.log(`no lab in ${dir}`);
        return 0;
      }
      default:
        console.error(`error: unknown command "${command}"\n\n${USAGE}`);
        return 1;
    }
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    return 1;
  }
}

function intFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`${flag} takes a whole number, got "${value}"`);
  return Number(value);
}
