// A lab VM's launch spec with fixed names, for tests of the QEMU command line and the kernel
// arguments (test/unit/lab-config.test.ts, test/system/lab-config-disk.test.ts).
import { labMac, type VmLaunchSpec } from '../../lib/lab/qemu.ts';

export function labLaunchSpec(arch: 'x86_64' | 'aarch64', accel: 'kvm' | 'tcg'): VmLaunchSpec {
  return {
    tag: 'clusterseed-vmlab-0000',
    name: 'vm',
    arch,
    accel,
    cpus: 2,
    memoryMb: 1024,
    sshPort: 2299,
    disk: 'disk.qcow2',
    configDisk: 'config.img',
    consoleLog: 'console.log',
    qmpSocket: 'qmp.sock',
    pidFile: 'qemu.pid',
    kernel: '/images/vmlinuz',
    initrd: '/images/initrd.img',
    mac: labMac(1),
  };
}
