// The no-hardware quick start on real VMs (npm run test:vm). `site.mjs --lab` from an empty folder,
// as the README has it, on this machine without GitHub: converges base and harden, then stops at
// the K3s download with the message naming `--k3s-mirror URL`. `site.mjs --lab --k3s-mirror URL` then
// finishes the job on the same lab: up one x86_64 "desktop" and one arm64 "Raspberry Pi" (QEMU), converges them
// (base, harden, K3s stand-in, the Pi's cmdline.txt and its one reboot-and-wait), pushes the
// rendered repo to the local bare repository and writes the Argo CD bootstrap files. A second run
// changes nothing; --check afterwards exits 0.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { labDown, readState, sshExec, sshTarget } from '../../lib/lab/index.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';
import type { HostReport, TaskReport } from '../../lib/runner/types.ts';

const SITE = fileURLToPath(new URL('../../scripts/site.mjs', import.meta.url));
const VERSION = 'v1.31.4+k3s1';
const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'clusterseed-vmsite-'));
const labDir = path.join(cwd, '.clusterseed', 'lab');
let mirror: K3sMirror;

const WATCHDOG_MS = 50 * 60_000;
const watchdog = setTimeout(async () => {
  console.error(`vm site test: still running after ${WATCHDOG_MS / 60_000} min: tearing the lab down`);
  await labDown(labDir).catch(() => undefined);
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

test.before(async () => {
  mirror = await startK3sMirror({ versions: [VERSION], arches: ['amd64', 'arm64'] });
});
test.after(async () => {
  await labDown(labDir).catch(() => undefined);
  await mirror?.close();
  clearTimeout(watchdog);
});

function site(args: string[]): Promise<{ code: number; out: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [SITE, ...args], { cwd, timeout: 30 * 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      console.log(
        `  [site ${args.join(' ').replace(mirror.url, 'MIRROR')}] exit ${err ? (err as { code?: number }).code : 0} after ${Math.round((Date.now() - started) / 1000)} s`,
      );
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

async function remote(name: string, command: string): Promise<string> {
  const state = readState(labDir)!;
  const vm = state.vms.find((v) => v.name === name)!;
  return (await sshExec(sshTarget(state, vm), command)).stdout.trim();
}

test('site --lab without GitHub: base and harden converge, then a clear stop naming --k3s-mirror', async () => {
  const run = await site(['--lab', '--json', path.join(cwd, 'zero.json')]);
  assert.is(run.code, 2, run.out.slice(-8000));
  assert.match(run.out, '--k3s-mirror URL');
  const state = readState(labDir)!;
  for (const vm of state.vms) {
    // hardened (the sshd drop-in is the last thing harden proves), nothing of K3s on the host
    assert.is(await remote(vm.name, 'sudo test -f /etc/ssh/sshd_config.d/00-clusterseed-harden.conf && echo yes'), 'yes', vm.name);
    assert.is(await remote(vm.name, 'ls /usr/local/bin/k3s /etc/rancher 2>/dev/null | wc -l'), '0', vm.name);
  }
});

test('site --lab --k3s-mirror: on to K3s, a pushed repo and Argo CD bootstrap files; rerun changes nothing; no drift', async () => {
  const args = ['--lab', '--k3s-mirror', mirror.url];
  const first = await site([...args, '--json', path.join(cwd, 'first.json')]);
  assert.is(first.code, 0, first.out.slice(-8000));
  const state = readState(labDir)!;
  const names = state.vms.map((v) => v.name);
  const pi = state.vms.find((v) => v.arch === 'aarch64')!;
  const desktop = state.vms.find((v) => v.arch === 'x86_64')!;
  assert.ok(pi && desktop, names.join(','));

  assert.is(await remote(desktop.name, 'uname -m'), 'x86_64');
  assert.is(await remote(pi.name, 'uname -m'), 'aarch64');
  // the Pi got the cgroup and AppArmor flags and exactly one reboot over both runs (harden adds
  // K3s' cgroup flags with its AppArmor ones and reboots in the first run, which stops at K3s),
  // and the kernel runs with them
  const piTasks = ['zero.json', 'first.json'].flatMap(
    (f) => JSON.parse(fs.readFileSync(path.join(cwd, f), 'utf8')).hosts.find((h: HostReport) => h.host === pi.name).tasks,
  );
  assert.is(
    piTasks.filter((t: TaskReport) => /reboot/i.test(t.task) && t.outcome === 'changed').length,
    1,
    JSON.stringify(piTasks.filter((t: TaskReport) => t.outcome === 'changed')),
  );
  assert.match(await remote(pi.name, 'cat /proc/cmdline'), /cgroup_memory=1 cgroup_enable=memory/);
  assert.match(await remote(pi.name, 'cat /proc/cmdline'), /apparmor=1 security=apparmor/);
  // issue 18 part 4 (roles/harden: apparmor.ts, auditd.ts, coredump.ts): what a container cannot show
  for (const vm of [desktop, pi]) {
    assert.is(await remote(vm.name, 'cat /sys/module/apparmor/parameters/enabled'), 'Y', `${vm.name}: AppArmor enabled`);
    assert.is(await remote(vm.name, 'systemctl is-active apparmor auditd | tr "\\n" " "'), 'active active', vm.name);
    const rules = await remote(vm.name, 'sudo auditctl -l');
    for (const key of ['identity', 'sudoers', 'sshd', 'time-change', 'modules'])
      assert.match(rules, new RegExp(`(-k |key=)${key}\\b`), `${vm.name}: audit rule ${key} loaded`);
    assert.is(await remote(vm.name, 'cat /proc/sys/kernel/core_pattern'), '|/bin/false', vm.name);
  }
  // effective after the Pi's reboot, i.e. loaded from /etc/sysctl.d at boot, not only written live
  assert.is(
    await remote(pi.name, 'cat /proc/sys/kernel/kptr_restrict /proc/sys/kernel/dmesg_restrict /proc/sys/fs/suid_dumpable | tr "\\n" " "'),
    '2 1 0',
    'Pi sysctls after its reboot',
  );
  assert.is(await remote(desktop.name, 'systemctl is-active k3s'), 'active');
  assert.is(await remote(pi.name, 'systemctl is-active k3s-agent'), 'active');
  // the agent joined over the lab LAN (the VMs' own network), not through a port forward
  const agentConfig = await remote(pi.name, 'sudo cat /etc/rancher/k3s/config.yaml');
  assert.match(agentConfig, `server: https://${desktop.lan!.address}:6443`);
  assert.match(agentConfig, `node-ip: ${pi.lan!.address}`);
  // K3s CIS hardening (roles/k3s-server/README.md): the six kernel parameters protect-kernel-defaults
  // checks are live on both (on the Pi after its reboot, so persisted, not only set), then the flags and server files
  const kernelParams = [
    'vm/panic_on_oom',
    'vm/overcommit_memory',
    'kernel/panic',
    'kernel/panic_on_oops',
    'kernel/keys/root_maxkeys',
    'kernel/keys/root_maxbytes',
  ];
  for (const vm of [desktop, pi]) {
    assert.is(
      await remote(vm.name, `cat ${kernelParams.map((k) => `/proc/sys/${k}`).join(' ')}`),
      '0\n1\n10\n1\n1000000\n25000000',
      `kernel parameters on ${vm.name}`,
    );
  }
  assert.match(agentConfig, 'protect-kernel-defaults: true');
  assert.match(agentConfig, 'seccomp-default=true');
  const serverConfig = await remote(desktop.name, 'sudo cat /etc/rancher/k3s/config.yaml');
  for (const line of [
    'secrets-encryption: true',
    'protect-kernel-defaults: true',
    'admission-control-config-file=/var/lib/rancher/k3s/server/psa.yaml',
    'audit-policy-file=/var/lib/rancher/k3s/server/audit.yaml',
  ]) {
    assert.match(serverConfig, line);
  }
  assert.is(
    await remote(
      desktop.name,
      'sudo stat -c "%a %U" /var/lib/rancher/k3s/server/psa.yaml /var/lib/rancher/k3s/server/audit.yaml /var/lib/rancher/k3s/server/logs',
    ),
    '600 root\n600 root\n700 root',
  );
  // the local kubeconfig points at the API forward on 127.0.0.1, and the server answers there
  // (the stand-in's line protocol: `GET NODE` gives the node as JSON)
  const kubeconfig = fs.readFileSync(path.join(labDir, '.clusterseed', 'lab', 'kubeconfig'), 'utf8');
  assert.match(kubeconfig, `server: https://127.0.0.1:${state.lan!.apiPort}`);
  const answer = await new Promise<string>((resolve, reject) => {
    let data = '';
    const socket = net.connect({ host: '127.0.0.1', port: state.lan!.apiPort }, () => socket.write(`GET ${desktop.name}\n`));
    socket.setTimeout(30_000, () => socket.destroy(new Error('no answer from the API forward in 30 s')));
    socket.on('data', (d) => (data += d));
    socket.once('error', reject);
    socket.once('close', () => resolve(data));
  });
  assert.match(answer, `"kind":"Node"`);
  assert.match(answer, desktop.name);
  assert.match(await remote(desktop.name, 'sudo ls /var/lib/rancher/k3s/server/manifests'), /clusterseed-argocd\.yaml/);
  assert.ok(fs.existsSync(path.join(labDir, '.clusterseed', 'gitops.git')), 'pushed to the local bare repository');

  const second = await site([...args, '--json', path.join(cwd, 'second.json')]);
  assert.is(second.code, 0, second.out.slice(-6000));
  const report = JSON.parse(fs.readFileSync(path.join(cwd, 'second.json'), 'utf8'));
  for (const h of report.hosts) {
    const changed = h.tasks.filter((t: TaskReport) => t.outcome === 'changed');
    assert.is(changed.length, 0, `${h.host}: ${JSON.stringify(changed)}`);
  }
  assert.is(report.gitops.unchanged, true);

  const check = await site([...args, '--check']);
  assert.is(check.code, 0, check.out.slice(-4000));

  // the repository Argo CD is told to read is cloneable from the other VM with the credential the
  // bootstrap wrote (issue 16): the Secret's URL and key, the host key pinned in Argo CD's values
  const manifests = '/var/lib/rancher/k3s/server/manifests';
  const credFile = await remote(desktop.name, `sudo cat ${manifests}/clusterseed-repo-credentials.yaml`);
  const secret = YAML.parseAllDocuments(credFile)
    .map((d) => d.toJS())
    .find((d) => d?.kind === 'Secret');
  assert.match(secret.stringData.url, /^ssh:\/\/clusterseed-git@[0-9.]+:22\/var\/lib\/clusterseed-git\/gitops\.git$/);
  const chart = YAML.parse(await remote(desktop.name, `sudo cat ${manifests}/clusterseed-argocd.yaml`));
  const knownHosts: string = YAML.parse(chart.spec.valuesContent).configs.ssh.extraHosts;
  // a throwaway VM: the key travels in the command's here-document
  await remote(
    pi.name,
    `umask 077; cat > ~/argocd-key <<'EOF'\n${secret.stringData.sshPrivateKey.trim()}\nEOF\ncat > ~/argocd-known-hosts <<'EOF'\n${knownHosts.trim()}\nEOF`,
  );
  // a clone at the protocol level: the Pi VM has OpenSSH but no git (installing git under TCG takes
  // minutes), so it speaks git's upload-pack protocol itself through the Secret's key and the pinned
  // host key: the ref advertisement, one `want` of the head, `done`; the pack it gets back is then
  // indexed by git on this machine and must hold the commit and tree the control machine published
  const localMirror = path.join(labDir, '.clusterseed', 'gitops.git');
  const mirrorHead = execFileSync('git', ['-C', localMirror, 'rev-parse', 'refs/heads/main'], { encoding: 'utf8' }).trim();
  const { pathname: repoPath, hostname: repoHost } = new URL(secret.stringData.url);
  const sshOpts =
    '-i ~/argocd-key -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=~/argocd-known-hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -p 22';
  const upload = await remote(
    pi.name,
    `{ printf '0032want ${mirrorHead}\n'; printf '0000'; printf '0009done\n'; } | ssh ${sshOpts} clusterseed-git@${repoHost} "git-upload-pack '${repoPath}'" > ~/upload.out && base64 -w0 ~/upload.out`,
  );
  const bytes = Buffer.from(upload.split('\n').pop()!, 'base64');
  const text = bytes.toString('latin1');
  assert.match(text, `${mirrorHead} refs/heads/main`, 'the repository advertises the published head to the Pi');
  const packAt = text.indexOf('0008NAK\nPACK');
  assert.ok(packAt > 0, `upload-pack sent a pack to the Pi: ${text.slice(0, 300)}`);
  const cloneDir = fs.mkdtempSync(path.join(cwd, 'pi-clone-'));
  execFileSync('git', ['init', '-q', '--bare', cloneDir]);
  execFileSync('git', ['-C', cloneDir, 'index-pack', '--stdin'], { input: bytes.subarray(packAt + 8) });
  const tree = (repo: string) => execFileSync('git', ['-C', repo, 'rev-parse', `${mirrorHead}^{tree}`], { encoding: 'utf8' }).trim();
  assert.is(tree(cloneDir), tree(localMirror), 'the Pi received the tree the control machine published');
});

test.run();
