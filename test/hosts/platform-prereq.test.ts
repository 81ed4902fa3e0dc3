// Role platform-prereq on a real host (nspawn container with systemd): Longhorn enabled in the
// inventory -> open-iscsi installed from Debian's mirror and iscsid enabled and running; --check
// first changes nothing, the second run changes nothing (issue 15: host prerequisites).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { RunReport } from '../../lib/runner/types.ts';
import { runSite } from '../../lib/runner/run-site.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { loadInventory } from '../../lib/inventory/load.ts';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { platformPrereqRole } from '../../roles/platform-prereq/index.ts';

let lab: TestLab;
let inventory: Inventory;
const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };

test.before(async () => {
  lab = await startLab({ count: 1, prefix: 'pp' });
  const file = lab.writeInventory({ extra: { gitops: { components: { longhorn: { enabled: true, replicas: 1 } } } } });
  inventory = await loadInventory(file);
});
test.after(async () => {
  await lab?.stop();
});

const converge = (check = false): Promise<RunReport> =>
  runSite({
    inventory,
    roles: [platformPrereqRole],
    options: { check, diff: false, verbosity: 0, forks: 10 },
    connect: (h) => createTransport(h, { knownHostsFile: lab.knownHostsFile }),
    log: quiet,
  });
const failures = (r: RunReport) =>
  r.hosts.flatMap((h) =>
    h.tasks.filter((t) => t.outcome === 'failed' || t.outcome === 'unreachable').map((t) => `${t.task}: ${t.message}`),
  );
const sh = async (cmd: string) => (await lab.sh(lab.hosts[0].name, cmd)).stdout.trim();

test('open-iscsi and a running iscsid where Longhorn will run; --check first, then converged, then a no-op', async () => {
  const check = await converge(true);
  assert.equal(failures(check), []);
  assert.ok(check.hosts[0].counts.changed >= 1, JSON.stringify(check.hosts[0].tasks));
  assert.not.match(
    await sh(`dpkg-query -W -f='\${Status}' open-iscsi 2>/dev/null || true`),
    /install ok installed/,
    'check installed nothing',
  );

  const first = await converge();
  assert.equal(failures(first), []);
  assert.match(await sh(`dpkg-query -W -f='\${Status}' open-iscsi`), /install ok installed/);
  assert.is(await sh('systemctl is-enabled iscsid.service'), 'enabled');
  assert.is(await sh('cat /etc/modules-load.d/iscsi_tcp.conf'), 'iscsi_tcp');
  // this machine's kernel has no iSCSI transport for the container: iscsid cannot run, and the
  // role says why instead of restarting a daemon that exits at once on every run
  const running = first.hosts[0].tasks.find((t) => t.task === 'iscsid running (Longhorn)')!;
  if ((await sh('test -d /sys/module/scsi_transport_iscsi && echo yes || echo no')) === 'yes') {
    assert.is(await sh('systemctl is-active iscsid.service'), 'active');
  } else {
    assert.is(running.outcome, 'skipped');
    assert.match(running.message ?? '', /no iSCSI transport/);
  }

  const second = await converge();
  assert.equal(failures(second), []);
  assert.is(second.hosts[0].counts.changed, 0, JSON.stringify(second.hosts[0].tasks.filter((t) => t.outcome === 'changed')));
});

test.run();
