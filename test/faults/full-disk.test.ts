// Fault: /etc/ssh is full (a tiny tmpfs mounted over it inside the host, holding a copy of its
// files, then filled) while harden installs a changed sshd configuration. Before issue 20 the run
// printed "changed", reloaded, "proved" the OLD config and succeeded, leaving an empty .cs-new file.
// Now: a clean failure (exit 2) naming the failed write, the old config still what sshd uses, no
// temp file in /etc/ssh and no candidate in /run; after freeing space a rerun converges. Also: a
// rollback (sshd and firewall) leaves no rollback files on the host.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { loadInventory } from '../../lib/inventory/load.ts';
import { exitCode, runSite } from '../../lib/runner/run-site.ts';
import type { Inventory } from '../../lib/inventory/model.ts';
import type { Role, RunReport } from '../../lib/runner/types.ts';
import { createTransport } from '../../lib/ssh/index.ts';
import { hardenRole } from '../../roles/harden/index.ts';
import { startLab, type TestLab } from '../harness/hosts.ts';

const DROPIN = '/etc/ssh/sshd_config.d/00-clusterseed-harden.conf';
const quiet = { info() {}, verbose() {}, debug() {}, warn() {} };
let lab: TestLab;
let host: string;

test.before(async () => {
  lab = await startLab({ count: 1, prefix: 'fd' });
  host = lab.hosts[0].name;
});
test.after(async () => {
  await lab?.stop();
});

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** harden without what needs apt (the lab's admin is already in `sudo`), to keep the file fast */
const LEAN = { apparmor: { enabled: false }, auditd: { enabled: false }, firewall: { enabled: false } };

function inventory(harden: Record<string, unknown> = {}): Promise<Inventory> {
  return loadInventory(lab.writeInventory({ extra: { vars: { harden: { ...LEAN, ...harden } } } }));
}

function converge(inv: Inventory, roles: Role[] = [hardenRole]): Promise<RunReport> {
  return withTimeout(
    runSite({
      inventory: inv,
      roles,
      options: { check: false, diff: false, verbosity: 0, forks: 1 },
      connect: (h) => createTransport(h, { knownHostsFile: lab.knownHostsFile }),
      log: quiet,
    }),
    240_000,
    'converge',
  );
}

async function sh(cmd: string, timeoutMs = 30_000): Promise<string> {
  const r = await lab.sh(host, cmd, { timeoutMs });
  if (r.code !== 0) throw new Error(`${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

const failures = (r: RunReport) => r.hosts.flatMap((h) => h.tasks.filter((t) => t.outcome === 'failed' || t.outcome === 'unreachable'));
const changed = (r: RunReport) => r.hosts.flatMap((h) => h.tasks.filter((t) => t.outcome === 'changed').map((t) => t.task));
/** temp files clusterseed could leave: beside the sshd files, the moduli, the candidate dirs */
const leftovers = () =>
  sh(
    'find /etc/ssh /run -maxdepth 2 \\( -name "*.cs-*" -o -name ".*.cs*" -o -name "*cs-new*" -o -name "clusterseed-sshd-candidate*" \\) -print',
  );
const effective = (key: string) => sh(`sshd -T -C user=admin,host=127.0.0.1,addr=127.0.0.1 | grep -i '^${key} '`);

test('the hosts converge with the default sshd settings', async () => {
  const first = await converge(await inventory());
  assert.equal(failures(first), []);
  assert.ok(changed(first).includes('sshd hardened configuration'));
  assert.is(await effective('maxauthtries'), 'maxauthtries 3');
});

test('/etc/ssh full while a changed sshd config is installed: exit 2 naming the write, old config live, nothing left; rerun after freeing space converges', async () => {
  const before = await sh(`sha256sum ${DROPIN} /etc/ssh/sshd_config`);
  // a tmpfs over /etc/ssh with a copy of its files, then filled to the last byte
  await sh(
    'cp -a /etc/ssh /root/ssh-copy && mount -t tmpfs -o size=2m,mode=0755 cs-full /etc/ssh && cp -a /root/ssh-copy/. /etc/ssh/ && rm -rf /root/ssh-copy',
  );
  await sh(
    'dd if=/dev/zero of=/etc/ssh/.filler bs=4k 2>/dev/null || true; dd if=/dev/zero of=/etc/ssh/.filler2 bs=1 2>/dev/null || true',
    60_000,
  );
  assert.is(await sh("df --output=avail -B1 /etc/ssh | tail -1 | tr -d ' '"), '0', '/etc/ssh is full');
  try {
    const inv = await inventory({ sshd: { settings: { MaxAuthTries: 2 } } });
    const report = await converge(inv, [hardenRole]);
    assert.is(exitCode(report), 2);
    const failed = failures(report);
    assert.is(failed.length, 1, JSON.stringify(failed));
    assert.is(failed[0].task, 'sshd hardened configuration');
    assert.match(
      failed[0].message!,
      /install \/etc\/ssh\/sshd_config\.d\/00-clusterseed-harden\.conf failed .*writing the new \/etc\/ssh\/sshd_config\.d\/00-clusterseed-harden\.conf failed \(disk full\?\); nothing was installed/s,
    );
    assert.not.ok(changed(report).includes('sshd hardened configuration'), 'not reported changed');
    assert.not.ok(changed(report).includes('handler: reload sshd'), 'sshd not reloaded');
    // the old configuration is what sshd uses, its files are unchanged, nothing is left behind
    assert.is(await effective('maxauthtries'), 'maxauthtries 3');
    assert.is(await sh(`sha256sum ${DROPIN} /etc/ssh/sshd_config`), before);
    assert.is(await leftovers(), '', 'no temp file in /etc/ssh, no candidate in /run');
    assert.is(
      await sh('ls -A /var/lib/clusterseed/sshd-rollback 2>/dev/null || echo gone'),
      'gone',
      'no rollback copy: nothing was installed',
    );
    // a second try fails the same way (it does not "succeed" on an unchanged file)
    assert.is(exitCode(await converge(inv, [hardenRole])), 2);
    assert.is(await leftovers(), '');
    // an upload (what the file block uses) into the full directory fails too, and leaves nothing
    const conn = createTransport(inv.hosts[0], { knownHostsFile: lab.knownHostsFile });
    try {
      const err = await withTimeout(
        conn.upload('/etc/ssh/cs-upload-test', 'x'.repeat(64 * 1024), { mode: 0o644 }).then(
          () => undefined,
          (e: Error) => e,
        ),
        60_000,
        'upload',
      );
      assert.ok(err, 'the upload into a full /etc/ssh must fail');
      assert.match(err!.message, /cs-upload-test.*(No space left|does not match what was sent)/s);
    } finally {
      await conn.close();
    }
    assert.is(await sh('ls -A /etc/ssh | grep cs-upload-test || echo none'), 'none');

    // space freed: the rerun installs, reloads and proves it; then nothing more to do
    await sh('rm -f /etc/ssh/.filler /etc/ssh/.filler2');
    const rerun = await converge(inv, [hardenRole]);
    assert.equal(failures(rerun), []);
    assert.ok(changed(rerun).includes('sshd hardened configuration'), changed(rerun).join(', '));
    assert.ok(changed(rerun).includes('handler: reload sshd'));
    assert.is(await effective('maxauthtries'), 'maxauthtries 2');
    assert.is(await leftovers(), '');
    const again = await converge(inv, [hardenRole]);
    assert.equal(failures(again), []);
    assert.equal(changed(again), []);
  } finally {
    // back to the real /etc/ssh (which holds the state before the full-disk runs)
    await sh(
      'cp -a /etc/ssh /root/ssh-now && umount /etc/ssh && cp -a /root/ssh-now/. /etc/ssh/ && rm -rf /root/ssh-now && rm -f /etc/ssh/.filler /etc/ssh/.filler2',
    );
  }
});

test('an sshd rollback and a firewall rollback leave no rollback files on the host', async () => {
  const lockedOut = await converge(await inventory({ sshd: { settings: { MaxAuthTries: 2, AllowUsers: 'nobody' } } }), [hardenRole]);
  assert.is(exitCode(lockedOut), 2);
  assert.match(failures(lockedOut)[0]?.message ?? '', /the previous sshd configuration was restored/);
  assert.is(await sh('ls -A /var/lib/clusterseed/sshd-rollback 2>/dev/null || echo gone'), 'gone');

  // the firewall on first (installs nftables), then a ruleset that shuts SSH out
  const withFirewall = await converge(await inventory({ sshd: { settings: { MaxAuthTries: 2 } }, firewall: { enabled: true } }), [
    hardenRole,
  ]);
  assert.equal(failures(withFirewall), []);
  const wrongPort = await converge(
    await inventory({ sshd: { settings: { MaxAuthTries: 2 } }, firewall: { enabled: true, ssh_port: 2222 } }),
    [hardenRole],
  );
  assert.is(exitCode(wrongPort), 2);
  assert.match(failures(wrongPort)[0]?.message ?? '', /the previous ruleset was restored/);
  assert.is(await sh('ls -A /var/lib/clusterseed | grep -E "firewall-rollback|firewall.nft.prev" || echo none'), 'none');
  assert.is(await sh('ls -A /etc/clusterseed | grep cs-candidate || echo none'), 'none');

  const back = await converge(await inventory({ sshd: { settings: { MaxAuthTries: 2 } }, firewall: { enabled: true } }), [hardenRole]);
  assert.equal(failures(back), []);
  assert.equal(changed(back), []);
});

test.run();
