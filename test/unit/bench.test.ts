// The benchmark's pure parts: statistics, the table, Ansible's inventory/config and recap, parity.
// Part of npm test (test/unit).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { median, ratio } from '../../bench/stats.ts';
import { comparisonRow, formatMarkdown, formatText, met } from '../../bench/table.ts';
import { ansibleConfig, ansibleInventory, parseRecap } from '../../bench/ansible.ts';
import { compareStates, MANAGED_FILES, NOT_COMPARED } from '../../bench/parity.ts';
import { childrenCpuSeconds, hostsCpuSeconds } from '../../bench/cpu.ts';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('median of odd and even counts, NaN for none; ratio guards', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.is(ratio(1, 4), 0.25);
  assert.ok(Number.isNaN(ratio(1, 0)));
  assert.ok(Number.isNaN(ratio(NaN, 2)));
});

test('a comparison row: medians, ratio clusterseed / Ansible, goal met or not', () => {
  const row = comparisonRow('no-op rerun, 3 hosts', { seconds: [2, 3, 2.5], failed: 0 }, { seconds: [50, 40, 60], failed: 1 }, 0.1);
  assert.is(row.clusterseed, '2.50 s (n=3)');
  assert.is(row.ansible, '50.0 s (n=3, 1 failed)');
  assert.is(row.ratio, '0.050');
  assert.is(met(row.goal), 'yes');
  const slow = comparisonRow('first converge, 3 hosts', { seconds: [80], failed: 0 }, { seconds: [100], failed: 0 }, 0.7);
  assert.is(met(slow.goal), 'NO');
  const none = comparisonRow('x', { seconds: [], failed: 2 }, { seconds: [1], failed: 0 }, 0.7);
  assert.is(none.clusterseed, 'failed (2)');
  assert.is(met(none.goal), 'not measured');
});

test('the table as aligned text and as Markdown', () => {
  const rows = [comparisonRow('no-op rerun, 3 hosts', { seconds: [2], failed: 0 }, { seconds: [40], failed: 0 }, 0.1)];
  const text = formatText(rows).split('\n');
  assert.is(text.length, 3);
  assert.ok(text[0].indexOf('Ansible (median)') === text[2].indexOf('40.0 s'), 'columns aligned');
  const md = formatMarkdown(rows).split('\n');
  assert.is(md[1], '| --- | --- | --- | --- | --- | --- |');
  assert.is(md[2], '| no-op rerun, 3 hosts | 2.00 s (n=1) | 40.0 s (n=1) | 0.050 | ≤ 0.1 × Ansible | yes |');
});

test('Ansible inventory: first host server, the rest agents, the lab key and known_hosts', () => {
  const lab = {
    hosts: [
      { name: 'h1', address: '172.30.5.2', port: 22, netns: 'a' },
      { name: 'h2', address: '172.30.5.3', port: 22, netns: 'b' },
      { name: 'h3', address: '172.30.5.4', port: 2222, netns: 'c' },
    ],
    keyPath: '/tmp/lab/id_ed25519',
    knownHostsFile: '/tmp/lab/known_hosts',
  };
  const ini = ansibleInventory(lab, 'ssh-ed25519 AAAAkey test@lab');
  assert.match(ini, /\[servers\]\nh1 ansible_host=172\.30\.5\.2 ansible_port=22\n/);
  assert.match(ini, /\[agents\]\nh2 ansible_host=172\.30\.5\.3 ansible_port=22\nh3 ansible_host=172\.30\.5\.4 ansible_port=2222\n/);
  assert.match(ini, /ansible_ssh_common_args="-o UserKnownHostsFile=\/tmp\/lab\/known_hosts -o StrictHostKeyChecking=yes"/);
  assert.match(ini, /admin_pubkey="ssh-ed25519 AAAAkey test@lab"/);
});

test('ansible.cfg turns on the usual speed-ups', () => {
  const cfg = ansibleConfig({ forks: 30, factCache: '/w/facts', controlDir: '/w/cp', rolesPath: '/r' });
  for (const line of [
    'forks = 30',
    'strategy = linear',
    'gathering = smart',
    'fact_caching = jsonfile',
    'pipelining = True',
    'ssh_args = -o ControlMaster=auto -o ControlPersist=60s',
    'control_path_dir = /w/cp',
  ]) {
    assert.ok(cfg.split('\n').includes(line), line);
  }
});

test('PLAY RECAP lines are read; text before the recap is ignored', () => {
  const out = [
    'TASK [base : apt packages] ***',
    'h1 : ok=1 changed=1 unreachable=0 failed=0 (not a recap line)',
    'PLAY RECAP *********************************************************************',
    'h1                         : ok=40   changed=0    unreachable=0    failed=0    skipped=6    rescued=0    ignored=0',
    'h2                         : ok=12   changed=3    unreachable=0    failed=1    skipped=2    rescued=0    ignored=0',
    '',
  ].join('\n');
  assert.equal(parseRecap(out), [
    { host: 'h1', ok: 40, changed: 0, unreachable: 0, failed: 0 },
    { host: 'h2', ok: 12, changed: 3, unreachable: 0, failed: 1 },
  ]);
  assert.equal(parseRecap('no recap at all'), []);
});

test('compareStates names what differs, including what only one side has', () => {
  const a = new Map([
    ['/etc/hostname', '644 root:root\nsha256 x\n'],
    ['/etc/hosts', 'same\n'],
  ]);
  const b = new Map([
    ['/etc/hostname', '600 root:root\nsha256 x\n'],
    ['/etc/hosts', 'same\n'],
    ['/etc/extra', 'absent\n'],
  ]);
  assert.equal(compareStates(a, b), ['/etc/hostname', '/etc/extra']);
});

test('CPU of waited-for children is counted; unknown hosts use none', () => {
  const before = childrenCpuSeconds();
  spawnSync('sh', ['-c', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done']);
  assert.ok(childrenCpuSeconds() - before >= 0.05, 'a busy child shows up');
  assert.is(hostsCpuSeconds(['cs-no-such-lab-h1']), 0);
});

/** Absolute paths in a module's exports: strings, and lists of paths or of [path, ...] tuples. */
function exportedPaths(mod: Record<string, unknown>): string[] {
  const isPath = (v: unknown): v is string => typeof v === 'string' && /^\/(?:etc|var|boot|home|usr|run|opt|srv)\/[^\s$`]+$/.test(v);
  const out: string[] = [];
  for (const value of Object.values(mod)) {
    if (isPath(value)) out.push(value);
    else if (Array.isArray(value))
      for (const item of value) {
        const first: unknown = Array.isArray(item) ? item[0] : item;
        if (isPath(first)) out.push(first);
      }
  }
  return out;
}

test('every path base, harden and k3s-prereq export is compared by the bench, or NOT_COMPARED says why', async () => {
  const files = [
    ...['roles/base', 'roles/harden', 'roles/k3s-prereq'].flatMap((d) =>
      readdirSync(path.join(ROOT, d))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => path.join(ROOT, d, f)),
    ),
    // k3s-prereq's protect-kernel-defaults file lives with the other K3s knowledge
    path.join(ROOT, 'lib/k3s/kernel-defaults.ts'),
  ];
  const paths = new Set<string>();
  for (const file of files) for (const p of exportedPaths((await import(file)) as Record<string, unknown>)) paths.add(p);
  assert.ok(paths.size >= 25, `only ${paths.size} exported paths found: the scan is broken`);
  const missing = [...paths].filter((p) => !MANAGED_FILES.includes(p) && !(p in NOT_COMPARED));
  assert.equal(missing, [], 'exported by a role, compared by neither MANAGED_FILES nor listed in NOT_COMPARED');
  const stale = Object.keys(NOT_COMPARED).filter((p) => !paths.has(p) || MANAGED_FILES.includes(p));
  assert.equal(stale, [], 'NOT_COMPARED names a path no role exports, or one that is compared after all');
  assert.equal(MANAGED_FILES.length, new Set(MANAGED_FILES).size, 'MANAGED_FILES lists a path twice');
});

test.run();
