// The whole site on bare hosts: base, harden, K3s (stand-in release from a loopback mirror),
// kubeconfig, publish, Argo CD bootstrap. Converges, the second run changes nothing (checked by
// scripts/idempotency.mjs), and --check afterwards reports no drift (exit 0).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';

const VERSION = 'v1.31.4+k3s1';
let lab: TestLab;
let mirror: K3sMirror;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-site-full-'));

test.before(async () => {
  [lab, mirror] = await Promise.all([startLab({ count: 2, prefix: 'full' }), startK3sMirror({ versions: [VERSION] })]);
});
test.after(async () => {
  await Promise.all([lab?.stop(), mirror?.close()]);
});

function run(script: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['zx', script, ...args], { timeout: 900_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

test('bare hosts to K3s + published repo + Argo CD bootstrap; second run changes nothing; no drift', async () => {
  const [server, agent] = lab.hosts.map((h) => h.name);
  const bare = path.join(tmp, 'gitops.git');
  execFileSync('git', ['init', '-q', '--bare', bare]);
  const inv = lab.writeInventory({ servers: [server], agents: [agent] });
  const args = ['-i', inv, '--k3s-mirror', mirror.url, '--remote', bare];

  const twice = await run('scripts/idempotency.mjs', args);
  assert.is(twice.code, 0, twice.out.slice(-6000));
  assert.match(twice.out, /IDEMPOTENT: the second run changed nothing on 2 host\(s\) and made no commit/);

  // the hosts really are hardened K3s nodes now
  assert.is((await lab.sh(server, 'systemctl is-active k3s')).stdout.trim(), 'active');
  assert.is((await lab.sh(agent, 'systemctl is-active k3s-agent')).stdout.trim(), 'active');
  assert.match((await lab.sh(server, 'sshd -T | grep -i "^permitrootlogin"')).stdout, /permitrootlogin no/i);
  assert.match((await lab.sh(server, 'nft list table inet clusterseed')).stdout, /6443/);
  assert.match((await lab.sh(server, 'ls /var/lib/rancher/k3s/server/manifests')).stdout, /clusterseed-argocd\.yaml/);

  const json = path.join(tmp, 'check.json');
  const check = await run('scripts/site.mjs', [...args, '--check', '--json', json]);
  assert.is(check.code, 0, check.out.slice(-4000));
  const report = JSON.parse(readFileSync(json, 'utf8'));
  for (const h of report.hosts) {
    assert.is(h.counts.changed, 0);
    // a no-op run costs at most one SSH round trip per role and host: the server's own node query
    // rides in its k3s-server probe batch (an agent's node is looked up through the server's
    // connection, one more round trip there, outside the server's role records)
    for (const [role, n] of Object.entries(h.roundTripsByRole as Record<string, number>)) {
      assert.ok(n <= 1, `${h.host} ${role}: ${n} round trips (${JSON.stringify(h.roundTripsByRole)})`);
    }
    assert.is(h.roundTripsByRole[h.host === server ? 'k3s-server' : 'k3s-agent'], 1);
  }
  assert.is(report.gitops.unchanged, true);
});

test.run();
