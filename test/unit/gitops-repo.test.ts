// The on-cluster GitOps repository (issue 16, part 1), the pure parts: the forced command (run for
// real with sh and git-upload-pack against a local bare repo), the authorized_keys line, the URL
// and known-hosts lines Argo CD gets, the render with them, the bundle range, and the harden
// role's admission of the git user (AllowGroups, firewall sources).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { hostedRepoOf, hostedRepoUrl, knownHostsLines } from '../../lib/gitops/hosted-repo.ts';
import { bundleArgs, syncPlan } from '../../lib/publish/host-repo.ts';
import { renderRepoWithSecrets } from '../../lib/gitops/index.ts';
import { repoUrlOf } from '../../lib/gitops/model.ts';
import { admitGroup } from '../../roles/harden/sshd-access.ts';
import { sshSources, type ClusterView } from '../../roles/harden/firewall.ts';
import { homelab } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

const tmp = tempDir('gitops-repo');

function localHosted() {
  const inv = homelab();
  inv.gitops = { repo: { kind: 'local', path: path.join(inv.dir, '.clusterseed', 'gitops.git') }, branch: 'main' };
  inv.hosts[0].nodeIp = '10.0.0.5';
  return inv;
}

// ---- URL, known hosts, render --------------------------------------------------------------------

test('URL and known_hosts lines: node address and port, IPv6 in brackets, port 22 plain', () => {
  const repo = { user: 'clusterseed-git', repoPath: '/var/lib/clusterseed-git/gitops.git' };
  assert.is(hostedRepoUrl(repo, { address: '10.0.0.5', port: 22 }), 'ssh://clusterseed-git@10.0.0.5:22/var/lib/clusterseed-git/gitops.git');
  assert.is(
    hostedRepoUrl(repo, { address: 'fd00::5', port: 2222 }),
    'ssh://clusterseed-git@[fd00::5]:2222/var/lib/clusterseed-git/gitops.git',
  );
  const keys = [
    { type: 'ssh-ed25519', key: 'AAAAC3Nz' },
    { type: 'ssh-rsa', key: 'AAAAB3Nz' },
  ];
  assert.is(knownHostsLines({ address: '10.0.0.5', port: 22 }, keys), '10.0.0.5 ssh-ed25519 AAAAC3Nz\n10.0.0.5 ssh-rsa AAAAB3Nz\n');
  assert.is(knownHostsLines({ address: '10.0.0.5', port: 2222 }, keys.slice(0, 1)), '[10.0.0.5]:2222 ssh-ed25519 AAAAC3Nz\n');
});

test('hosted only without another remote; vars.gitops-repo checked with the field named', () => {
  const inv = localHosted();
  assert.is(repoUrlOf(inv), 'ssh://clusterseed-git@10.0.0.5:22/var/lib/clusterseed-git/gitops.git');
  assert.is(repoUrlOf(inv, 'https://git.example.org/x.git'), 'https://git.example.org/x.git');
  assert.is(hostedRepoOf(homelab()), undefined, 'github: not hosted');
  inv.hosts[0].vars['gitops-repo'] = { user: 'Git User' };
  assert.throws(() => hostedRepoOf(inv), /host desktop: vars\.gitops-repo\.user: expected a user name/);
  inv.hosts[0].vars['gitops-repo'] = { repo_path: '/srv/elsewhere.git' };
  assert.throws(() => hostedRepoOf(inv), /vars\.gitops-repo\.repo_path: expected a path inside home/);
  inv.hosts[0].vars['gitops-repo'] = { repo_path: "/var/lib/clusterseed-git/x'; id.git" };
  assert.throws(() => hostedRepoOf(inv), /vars\.gitops-repo\.repo_path: expected an absolute path/);
});

test('render: every repoURL (root app, ApplicationSet, ref: values sources) is the hosted URL; the host key is in Argo CD values', async () => {
  const inv = localHosted();
  const url = 'ssh://clusterseed-git@10.0.0.5:22/var/lib/clusterseed-git/gitops.git';
  const pin = '10.0.0.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n';
  const { files } = await renderRepoWithSecrets(inv, { stateDir: tmp, sealingKeyOptions: TEST_KEY_OPTIONS, sshKnownHosts: pin });
  const ours: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        // a git source (path or ref), not a chart repository
        const src = v as Record<string, unknown>;
        if (k === 'repoURL' && typeof x === 'string' && (src.path !== undefined || src.ref !== undefined)) ours.push(x);
        walk(x);
      }
    }
  };
  for (const [f, c] of files) if (f.endsWith('.yaml')) for (const d of parseAllDocuments(c)) walk(d.toJS());
  assert.ok(ours.length >= 4, `repoURLs of the repo itself: ${ours.length}`);
  assert.equal([...new Set(ours)], [url]);
  assert.not.ok([...files.values()].some((c) => c.includes('file://')));
  const values = parse(files.get('platform/argocd/values.yaml')!);
  assert.is(values.configs.ssh.extraHosts, pin);
  // without a known key, no pin is rendered (never an unverified one)
  const bare = await renderRepoWithSecrets(inv, { stateDir: tmp, sealingKeyOptions: TEST_KEY_OPTIONS });
  assert.is(parse(bare.files.get('platform/argocd/values.yaml')!).configs.ssh, undefined);
});

// ---- bundle range -------------------------------------------------------------------------------

test('sync plan: same head nothing, empty host the whole branch, an ancestor only the range; ahead or unknown refused', () => {
  const [a, b] = ['a'.repeat(40), 'b'.repeat(40)];
  assert.equal(syncPlan(a, a, true, true), { action: 'none' });
  assert.equal(syncPlan(b, '', false, false), { action: 'full' });
  assert.equal(syncPlan(b, a, true, true), { action: 'range', since: a });
  assert.is(syncPlan(b, a, false, false).action, 'refuse');
  assert.match((syncPlan(b, a, true, false) as { reason: string }).reason, /ahead of or diverged/);
  assert.equal(bundleArgs('/t/x.bundle', 'main', { action: 'range', since: a }), [
    'bundle',
    'create',
    '-q',
    '/t/x.bundle',
    'refs/heads/main',
    `^${a}`,
  ]);
  assert.equal(bundleArgs('/t/x.bundle', 'main', { action: 'full' }), ['bundle', 'create', '-q', '/t/x.bundle', 'refs/heads/main']);
});

test("sshd AllowGroups admits the git user's group on the repository host; no AllowGroups stays none", () => {
  const s: [string, string][] = [
    ['PermitRootLogin', 'no'],
    ['AllowGroups', 'sudo'],
  ];
  admitGroup(s, 'clusterseed-git');
  assert.equal(s[1], ['AllowGroups', 'sudo clusterseed-git']);
  admitGroup(s, 'clusterseed-git');
  assert.equal(s[1], ['AllowGroups', 'sudo clusterseed-git'], 'once');
  const none: [string, string][] = [['PermitRootLogin', 'no']];
  admitGroup(none, 'clusterseed-git');
  assert.equal(none, [['PermitRootLogin', 'no']]);
});

test('firewall: a restricted ssh_allowed_from also admits node IPs and the pod network on the repository host only', () => {
  const inv = localHosted();
  const view: ClusterView = { cluster: inv.clusters[0], nodes: ['192.168.1.17', '10.0.0.5', '192.168.1.14'], otherServers: [] };
  assert.equal(sshSources([], true, view, []), [], 'open to all stays open to all');
  assert.equal(sshSources(['192.168.1.0/28'], false, view, []), ['192.168.1.0/28'], 'other hosts unchanged');
  assert.equal(sshSources(['192.168.1.0/28'], true, view, ['10.9.0.0/24']), [
    '192.168.1.0/28',
    '192.168.1.17',
    '10.0.0.5',
    '192.168.1.14',
    '10.9.0.0/24',
    '10.42.0.0/16',
  ]);
});

test.run();
