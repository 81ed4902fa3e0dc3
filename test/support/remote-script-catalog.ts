// Remote scripts that a normal converge does not send (failure paths: rollbacks and restores) or
// that the transport runs itself (upload install, the persistent shell loop, sudo's launcher),
// built with sample arguments; the fact commands of lib/facts and the reboot scripts of lib/blocks,
// with parameters a converge may not reach (a sysctl glob, a quote in a path); and the per-script
// exclusions of the shellcheck test, each with its reason. Used by test/hosts/remote-scripts.test.ts
// and test/system/remote-scripts.test.ts.
import { buildLaunch } from '../../lib/ssh/become.ts';
import { SHELL_LOOP } from '../../lib/ssh/persistent-shell.ts';
import { chownAndRenameScript, installFromStagingScript } from '../../lib/ssh/upload-plan.ts';
import { FACTS_PROBE } from '../../lib/facts/host-facts.ts';
import { filesFact } from '../../lib/facts/files.ts';
import { iptablesFact } from '../../lib/facts/iptables.ts';
import { packagesFact } from '../../lib/facts/packages.ts';
import { procPath, sysctlFact } from '../../lib/facts/sysctl.ts';
import { unitsFact } from '../../lib/facts/units.ts';
import { BOOT_MARK, SCHEDULE_REBOOT } from '../../lib/blocks/reboot.ts';
import { buildProbeBatch } from '../../lib/runner/probe-batch.ts';
import { FIREWALL_ROLLBACK_SCRIPT, firewallRollbackSh } from '../../roles/harden/firewall-tasks.ts';
import { candidateScript, installScript, moduliFilterScript, RESTORE_AND_RELOAD_SCRIPT } from '../../roles/harden/sshd-tasks.ts';
import { applicationStatusProbe } from '../../roles/argocd-bootstrap/index.ts';
import { sudoersInstallScript } from '../../roles/base/admin.ts';
import { defaults as platformDefaults, nvidiaRepoScript } from '../../roles/platform-prereq/index.ts';
import { applyLinkScript } from '../../roles/wireguard/handlers.ts';
import type { Exclusion } from './shellcheck.ts';

const SAMPLE_SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export const FIXED_SCRIPTS: string[] = [
  SHELL_LOOP,
  buildLaunch(SHELL_LOOP, { sudo: true, password: 'x' }).command,
  FACTS_PROBE,
  // the facts of lib/facts (each batched by the runner, or read alone by readFact), typical parameters
  sysctlFact.command([procPath('net.ipv4.ip_forward'), procPath('kernel.kptr_restrict'), '/proc/sys/net/ipv4/conf/*/rp_filter']),
  sysctlFact.command([]),
  iptablesFact.command([]),
  filesFact.command([
    { path: '/etc/ssh/sshd_config' },
    { path: "/etc/it's here.conf", hash: true },
    { path: '/etc/sysctl.d/99-clusterseed.conf', hash: true },
    { path: '/boot/firmware/cmdline.txt', content: true },
    { path: '/etc/fstab', content: true },
  ]),
  filesFact.command([{ path: '/etc/x.conf' }]),
  unitsFact.command(['ssh.service', 'k3s.service', 'nftables.service']),
  packagesFact.command(['openssh-server', 'nftables', 'apparmor']),
  // the runner's framing of a probe batch around them
  buildProbeBatch([FACTS_PROBE, iptablesFact.command([]), packagesFact.command(['nftables'])]).script,
  // lib/blocks/reboot.ts: the boot mark read before and after, and the scheduled reboot
  BOOT_MARK,
  SCHEDULE_REBOOT,
  installFromStagingScript(
    '/home/admin/.clusterseed-staging/.staged.cs-0a1b2c',
    "/etc/it's here.conf",
    { mode: 0o640, owner: 'root', group: 'adm' },
    SAMPLE_SHA,
  ),
  installFromStagingScript('/home/admin/.clusterseed-staging/.staged.cs-0a1b2c', '/etc/x.conf', {}, SAMPLE_SHA),
  chownAndRenameScript('/etc/.x.conf.cs-0a1b2c', '/etc/x.conf', 'root', 'adm'),
  candidateScript(true, ['admin', 'root', 'nobody']),
  installScript('/run/clusterseed-sshd-candidate.AbCd1234', SAMPLE_SHA),
  RESTORE_AND_RELOAD_SCRIPT,
  moduliFilterScript(3072, 40),
  FIREWALL_ROLLBACK_SCRIPT,
  firewallRollbackSh(),
  sudoersInstallScript('/etc/sudoers.d/.50-clusterseed-admin.candidate.0a1b2c3d4e5f'),
  // GPU nodes only: not in the host test's converge
  nvidiaRepoScript(platformDefaults),
  // the Argo CD bootstrap (first server, after publishing): not in the host test's converge
  applicationStatusProbe(['argocd', 'root'], 'argocd'),
  // the site link's handler: only where the kernel has WireGuard (the VM tier), never in nspawn
  applyLinkScript({ iface: 'cs-link', cidr: '10.77.0.1/24', forwards: true, mtu: 1380 }),
  applyLinkScript({ iface: 'cs-link', cidr: '10.77.0.2/24', forwards: false, mtu: 0 }),
];

export const SCRIPT_EXCLUSIONS: Exclusion[] = [];
