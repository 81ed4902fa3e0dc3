// The lab's config disk (lib/lab/identity.ts) built with mkfs.ext4 -d and read back with debugfs:
// needs e2fsprogs (test/system). The lab's pure parts: test/unit/lab-config.test.ts.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { labMac } from '../../lib/lab/qemu.ts';
import { nextKernelArgs, type SupervisedVm } from '../../lib/lab/supervisor.ts';
import { generateKeyPair, knownHostsLines, readGuestCmdline, writeConfigDisk } from '../../lib/lab/identity.ts';
import { baseKernelArgs, PI_CMDLINE_TXT, CONFIG_DISK_LABEL } from '../../lib/lab/recipe.ts';
import { runOk } from '../../lib/process/index.ts';
import { labLaunchSpec as launch } from '../support/lab-launch.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clusterseed-labdisk-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('kernel command line: x86 always the lab default; a Pi boots with the cmdline.txt it wrote back', async () => {
  const disk = path.join(tmp, 'config.img');
  const identity = await writeConfigDisk(disk, 'pi-1', generateKeyPair('ed25519', 'admin').public);
  assert.match(identity.machineId, /^[0-9a-f]{32}$/);
  const vm = (raspberryPi: boolean, arch: 'x86_64' | 'aarch64'): SupervisedVm => ({
    launch: launch(arch, 'tcg'),
    kernelArgs: baseKernelArgs(arch),
    machineId: identity.machineId,
    raspberryPi,
  });
  assert.is(await nextKernelArgs(vm(false, 'x86_64'), disk), `${baseKernelArgs('x86_64')} systemd.machine_id=${identity.machineId}`);
  // before the guest ever shut down: the image's cmdline.txt, plus the machine id for the first boot
  assert.is(await readGuestCmdline(disk), undefined);
  assert.is(await nextKernelArgs(vm(true, 'aarch64'), disk), `${PI_CMDLINE_TXT.trim()} systemd.machine_id=${identity.machineId}`);
  // what the guest's identity service leaves at shutdown after a role edited cmdline.txt
  const edited = `${PI_CMDLINE_TXT.trim()} cgroup_memory=1 cgroup_enable=memory`;
  const staged = path.join(tmp, 'written-back');
  fs.mkdirSync(staged);
  fs.writeFileSync(path.join(staged, 'cmdline.txt'), `${edited}\n`);
  const written = path.join(tmp, 'written-back.img');
  await runOk(['mkfs.ext4', '-q', '-F', '-O', '^has_journal', '-L', CONFIG_DISK_LABEL, '-d', staged, written, '8M']);
  assert.is(await nextKernelArgs(vm(true, 'aarch64'), written), edited);
});

test('identity: host keys parse, known_hosts lines name the forwarded port, the config disk is private', async () => {
  const disk = path.join(tmp, 'config2.img');
  const identity = await writeConfigDisk(disk, 'desktop', 'ssh-ed25519 AAAA admin');
  assert.equal(
    identity.hostPublicKeys.map((k) => k.split(' ')[0]),
    ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa'],
  );
  for (const k of identity.hostPublicKeys) assert.not.instance(ssh2.utils.parseKey(k), Error);
  assert.is(fs.statSync(disk).mode & 0o777, 0o600);
  assert.equal(knownHostsLines(2230, identity.hostPublicKeys.slice(0, 1)), [`[127.0.0.1]:2230 ${identity.hostPublicKeys[0]}`]);
  const listing = await runOk(['debugfs', '-R', 'ls -l /ssh', disk]);
  assert.match(listing, 'ssh_host_ed25519_key');
  assert.is((await runOk(['debugfs', '-R', 'cat /hostname', disk])).trim(), 'desktop');
  const withLan = path.join(tmp, 'config3.img');
  await writeConfigDisk(withLan, 'pi-1', 'ssh-ed25519 AAAA admin', { mac: labMac(2, 'lan'), address: '172.30.213.12/24' });
  assert.is((await runOk(['debugfs', '-R', 'cat /lan-mac', withLan])).trim(), labMac(2, 'lan'));
  assert.is((await runOk(['debugfs', '-R', 'cat /lan-address', withLan])).trim(), '172.30.213.12/24');
});

test.run();
