// The K3s stand-in refuses to start under systemd on a real (nspawn) host where real K3s does
// (test/fixtures/k3s-standin, "what real K3s refuses at start"): a config.yaml key that is no flag
// of the command, a missing admission file, and protect-kernel-defaults with kernel parameters this
// container cannot have. The last case is why clusterseed leaves the flag out in containers
// (lib/k3s/kernel-defaults.ts protectKernelDefaultsOn): the container shares the machine's kernel
// values and may not write vm.*. The stand-in is built as the mirror builds it and copied in; each
// unit runs through systemd-run and is awaited with a bound.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { compile } from '../support/k3s-mirror.ts';
import { KUBELET_KERNEL_DEFAULTS } from '../../lib/k3s/kernel-defaults.ts';

let lab: TestLab;
let work: string;
let n = 0;

test.before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'clusterseed-standin-refusals-'));
  const binary = path.join(work, 'k3s');
  [lab] = await Promise.all([startLab({ count: 1, prefix: 'r' }), compile('amd64', 'v1.31.4+k3s1', binary)]);
  const copy = await lab.sh('r1', 'base64 -d > /usr/local/bin/k3s && chmod 0755 /usr/local/bin/k3s', {
    input: readFileSync(binary).toString('base64'),
  });
  assert.is(copy.code, 0, copy.stderr);
});
test.after(async () => {
  await lab?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** runs `k3s <command>` with this config as a transient systemd service; its exit status and journal */
async function unit(command: 'server' | 'agent', config: Record<string, unknown>): Promise<{ failed: boolean; journal: string }> {
  const name = `standin-check-${++n}`;
  const file = `/root/${name}.yaml`;
  await lab.sh('r1', `cat > ${file}`, { input: stringify(config) });
  const run = await lab.sh('r1', `timeout 30 systemd-run --unit=${name} --wait -E K3S_CONFIG_FILE=${file} /usr/local/bin/k3s ${command}`, {
    timeoutMs: 40_000,
  });
  const journal = await lab.sh('r1', `journalctl -u ${name} --no-pager -o cat`);
  return { failed: run.code !== 0, journal: journal.stdout };
}

test("server: a key that is no K3s flag fails the unit with K3s' warning", async () => {
  const r = await unit('server', { 'node-name': 'r1', 'secret-encryption': true });
  assert.ok(r.failed, r.journal);
  assert.match(r.journal, 'Unknown flag --secret-encryption found in config.yaml, skipping');
});

test('agent: a server-only key fails the unit like urfave/cli', async () => {
  const r = await unit('agent', { server: 'https://127.0.0.1:6443', 'cluster-init': true });
  assert.ok(r.failed, r.journal);
  assert.match(r.journal, 'flag provided but not defined: -cluster-init');
});

test('server: a missing admission configuration fails the unit as kube-apiserver does', async () => {
  const r = await unit('server', { 'kube-apiserver-arg': ['admission-control-config-file=/var/lib/rancher/k3s/server/psa.yaml'] });
  assert.ok(r.failed, r.journal);
  assert.match(r.journal, 'unable to read admission control configuration from "/var/lib/rancher/k3s/server/psa.yaml"');
});

test('protect-kernel-defaults in a container: the kubelet check fails on the values the container cannot change', async () => {
  const differing: string[] = [];
  for (const [name, want] of Object.entries(KUBELET_KERNEL_DEFAULTS)) {
    const have = (await lab.sh('r1', `cat /proc/sys/${name.replaceAll('.', '/')}`)).stdout.trim();
    if (have !== String(want))
      differing.push(`invalid kernel flag: ${name.replaceAll('.', '/')}, expected value: ${want}, actual value: ${have}`);
  }
  assert.ok(differing.length > 0, "this machine's kernel already has every value the kubelet wants: nothing to show");
  const r = await unit('agent', { server: 'https://127.0.0.1:6443', 'protect-kernel-defaults': true });
  assert.ok(r.failed, r.journal);
  for (const d of differing) assert.match(r.journal, d);
});

test.run();
