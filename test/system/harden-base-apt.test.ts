// The base role's unattended-upgrades files read by this machine's apt-config (test/system: needs
// apt). The pure parts: test/unit/harden-base.test.ts.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deepMerge } from '../../lib/runner/merge.ts';
import { baseDefaults } from '../../roles/base/index.ts';
import { readUnattended, renderAutoUpgrades, renderUnattendedUpgrades } from '../../roles/base/system.ts';
import { VarsReader } from '../../lib/settings/index.ts';

const reader = (over: Record<string, unknown> = {}) =>
  new VarsReader('/inv/inventory.yaml: host n1', deepMerge(baseDefaults, over), 'vars.base');

test('unattended-upgrades: security origins per distribution, reboot off, apt-config accepts the files', () => {
  const debian = readUnattended(reader(), 'debian');
  assert.ok(debian.origins.every((o) => /label=Debian-Security/.test(o)));
  const text = renderUnattendedUpgrades(debian, 'debian');
  assert.match(text, /"origin=Debian,codename=\$\{distro_codename\}-security,label=Debian-Security";/);
  assert.match(text, /Automatic-Reboot "false"/);
  assert.match(renderAutoUpgrades(debian), /APT::Periodic::Unattended-Upgrade "1";/);
  assert.match(renderAutoUpgrades({ ...debian, enabled: false }), /APT::Periodic::Unattended-Upgrade "0";/);
  const ubuntu = readUnattended(
    reader({ unattended_upgrades: { extra_origins: ['origin=Mine'], blacklist: ['^k3s'], automatic_reboot: true } }),
    'ubuntu',
  );
  assert.ok(ubuntu.origins.includes('origin=${distro_id},archive=${distro_codename}-security'));
  assert.is(ubuntu.origins[ubuntu.origins.length - 1], 'origin=Mine');
  const ubuntuText = renderUnattendedUpgrades(ubuntu, 'ubuntu');
  assert.match(ubuntuText, /Package-Blacklist \{\n {8}"\^k3s";\n\};/);
  // apt's own parser must accept what we write (a broken file breaks every apt command)
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-apt-'));
  try {
    for (const [name, content] of [
      ['20auto-upgrades', renderAutoUpgrades(debian)],
      ['50unattended-upgrades', ubuntuText],
    ]) {
      const file = path.join(dir, name);
      writeFileSync(file, content);
      const r = spawnSync('apt-config', ['-c', file, 'dump'], { encoding: 'utf8' });
      assert.is(r.status, 0, r.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(
    () => readUnattended(reader(), 'gentoo'),
    /vars\.base\.unattended_upgrades\.origins\.gentoo: expected the Origins-Pattern entries for gentoo/,
  );
  assert.throws(
    () => readUnattended(reader({ unattended_upgrades: { extra_origins: ['a";b'] } }), 'debian'),
    /extra_origins\[0\]: expected an Origins-Pattern entry/,
  );
  assert.equal(readUnattended(reader({ unattended_upgrades: { enabled: false } }), 'gentoo').origins, [], 'disabled: no origins needed');
});

test.run();
