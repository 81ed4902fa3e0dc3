// The GitOps repository hosted on the cluster (issue 16, part 1): after site.mjs with the shipped
// inventory shape (one server + an agent, no gitops.repo, node IPs on a second network, SSH
// restricted to the control machine), the agent (standing in for Argo CD's repo-server; the K3s
// stand-in has no pod network) clones the repository over SSH with the key and the known host
// the bootstrap wrote, and that key can do nothing else. A second run makes no commit and changes
// nothing; a changed tree reaches the host as a fast-forward; a lost local mirror is restored from
// the host (no new commit); a host repository someone wrote to is refused.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { startLab, type TestLab } from '../harness/hosts.ts';
import { startK3sMirror, type K3sMirror } from '../support/k3s-mirror.ts';

const VERSION = 'v1.31.4+k3s1';
const MANIFESTS = '/var/lib/rancher/k3s/server/manifests';
const REPO = '/var/lib/clusterseed-git/gitops.git';
let lab: TestLab;
let mirror: K3sMirror;

test.before(async () => {
  [lab, mirror] = await Promise.all([startLab({ count: 2, prefix: 'grh', lan: true }), startK3sMirror({ versions: [VERSION] })]);
});
test.after(async () => {
  await Promise.all([lab?.stop(), mirror?.close()]);
});

function run(script: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['zx', script, ...args], { timeout: 600_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

const localHead = (bare: string) => execFileSync('git', ['-C', bare, 'rev-parse', 'refs/heads/main'], { encoding: 'utf8' }).trim();

test("Argo CD's key clones the on-cluster repository from another node, and does nothing else; rerun is a no-op", async () => {
  const [server, agent] = lab.hosts;
  const control = server.address.replace(/\.\d+$/, '.1');
  // SSH only from the control machine: the repository host must still admit the nodes
  const inv = lab.writeInventory({
    servers: [server.name],
    agents: [agent.name],
    extra: { vars: { harden: { firewall: { ssh_allowed_from: [control] } } } },
  });
  const mirrorRepo = path.join(path.dirname(inv), '.clusterseed', 'gitops.git');
  const args = ['-i', inv, '--k3s-mirror', mirror.url];

  const twice = await run('scripts/idempotency.mjs', args);
  assert.is(twice.code, 0, twice.out.slice(-6000));
  assert.match(twice.out, /IDEMPOTENT: the second run changed nothing on 2 host\(s\) and made no commit/);
  const head = localHead(mirrorRepo);
  assert.is(
    (await lab.sh(server.name, `runuser -u clusterseed-git -- env HOME=/tmp git -C ${REPO} rev-parse main`)).stdout.trim(),
    head,
    'host repo at the mirror head',
  );
  assert.is(
    (await lab.sh(server.name, 'ls -a /var/lib/clusterseed-git | grep -c bundle || true')).stdout.trim(),
    '0',
    'no bundle left behind',
  );

  // the user and its one key
  assert.is(
    (await lab.sh(server.name, 'getent passwd clusterseed-git | cut -d: -f6,7')).stdout.trim(),
    '/var/lib/clusterseed-git:/usr/bin/git-shell',
  );
  assert.is(
    (await lab.sh(server.name, 'stat -c "%a %U" /var/lib/clusterseed-git/.ssh/authorized_keys')).stdout.trim(),
    '600 clusterseed-git',
  );
  const authorized = (await lab.sh(server.name, 'cat /var/lib/clusterseed-git/.ssh/authorized_keys')).stdout;
  assert.is(authorized.trim().split('\n').length, 1);
  assert.match(authorized, /^restrict,command="clusterseed-read-only" ssh-ed25519 /);
  assert.match(
    (await lab.sh(server.name, 'sshd -T -C user=clusterseed-git,host=x,addr=10.0.0.1 | grep ^allowgroups')).stdout,
    /^allowgroups sudo\nallowgroups clusterseed-git$/m,
  );

  // SSH is restricted to the control machine, yet the repository host admits the nodes (the agent's
  // node IP among them) and the pod network; the agent itself keeps SSH for the control machine only
  // (the ruleset file as rendered: `nft list` merges adjacent addresses into ranges)
  const sshRuleOf = async (h: string) => (await lab.sh(h, 'grep "tcp dport 22 accept" /etc/clusterseed/firewall.nft')).stdout.trim();
  const sshRule = await sshRuleOf(server.name);
  for (const source of [control, agent.lanAddress!, agent.address, '10.42.0.0/16'])
    assert.ok(sshRule.includes(`${source},`) || sshRule.includes(`${source} }`), `${source} in ${sshRule}`);
  assert.is(await sshRuleOf(agent.name), `ip saddr { ${control} } tcp dport 22 accept`);

  // what the bootstrap wrote: the repository Secret (0600) and the pinned host key in Argo CD's values
  const cred = (
    await lab.sh(
      server.name,
      `stat -c %a ${MANIFESTS}/clusterseed-repo-credentials.yaml; cat ${MANIFESTS}/clusterseed-repo-credentials.yaml`,
    )
  ).stdout;
  assert.match(cred, /^600\n/);
  const secret = YAML.parseAllDocuments(cred.replace(/^600\n/, ''))
    .map((d) => d.toJS())
    .find((d) => d?.kind === 'Secret');
  const url = `ssh://clusterseed-git@${server.lanAddress}:22${REPO}`;
  assert.is(secret.stringData.url, url, 'node_ip of the first server, sshd port, repository path');
  const key = readFileSync(path.join(path.dirname(inv), '.clusterseed', 'gitops-read-key', 'id_ed25519'), 'utf8');
  assert.is(secret.stringData.sshPrivateKey, key);
  assert.not.match(twice.out, key.split('\n')[1], 'read key never printed');
  const chart = YAML.parse((await lab.sh(server.name, `cat ${MANIFESTS}/clusterseed-argocd.yaml`)).stdout);
  const knownHosts: string = YAML.parse(chart.spec.valuesContent).configs.ssh.extraHosts;
  assert.match(knownHosts, new RegExp(`^${server.lanAddress!.replace(/\./g, '\\.')} ssh-ed25519 AAAA`));
  // the pinned key is the one clusterseed checked (the lab's known_hosts) under the node address
  const checked = readFileSync(lab.knownHostsFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${server.address} `) || l.startsWith(`[${server.address}]`))!;
  assert.is(knownHosts.trim().split(' ').slice(1).join(' '), checked.trim().split(' ').slice(1, 3).join(' '));

  // the agent, as Argo CD's repo-server would: the Secret's key, the pinned host, strict checking
  const setup = await lab.sh(
    agent.name,
    'command -v git >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null)',
    { timeoutMs: 240_000 },
  );
  assert.is(setup.code, 0, setup.stderr);
  await lab.sh(agent.name, 'umask 077; cat > /root/argocd-key', { input: key });
  await lab.sh(agent.name, 'umask 077; cat > /root/argocd-known-hosts', { input: knownHosts });
  const ssh =
    'ssh -i /root/argocd-key -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=/root/argocd-known-hosts -o StrictHostKeyChecking=yes -o ConnectTimeout=20';
  const asArgo = (cmd: string) =>
    lab.sh(agent.name, `export GIT_SSH_COMMAND='${ssh}' GIT_TERMINAL_PROMPT=0; cd /root && ${cmd}`, { timeoutMs: 60_000 });

  const clone = await asArgo(`rm -rf clone && git clone -q ${url} clone && git -C clone rev-parse HEAD`);
  assert.is(clone.code, 0, clone.stderr);
  assert.is(clone.stdout.trim(), head, 'the clone is the rendered tree the mirror holds');
  const root = YAML.parse((await lab.sh(agent.name, 'cat /root/clone/bootstrap/root.yaml')).stdout);
  assert.is(root.spec.source.repoURL, url);

  const push = await asArgo(
    `cd clone && git -c user.name=x -c user.email=x@x commit -q --allow-empty -m intruder && git push -q origin HEAD:main`,
  );
  assert.is.not(push.code, 0, 'push refused');
  assert.match(push.stderr, /this key may only read .*refused: git-receive-pack/);
  const shell = await asArgo(`${ssh} clusterseed-git@${server.lanAddress} id`);
  assert.is(shell.code, 1, shell.stdout + shell.stderr);
  assert.is(shell.stdout, '');
  assert.match(shell.stderr, /refused: id/);
  const login = await asArgo(`${ssh} -tt clusterseed-git@${server.lanAddress} </dev/null`);
  assert.is.not(login.code, 0, 'no interactive login');
  assert.not.match(login.stdout, /\$ |# /);
  for (const other of ['/etc', '/var/lib/clusterseed-git', `${REPO}/../other.git`]) {
    const r = await asArgo(`rm -rf other && git clone -q ssh://clusterseed-git@${server.lanAddress}:22${other} other`);
    assert.is.not(r.code, 0, other);
    assert.match(r.stderr, /this key may only read/, other);
  }
  const forward = await asArgo(`${ssh} -W 127.0.0.1:22 clusterseed-git@${server.lanAddress} </dev/null`);
  assert.is.not(forward.code, 0, 'no forwarding');
  assert.match(forward.stderr, /administratively prohibited|open failed/);
  assert.is(
    (await lab.sh(server.name, `runuser -u clusterseed-git -- env HOME=/tmp git -C ${REPO} rev-parse main`)).stdout.trim(),
    head,
    'nothing was pushed',
  );

  // a changed tree reaches the host as a fast-forward (a bundle of the new commit only)
  const changed = readFileSync(inv, 'utf8').replace('name: test', 'name: test\n  domain: lab.example');
  writeFileSync(inv, changed);
  const update = await run('scripts/site.mjs', [...args, '--tags', 'argocd-bootstrap']);
  assert.is(update.code, 0, update.out.slice(-4000));
  const newHead = localHead(mirrorRepo);
  assert.is.not(newHead, head);
  assert.match(update.out, new RegExp(`on the cluster ${server.name}:${REPO}: brought to ${newHead.slice(0, 12)}`));
  const fetched = await asArgo(`git -C clone fetch -q origin && git -C clone rev-parse origin/main`);
  assert.is(fetched.stdout.trim(), newHead, fetched.stderr);

  // the local mirror is lost (new control machine), with its publish record; the cluster's copy
  // survives: the next run restores the mirror from it, makes no commit, and the host keeps its head
  const hostHeadNow = async () =>
    (await lab.sh(server.name, `runuser -u clusterseed-git -- env HOME=/tmp git -C ${REPO} rev-parse main`)).stdout.trim();
  rmSync(mirrorRepo, { recursive: true, force: true });
  rmSync(path.join(path.dirname(inv), '.clusterseed', 'publish-state.json'), { force: true });
  const restored = await run('scripts/site.mjs', [...args, '--tags', 'argocd-bootstrap']);
  assert.is(restored.code, 0, restored.out.slice(-4000));
  assert.match(restored.out, new RegExp(`gitops: restored the local mirror from ${server.name}:${REPO} at ${newHead.slice(0, 12)}`));
  assert.match(restored.out, /repository up to date: no commit/);
  assert.is(localHead(mirrorRepo), newHead, "the mirror holds the server's head");
  assert.is(await hostHeadNow(), newHead, 'no new commit on the server');
  assert.is(
    (await lab.sh(server.name, 'ls -a /var/lib/clusterseed-git | grep -c bundle || true')).stdout.trim(),
    '0',
    'no bundle left behind',
  );
  const after = await run('scripts/site.mjs', [...args, '--tags', 'argocd-bootstrap']);
  assert.is(after.code, 0, after.out.slice(-4000));
  assert.match(after.out, /repository up to date: no commit/);
  assert.match(after.out, /No changes: every host is already in the desired state\./);
  assert.not.match(after.out, /restored the local mirror/);
  assert.is(await hostHeadNow(), newHead);

  // someone wrote to the host's repository: refused, named, nothing overwritten
  const foreign = (
    await lab.sh(
      server.name,
      `cd ${REPO} && export HOME=/tmp GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x && c=$(runuser -u clusterseed-git -- env HOME=/tmp git commit-tree -p main -m foreign main^{tree}) && runuser -u clusterseed-git -- env HOME=/tmp git update-ref refs/heads/main $c && echo $c`,
    )
  ).stdout.trim();
  assert.match(foreign, /^[0-9a-f]{40}$/);
  const refused = await run('scripts/site.mjs', [...args, '--tags', 'argocd-bootstrap']);
  assert.is.not(refused.code, 0, refused.out.slice(-3000));
  assert.match(
    refused.out,
    new RegExp(
      `refusing to update the repository on ${server.name}:${REPO}: its head ${foreign.slice(0, 12)} is no commit of the local mirror`,
    ),
  );
  assert.is(
    (await lab.sh(server.name, `runuser -u clusterseed-git -- env HOME=/tmp git -C ${REPO} rev-parse main`)).stdout.trim(),
    foreign,
    'left as it was',
  );
});

test.run();
