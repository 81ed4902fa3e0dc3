// The restricted API rule of issue 18 (test/unit/harden-firewall.test.ts) loaded by nft with the
// node IPs in its set, in a throwaway network namespace (test/system: needs root, unshare and nftables).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderRuleset } from '../../roles/harden/firewall.ts';
import { cluster, firewallModelOf, NODE_IP_HOSTS } from '../support/harden-firewall.ts';

const modelFor = (name: string, over: Record<string, unknown> = {}, c = cluster()) => firewallModelOf(NODE_IP_HOSTS, name, over, c);

test('api_allowed_from: nft loads the restricted API rule with the node IPs in its set (throwaway netns)', async () => {
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) throw new Error('this test needs root and unshare(1)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-fw-'));
  try {
    const file = path.join(dir, 's1.nft');
    writeFileSync(file, renderRuleset(await modelFor('s1', { firewall: { api_allowed_from: ['192.168.7.0/24'] } })));
    // only this process's private network namespace is touched; the set lookup answers by nft itself
    const script = `nft -f ${file} && nft list table inet clusterseed`;
    const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const line = r.stdout.split('\n').find((l) => l.includes('dport 6443'))!;
    assert.match(line, /10\.10\.0\.20/);
    assert.match(line, /192\.168\.7\.0\/24/);
    // an admin network that holds node addresses overlaps them in one set: nft merges, not refuses
    writeFileSync(file, renderRuleset(await modelFor('s1', { firewall: { api_allowed_from: ['192.168.1.0/24'] } })));
    const merged = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
    assert.is(merged.status, 0, merged.stderr);
    assert.match(merged.stdout, /ip saddr \{ [^}]*192\.168\.1\.0\/24[^}]*\} tcp dport 6443 accept/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
