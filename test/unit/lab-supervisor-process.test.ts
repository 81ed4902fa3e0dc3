// The lab's VM supervisor (lib/lab/supervisor.ts) as a process, with a stand-in QEMU (a shell script
// named qemu-system-x86_64 first in PATH): how it starts QEMU through lib/process and records its end
// in events.jsonl. A QEMU that exits 0 without a guest reset ends the supervisor with 0; one killed by
// a signal is recorded with code null and the signal, and ends it with 1; a missing QEMU binary is an
// error event naming the spawn error, code 127. The QMP side and the restart on guest reset need a real
// guest: the VM tier (test/vm) proves those.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { test } from '../support/uvu.ts';
import { run } from '../../lib/process/index.ts';
import type { SupervisedVm, VmEvent } from '../../lib/lab/supervisor.ts';

const ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'lab', 'supervisor-main.ts');

/** Runs a supervisor for one VM folder whose QEMU is `qemuScript` (undefined: no QEMU in PATH). */
async function supervise(qemuScript: string | undefined): Promise<{ code: number; events: VmEvent[]; dir: string; cleanup: () => void }> {
  const base = mkdtempSync(path.join(tmpdir(), 'clusterseed-supervisor-'));
  const bin = path.join(base, 'bin');
  const dir = path.join(base, 'vm');
  mkdirSync(bin);
  mkdirSync(dir);
  if (qemuScript !== undefined) {
    writeFileSync(path.join(bin, 'qemu-system-x86_64'), `#!/bin/sh\n${qemuScript}\n`);
    chmodSync(path.join(bin, 'qemu-system-x86_64'), 0o755);
  }
  const vm: SupervisedVm = {
    launch: {
      tag: 'cs-test',
      name: 'vm1',
      arch: 'x86_64',
      accel: 'tcg',
      cpus: 1,
      memoryMb: 256,
      sshPort: 2222,
      disk: 'disk.qcow2',
      configDisk: 'config.img',
      consoleLog: 'console.log',
      qmpSocket: 'qmp.sock',
      pidFile: 'qemu.pid',
      kernel: '/nonexistent/vmlinuz',
      initrd: '/nonexistent/initrd',
      mac: '52:54:00:00:00:01',
    },
    kernelArgs: 'console=ttyS0',
    machineId: '0123456789abcdef0123456789abcdef',
    raspberryPi: false,
  };
  writeFileSync(path.join(dir, 'vm.json'), JSON.stringify(vm));
  // PATH: only the stand-in (a real QEMU may be installed); node runs by its absolute path, the
  // stand-in's #!/bin/sh too, and printf and kill are shell builtins
  const env = { ...process.env, PATH: bin };
  // as lab.ts starts it: tsx resolved from here (the VM folder has no node_modules)
  const r = await run([process.execPath, '--import', import.meta.resolve('tsx'), ENTRY, dir, 'cs-test'], {
    cwd: dir,
    env,
    timeoutMs: 45_000,
  });
  assert.is(r.timedOut, false, 'the supervisor did not end');
  assert.ok(existsSync(path.join(dir, 'events.jsonl')), `no events.jsonl; supervisor exit ${r.code}: ${r.stderr}`);
  const events = readFileSync(path.join(dir, 'events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as VmEvent);
  return { code: r.code, events, dir, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

test('QEMU exiting 0 without a guest reset: one boot, exit 0, the supervisor ends with 0 and removes its pid file', async () => {
  const s = await supervise('printf "%s\\n" "$@" > qemu-args.txt; exit 0');
  try {
    assert.is(s.code, 0);
    assert.equal(
      s.events.map((e) => e.event),
      ['boot', 'exit'],
    );
    assert.ok(s.events[0].pid && s.events[0].pid > 0);
    assert.is(s.events[0].append, 'console=ttyS0 systemd.machine_id=0123456789abcdef0123456789abcdef');
    assert.is(s.events[1].code, 0);
    // QEMU ran in the VM folder with the launch spec's arguments
    const args = readFileSync(path.join(s.dir, 'qemu-args.txt'), 'utf8').split('\n');
    assert.ok(args.includes('cs-test-vm1'), args.join(' '));
    assert.ok(args.includes('console=ttyS0 systemd.machine_id=0123456789abcdef0123456789abcdef'));
    assert.not.ok(existsSync(path.join(s.dir, 'supervisor.pid')));
  } finally {
    s.cleanup();
  }
});

test('QEMU killed by a signal: exit recorded with code null and the signal, the supervisor ends with 1', async () => {
  const s = await supervise('kill -KILL $$');
  try {
    assert.is(s.code, 1);
    const exit = s.events.find((e) => e.event === 'exit');
    assert.ok(exit);
    assert.is(exit.code, null);
    assert.is(exit.reason, 'SIGKILL');
  } finally {
    s.cleanup();
  }
});

test('QEMU exiting non-zero: the supervisor ends with 1', async () => {
  const s = await supervise('exit 3');
  try {
    assert.is(s.code, 1);
    assert.is(s.events.find((e) => e.event === 'exit')?.code, 3);
  } finally {
    s.cleanup();
  }
});

test('no QEMU binary: an error event with the spawn error, exit 127, the supervisor ends with 1', async () => {
  const s = await supervise(undefined);
  try {
    assert.is(s.code, 1);
    assert.equal(
      s.events.map((e) => e.event),
      ['boot', 'error', 'exit'],
    );
    assert.is(s.events[1].detail, 'spawn qemu-system-x86_64 ENOENT');
    assert.is(s.events[2].code, 127);
  } finally {
    s.cleanup();
  }
});

test.run();
