// The K3s stand-in (test/fixtures/k3s-standin) refuses to start where real K3s does, for what
// clusterseed writes: a config.yaml key that is not a flag of the command, a missing or wrong
// kube-apiserver admission/audit file or an audit log that cannot be created, and kernel parameters
// that differ with protect-kernel-defaults. The binary is built like the mirror builds it and run
// with K3S_CONFIG_FILE (and K3S_STANDIN_SYSCTL_DIR for /proc/sys) pointing into a temp dir; each case
// ends before the stand-in writes anything outside it. Cases that must get past one check end at a
// later one, so every check is shown both to refuse and to let through.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { compile } from '../support/k3s-mirror.ts';
import { auditPolicyYaml, psaYaml } from '../../lib/k3s/pod-security.ts';
import { DEFAULT_POD_SECURITY } from '../../lib/k3s/hardening.ts';
import { KUBELET_KERNEL_DEFAULTS } from '../../lib/k3s/kernel-defaults.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'clusterseed-standin-checks-'));
const binary = path.join(dir, 'k3s');
let n = 0;

interface Result {
  code: number | null;
  stderr: string;
}

/** runs `k3s <command>` with this config.yaml (and this /proc/sys stand-in), 10 s at most */
function start(command: 'server' | 'agent', config: Record<string, unknown>, sysctls?: Record<string, string | number>): Promise<Result> {
  const configFile = path.join(dir, `config-${++n}.yaml`);
  writeFileSync(configFile, stringify(config));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, K3S_CONFIG_FILE: configFile };
  if (sysctls) {
    const root = path.join(dir, `sys-${n}`);
    for (const [name, value] of Object.entries(sysctls)) {
      const file = path.join(root, ...name.split('.'));
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, `${value}\n`);
    }
    env.K3S_STANDIN_SYSCTL_DIR = root;
  }
  return new Promise((resolve) => {
    execFile(binary, [command], { env, timeout: 10_000 }, (err, _stdout, stderr) => {
      // a non-zero exit gives err.code = the exit code; the timeout gives null (killed)
      resolve({ code: err ? ((err as unknown as { code: number | null }).code ?? null) : 0, stderr });
    });
  });
}

/** every kernel parameter right but one */
const kernelWith = (name: string, value: number): Record<string, number> => ({ ...KUBELET_KERNEL_DEFAULTS, [name]: value });
const file = (name: string, content: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};

test.before(async () => {
  await compile('amd64', 'v1.31.4+k3s1', binary);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('agent: a key that is no flag of `k3s agent` fails like urfave/cli (server-only keys too)', async () => {
  const typo = await start('agent', { server: 'https://127.0.0.1:1', 'node-lable': ['a=b'] });
  assert.is(typo.code, 1);
  assert.match(typo.stderr, 'flag provided but not defined: -node-lable');
  const serverOnly = await start('agent', { server: 'https://127.0.0.1:1', 'secrets-encryption': true });
  assert.is(serverOnly.code, 1);
  assert.match(serverOnly.stderr, 'flag provided but not defined: -secrets-encryption');
});

test('server: an unknown key gets K3s\' "skipping" warning and the stand-in refuses to start', async () => {
  const r = await start('server', { 'node-name': 's1', 'protect-kernel-default': true });
  assert.is(r.code, 1);
  assert.match(r.stderr, 'Unknown flag --protect-kernel-default found in config.yaml, skipping');
  assert.match(r.stderr, 'refusing to start');
});

test('kube-apiserver: a missing admission config fails, as ReadAdmissionConfiguration does', async () => {
  const missing = path.join(dir, 'no-such-psa.yaml');
  const r = await start('server', { 'kube-apiserver-arg': [`admission-control-config-file=${missing}`] });
  assert.is(r.code, 1);
  assert.match(r.stderr, `unable to read admission control configuration from "${missing}"`);
});

test('kube-apiserver: admission and audit files of the wrong kind, or not YAML, fail', async () => {
  const audit = file('audit.yaml', auditPolicyYaml());
  const psa = file('psa.yaml', psaYaml(DEFAULT_POD_SECURITY));
  const swapped = await start('server', { 'kube-apiserver-arg': [`admission-control-config-file=${audit}`] });
  assert.is(swapped.code, 1);
  assert.match(swapped.stderr, /admission-control-config-file: failed decoding file .*no kind "Policy".*want kind AdmissionConfiguration/);
  const swapped2 = await start('server', { 'kube-apiserver-arg': [`audit-policy-file=${psa}`] });
  assert.is(swapped2.code, 1);
  assert.match(swapped2.stderr, /audit-policy-file: failed decoding file .*want kind Policy/);
  const garbage = await start('server', { 'kube-apiserver-arg': [`audit-policy-file=${file('garbage.yaml', 'rules {{ nope\n')}`] });
  assert.is(garbage.code, 1);
  assert.match(garbage.stderr, /audit-policy-file: unable to decode/);
  const missing = await start('server', { 'kube-apiserver-arg': [`audit-policy-file=${path.join(dir, 'none.yaml')}`] });
  assert.is(missing.code, 1);
  assert.match(missing.stderr, 'loading audit policy file: failed to read file path');
});

test('kube-apiserver: the audit log directory is created (0700) like ensureLogFile, and an impossible one fails', async () => {
  const notDir = file('plain-file', 'x');
  const bad = await start('server', { 'kube-apiserver-arg': [`audit-log-path=${notDir}/logs/audit.log`] });
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /ensureLogFile: open .*plain-file\/logs\/audit\.log/);
  // good files and a new log directory get past the API server; the kernel check then stops it
  const logs = path.join(dir, 'new-logs');
  const ok = await start(
    'server',
    {
      'node-name': 's1',
      'protect-kernel-defaults': true,
      'kube-apiserver-arg': [
        `admission-control-config-file=${file('psa-ok.yaml', psaYaml(DEFAULT_POD_SECURITY))}`,
        `audit-policy-file=${file('audit-ok.yaml', auditPolicyYaml())}`,
        `audit-log-path=${logs}/audit.log`,
        'audit-log-maxage=30',
      ],
      'kubelet-arg': ['seccomp-default=true'],
    },
    kernelWith('kernel.panic', 0),
  );
  assert.is(ok.code, 1);
  assert.not.match(ok.stderr, /apiserver exited|Unknown flag/);
  assert.match(ok.stderr, 'kubelet exited: invalid kernel flag: kernel/panic, expected value: 10, actual value: 0');
  assert.is(statSync(logs).mode & 0o777, 0o700);
  assert.is(statSync(`${logs}/audit.log`).mode & 0o777, 0o600);
});

test('kube-apiserver: a valid policy written with unindented lists is accepted', async () => {
  const policy = file('audit-flat.yaml', stringify(parse(auditPolicyYaml()), { indentSeq: false }));
  assert.match(readFileSync(policy, 'utf8'), /^- /m);
  const r = await start(
    'server',
    { 'kube-apiserver-arg': [`audit-policy-file=${policy}`], 'protect-kernel-defaults': true },
    kernelWith('vm.panic_on_oom', 1),
  );
  assert.is(r.code, 1);
  assert.not.match(r.stderr, /apiserver exited/);
  assert.match(r.stderr, 'invalid kernel flag: vm/panic_on_oom, expected value: 0, actual value: 1');
});

test('protect-kernel-defaults: every differing parameter is named like the kubelet does, on agents too', async () => {
  const two = await start(
    'agent',
    { server: 'https://127.0.0.1:1', 'protect-kernel-defaults': true },
    { ...kernelWith('vm.overcommit_memory', 0), 'kernel.keys.root_maxkeys': 200 },
  );
  assert.is(two.code, 1);
  assert.match(
    two.stderr,
    'kubelet exited: [invalid kernel flag: vm/overcommit_memory, expected value: 1, actual value: 0, ' +
      'invalid kernel flag: kernel/keys/root_maxkeys, expected value: 1000000, actual value: 200]',
  );
});

test.run();
