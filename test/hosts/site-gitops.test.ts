// The GitOps half of site.mjs on a real host: render → publish → argocd-bootstrap files on the
// first server; a rerun makes no commit and changes nothing; --check afterwards reports no drift.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { GitHubServer } from '../github-server/server.ts';

let lab: TestLab;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-site-gitops-'));
const MANIFESTS = '/var/lib/rancher/k3s/server/manifests';

test.before(async () => {
  lab = await startLab({ count: 1, prefix: 'sg' });
});
test.after(async () => {
  await lab?.stop();
});

function site(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['zx', 'scripts/site.mjs', ...args], { timeout: 180_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

const head = (bare: string) => {
  try {
    return execFileSync('git', ['-C', bare, 'rev-parse', '--verify', '-q', 'refs/heads/main'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
};

test('bootstrap files land on the first server; the repo gets one commit; rerun and --check are no-ops', async () => {
  const host = lab.hosts[0].name;
  const bare = path.join(tmp, 'remote.git');
  execFileSync('git', ['init', '-q', '--bare', bare]);
  const inv = lab.writeInventory({ servers: [host], agents: [] });
  const args = ['-i', inv, '--remote', bare, '--tags', 'argocd-bootstrap'];

  const check = await site([...args, '--check']);
  assert.is(check.code, 3, check.out);
  assert.match(check.out, /check mode: nothing was pushed/);
  assert.match(check.out, /would change: \[argocd-bootstrap\] bootstrap clusterseed-argocd\.yaml/);
  assert.is((await lab.sh(host, `ls ${MANIFESTS} 2>/dev/null | wc -l`)).stdout.trim(), '0', 'check wrote nothing');
  assert.is(head(bare), '', 'check pushed nothing');

  const json = path.join(tmp, 'first.json');
  const first = await site([...args, '--json', json]);
  assert.is(first.code, 0, first.out);
  const commit = head(bare);
  assert.ok(commit, 'one commit pushed');
  assert.is(execFileSync('git', ['-C', bare, 'rev-list', '--count', 'main'], { encoding: 'utf8' }).trim(), '1');

  const listing = (await lab.sh(host, `stat -c '%n %a' ${MANIFESTS}/*`)).stdout.trim().split('\n').sort();
  assert.equal(listing, [
    // the PriorityClasses Argo CD's pods need, applied first (K3s reads the directory in name order)
    `${MANIFESTS}/clusterseed-00-priority-classes.yaml 600`,
    `${MANIFESTS}/clusterseed-argocd-root.yaml 600`,
    `${MANIFESTS}/clusterseed-argocd.yaml 600`,
    `${MANIFESTS}/clusterseed-sealing-key.yaml 600`,
  ]);
  const chart = YAML.parse((await lab.sh(host, `cat ${MANIFESTS}/clusterseed-argocd.yaml`)).stdout);
  assert.is(chart.kind, 'HelmChart');
  // installing: K3s has no Argo CD Application on this host yet, so the HelmChart stays managed
  assert.is(chart.metadata.annotations, undefined);
  const classes = (await lab.sh(host, `cat ${MANIFESTS}/clusterseed-00-priority-classes.yaml`)).stdout;
  assert.match(classes, /name: infrastructure-critical\n/);
  assert.is(chart.spec.chart, 'argo-cd');
  assert.match(chart.spec.version, /^\d+\.\d+\.\d+$/);
  const root = YAML.parse((await lab.sh(host, `cat ${MANIFESTS}/clusterseed-argocd-root.yaml`)).stdout);
  const values = YAML.parse(root.spec.valuesContent);
  assert.is(values.applications.root.source.path, 'bootstrap');
  const sealing = (await lab.sh(host, `cat ${MANIFESTS}/clusterseed-sealing-key.yaml`)).stdout;
  assert.match(sealing, /sealedsecrets\.bitnami\.com\/sealed-secrets-key: active/);

  // the private sealing key is on the host (0600) and nowhere in the output or the report
  const keyLine = sealing.split('\n').find((l) => l.includes('tls.key'))!;
  const keyB64 = keyLine.split(':')[1].trim();
  assert.ok(
    keyB64.length > 100,
    sealing
      .split('\n')
      .map((l) => l.slice(0, 60))
      .join('\n'),
  );
  assert.not.match(first.out, keyB64.slice(0, 60));
  assert.not.match(readFileSync(json, 'utf8'), keyB64.slice(0, 60));

  // the cloned repo equals the rendered tree
  const clone = path.join(tmp, 'clone');
  execFileSync('git', ['clone', '-q', '-b', 'main', bare, clone]);
  assert.ok(readdirSync(clone).includes('bootstrap'));
  assert.ok(readFileSync(path.join(clone, 'bootstrap', 'root.yaml'), 'utf8').includes(bare), 'Argo CD reads the pushed remote');

  const second = await site(args);
  assert.is(second.code, 0, second.out);
  assert.match(second.out, /repository up to date: no commit/);
  assert.match(second.out, /No changes/);
  assert.is(head(bare), commit, 'no new commit');

  const drift = await site([...args, '--check']);
  assert.is(drift.code, 0, drift.out);
});

test('GitHub (through a local stand-in of its REST API): repo created, deploy key registered once, credential installed 0600; token never printed', async () => {
  const host = lab.hosts[0].name;
  const token = 'ghp_' + 'x'.repeat(8) + Date.now().toString(36) + 'TESTTOKEN';
  const server = await GitHubServer.start({ tokens: { [token]: 'alice' } });
  try {
    const inv = lab.writeInventory({
      servers: [host],
      agents: [],
      extra: { gitops: { repo: { github: { owner: 'alice', name: 'homelab-gitops', private: true } } } },
    });
    const env = { GITHUB_TOKEN: token, CLUSTERSEED_GITHUB_API: server.url };
    const args = ['-i', inv, '--tags', 'argocd-bootstrap', '-vv'];
    const first = await site(args, env);
    assert.is(first.code, 0, first.out);
    assert.not.match(first.out, token);
    assert.match(first.out, /github alice\/homelab-gitops/);
    const cred = (
      await lab.sh(host, `stat -c %a ${MANIFESTS}/clusterseed-repo-credentials.yaml; cat ${MANIFESTS}/clusterseed-repo-credentials.yaml`)
    ).stdout;
    assert.match(cred, /^600\n/);
    const docs = YAML.parseAllDocuments(cred.replace(/^600\n/, '')).map((d) => d.toJS());
    const secret = docs.find((d) => d?.kind === 'Secret');
    assert.is(secret.metadata.labels['argocd.argoproj.io/secret-type'], 'repository');
    assert.is(secret.stringData.url, 'git@github.com:alice/homelab-gitops.git');
    assert.match(secret.stringData.sshPrivateKey, /BEGIN OPENSSH PRIVATE KEY/);
    assert.not.match(first.out, secret.stringData.sshPrivateKey.split('\n')[1], 'deploy key not printed');

    const second = await site(args, env);
    assert.is(second.code, 0, second.out);
    assert.match(second.out, /repository up to date: no commit/);
    assert.match(second.out, /No changes/);
    assert.not.match(second.out, token);
  } finally {
    await server.close();
  }
});

test.run();
