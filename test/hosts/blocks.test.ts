// Every building block on real hosts: first run `changed`, second run `ok`, and `--check` reports
// `changed` without changing the host (asserted by reading the host without SSH).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { Role, RunReport, Task } from '../../lib/runner/types.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import {
  file,
  lineInFile,
  blockInFile,
  directory,
  packages,
  service,
  sysctl,
  kernelModule,
  command,
  absent,
} from '../../lib/blocks/index.ts';
import { startLab, type TestLab } from '../harness/hosts.ts';

let lab: TestLab;
let inventory: Inventory;
const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };

test.before(async () => {
  lab = await startLab({ count: 3, prefix: 'blk' });
  inventory = await loadInventory(lab.writeInventory());
});
test.after(async () => {
  await lab?.stop();
});

async function converge(tasks: () => Task[], check = false, warnings: string[] = []): Promise<RunReport> {
  const role: Role = { name: 'blocks', appliesTo: () => true, tasks };
  return runSite({
    inventory,
    roles: [role],
    options: { check, diff: true, verbosity: 0, forks: 10 },
    connect: (h) => createTransport(h, { knownHostsFile: lab.knownHostsFile }),
    log: { ...quiet, warn: (m: string) => warnings.push(m) },
  });
}

function changedCounts(r: RunReport) {
  return r.hosts.map((h) => {
    assert.is(h.counts.failed + h.counts.unreachable, 0, JSON.stringify(h.tasks.filter((t) => t.outcome === 'failed')));
    return h.counts.changed;
  });
}

/** check → changed & host untouched; run → changed; rerun → ok; all on 3 hosts at once */
async function cycle(tasks: () => Task[], expectChanged: number, untouched: (host: string) => Promise<void>) {
  const check = await converge(tasks, true);
  assert.equal(changedCounts(check), [expectChanged, expectChanged, expectChanged], 'check reports changes');
  for (const h of lab.hosts) await untouched(h.name);
  const first = await converge(tasks);
  assert.equal(changedCounts(first), [expectChanged, expectChanged, expectChanged], 'first run changes');
  const second = await converge(tasks);
  assert.equal(changedCounts(second), [0, 0, 0], 'second run is a no-op');
  for (const h of second.hosts) assert.is(h.roundTripsByRole.blocks, 1, 'one round trip for the whole role');
}

const sh = async (host: string, cmd: string) => (await lab.sh(host, cmd)).stdout.trim();

test('file, directory, line and block, absent', async () => {
  await lab.sh(lab.hosts[0].name, 'true');
  for (const h of lab.hosts) await lab.sh(h.name, 'echo old > /etc/cs-gone');
  const tasks = () => [
    directory({ path: '/etc/cs-test', mode: '0750', owner: 'root', group: 'adm' }),
    file({ path: '/etc/cs-test/app.conf', content: 'port = 8080\n', mode: '0640', group: 'adm' }),
    lineInFile({ path: '/etc/cs-test/other.conf', name: 'listen line', line: 'listen = 0.0.0.0', regexp: /^listen\s*=/, create: true }),
    blockInFile({ path: '/etc/hosts', name: 'hosts block', marker: 'test', block: '10.9.9.9 example.internal' }),
    absent('/etc/cs-gone'),
  ];
  await cycle(tasks, 5, async (h) => {
    assert.is(await sh(h, 'test -e /etc/cs-test && echo yes || echo no'), 'no');
    assert.is(await sh(h, 'cat /etc/cs-gone'), 'old');
    assert.is(await sh(h, 'grep -c example.internal /etc/hosts || true'), '0');
  });
  const h = lab.hosts[1].name;
  assert.is(await sh(h, 'stat -c "%a %U %G" /etc/cs-test /etc/cs-test/app.conf'), '750 root adm\n640 root adm');
  assert.is(await sh(h, 'cat /etc/cs-test/app.conf'), 'port = 8080');
  assert.is(await sh(h, 'cat /etc/cs-test/other.conf'), 'listen = 0.0.0.0');
  assert.match(await sh(h, 'cat /etc/hosts'), /# BEGIN clusterseed test\n10\.9\.9\.9 example\.internal\n# END clusterseed test/);
});

test('apt packages present and absent, then a systemd unit enabled and started', async () => {
  const tasks = () => [packages({ present: ['tree'], absent: ['nano'] })];
  for (const h of lab.hosts) await lab.sh(h.name, 'dpkg -s nano >/dev/null 2>&1 || true');
  await cycle(tasks, 1, async (h) => {
    assert.is(await sh(h, 'command -v tree || echo none'), 'none');
  });
  assert.match(await sh(lab.hosts[2].name, 'command -v tree'), /\/usr\/bin\/tree/);

  const unit = '[Unit]\nDescription=clusterseed test\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n';
  const svc = () => [
    file({ path: '/etc/systemd/system/cs-sleep.service', content: unit }),
    service({ name: 'cs-sleep.service', enabled: true, state: 'started', daemonReload: true }),
  ];
  await cycle(svc, 2, async (h) => {
    assert.is(await sh(h, 'systemctl is-active cs-sleep.service || true'), 'inactive');
  });
  assert.is(await sh(lab.hosts[0].name, 'systemctl is-active cs-sleep.service; systemctl is-enabled cs-sleep.service'), 'active\nenabled');
});

test('sysctl: persisted and live (net.* in containers)', async () => {
  const tasks = () => [
    sysctl({ file: '/etc/sysctl.d/60-cs-test.conf', values: { 'net.ipv4.conf.all.log_martians': 1, 'net.ipv4.tcp_syncookies': 1 } }),
  ];
  for (const h of lab.hosts) await lab.sh(h.name, 'sysctl -w net.ipv4.conf.all.log_martians=0 net.ipv4.tcp_syncookies=0 >/dev/null');
  await cycle(tasks, 1, async (h) => {
    assert.is(await sh(h, 'sysctl -n net.ipv4.conf.all.log_martians'), '0');
  });
  assert.is(await sh(lab.hosts[0].name, 'sysctl -n net.ipv4.conf.all.log_martians net.ipv4.tcp_syncookies'), '1\n1');
  assert.match(await sh(lab.hosts[0].name, 'cat /etc/sysctl.d/60-cs-test.conf'), /net\.ipv4\.tcp_syncookies = 1/);
});

test('sysctl: a non-network key in a container is persisted and reported, not faked', async () => {
  const warnings: string[] = [];
  const tasks = () => [sysctl({ file: '/etc/sysctl.d/61-cs-vm.conf', values: { 'vm.swappiness': 7 } })];
  const first = await converge(tasks, false, warnings);
  assert.equal(changedCounts(first), [1, 1, 1]);
  assert.ok(
    warnings.some((w) => /vm\.swappiness.*cannot be applied inside a .*container/.test(w)),
    warnings.join('\n'),
  );
  const second = await converge(tasks, false, warnings);
  assert.equal(changedCounts(second), [0, 0, 0]);
});

test('kernel module: persisted; a built-in or loaded module counts as loaded', async () => {
  const tasks = () => [kernelModule({ name: 'br_netfilter', presentIf: '/proc/sys/net/bridge' })];
  await cycle(tasks, 1, async (h) => {
    assert.is(await sh(h, 'test -e /etc/modules-load.d/br_netfilter.conf && echo yes || echo no'), 'no');
  });
  assert.is(await sh(lab.hosts[0].name, 'cat /etc/modules-load.d/br_netfilter.conf'), 'br_netfilter');
});

test('command guarded by a state probe, with a secret on stdin', async () => {
  const tasks = () => [
    command({
      name: 'write marker',
      probe: 'test -s /etc/cs-marker',
      run: 'umask 077; cat > /etc/cs-marker',
      stdin: () => 'secret-value\n',
    }),
  ];
  await cycle(tasks, 1, async (h) => {
    assert.is(await sh(h, 'test -e /etc/cs-marker && echo yes || echo no'), 'no');
  });
  assert.is(await sh(lab.hosts[0].name, 'cat /etc/cs-marker; stat -c %a /etc/cs-marker'), 'secret-value\n600');
});

test.run();
