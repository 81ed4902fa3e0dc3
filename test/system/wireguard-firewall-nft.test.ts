// The host firewall rulesets of hosts on the site link (test/unit/wireguard-firewall.test.ts) loaded
// by nft in a throwaway network namespace (test/system: needs root, unshare and nftables).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rulesetOf } from '../support/site-link-firewall.ts';

test("nft loads the rulesets of the hub, a spoke and another cluster's server (throwaway netns)", async () => {
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) throw new Error('this test needs root and unshare(1)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-wg-fw-'));
  try {
    for (const [name, vars] of [
      ['gw', {}],
      ['p1', {}],
      ['e1', { firewall: { api_allowed_from: ['198.51.100.0/24'] } }],
    ] as const) {
      const file = path.join(dir, `${name}.nft`);
      writeFileSync(file, await rulesetOf(name, vars));
      const r = spawnSync('unshare', ['-n', 'sh', '-c', `nft -f ${file} && nft list table inet clusterseed`], { encoding: 'utf8' });
      assert.is(r.status, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, /udp dport 51820 accept/, name);
      if (name === 'gw') assert.match(r.stdout, /iifname "cs-link" oifname "cs-link" accept/);
      else assert.match(r.stdout, /iifname "cs-link" ip saddr (\{[^}]+\}|[\d.]+) tcp dport 10250 accept/, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
