import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { parseFacts } from '../../lib/facts/host-facts.ts';
import { sshPortOf } from '../../roles/harden/ssh-port.ts';
import type { HostContext } from '../../lib/runner/types.ts';

const out = [
  'hostname=pi-1',
  'arch=aarch64',
  'kernel=6.1.0-rpi',
  'osId=debian',
  'osVersion=12',
  'osCodename=bookworm',
  'init=systemd',
  'container=',
  'model=Raspberry Pi 4 Model B Rev 1.4',
  'cmdline=/boot/firmware/cmdline.txt',
  'sshd=1:9.2p1-2+deb12u6',
  'sshdPorts=22 2200 ',
].join('\n');

test('facts: Pi detection, cmdline file, sshd version and listening ports', () => {
  const f = parseFacts(out);
  assert.is(f.raspberryPi, true);
  assert.is(f.piCmdlineFile, '/boot/firmware/cmdline.txt');
  assert.is(f.sshdVersion, '9.2');
  assert.equal(f.sshdPorts, [22, 2200]);
  assert.is(f.container, '');
});

test('facts: the inventory override wins over detection', () => {
  assert.is(parseFacts(out, false).raspberryPi, false);
  assert.is(parseFacts(out.replace(/model=.*/, 'model='), true).raspberryPi, true);
});

const ctx = (port: number, sshdPorts?: number[]) => ({ host: { port }, facts: { sshdPorts } }) as unknown as HostContext;

test('harden keeps open the port sshd listens on, also behind a port forward', () => {
  assert.is(sshPortOf(ctx(22, [22]), 0), 22);
  assert.is(sshPortOf(ctx(2222, [22]), 0), 22, 'VM lab: 127.0.0.1:2222 forwards to the guest port 22');
  assert.is(sshPortOf(ctx(2200, [22, 2200]), 0), 2200);
  assert.is(sshPortOf(ctx(2222, []), 0), 2222, 'unknown: the inventory port');
  assert.is(sshPortOf(ctx(2222, [22]), 4444), 4444, 'configured wins');
});

test.run();
