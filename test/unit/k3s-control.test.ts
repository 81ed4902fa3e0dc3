// Control-machine side of the K3s roles: the join token file, the kubeconfig merge, reading node
// status from kubectl's JSON, label/taint reconciliation plans, and reset's confirmation.
import { test } from '../support/uvu.ts';
import { writeKeyPair } from '../support/ssh-keys.ts';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { stringify } from 'yaml';
import { clearSecrets, mask, MASK } from '../../lib/report/mask.ts';
import { loadOrCreateToken, tokenPassword } from '../../lib/k3s/token.ts';
import {
  entriesFromK3s,
  mergeKubeconfig,
  readKubeconfig,
  removeFromKubeconfig,
  sameKubeconfig,
  writeKubeconfig,
} from '../../lib/k3s/kubeconfig.ts';
import { notReadyReasons, parseNode } from '../../roles/k3s-server/readiness.ts';
import { MANAGED_LABELS, MANAGED_TAINTS, metadataCommands, planNodeMetadata } from '../../roles/k3s-server/node-metadata.ts';
import type { HostSpec } from '../../lib/inventory/model.ts';
import { main as resetMain } from '../../cli/reset.ts';

let dir: string;
test.before.each(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clusterseed-k3s-unit-'));
});
test.after.each(() => {
  rmSync(dir, { recursive: true, force: true });
  clearSecrets();
});

test('token: generated from a CSPRNG into a 0600 file in a 0700, git-ignored directory; then reused', () => {
  const file = path.join(dir, '.clusterseed', 'home', 'token');
  const made = loadOrCreateToken(file);
  assert.ok(made.created);
  assert.match(made.token, /^[0-9a-f]{64}$/);
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.is(statSync(path.dirname(file)).mode & 0o777, 0o700);
  assert.is(readFileSync(path.join(path.dirname(file), '.gitignore'), 'utf8'), '*\n');
  assert.is(mask(`token=${made.token}`), `token=${MASK}`, 'registered as a secret at once');
  const again = loadOrCreateToken(file);
  assert.equal([again.token, again.created], [made.token, false]);
  assert.is.not(loadOrCreateToken(path.join(dir, 'other')).token, made.token);
});

test('token: a readable file is tightened, bad content refused, K10 tokens compare by password', () => {
  const file = path.join(dir, 'token');
  writeFileSync(file, 'K10abc123::server:s3cr3t-value\n', { mode: 0o644 });
  chmodSync(file, 0o644);
  const got = loadOrCreateToken(file);
  assert.ok(got.tightened);
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.is(tokenPassword(got.token), 's3cr3t-value');
  assert.is(mask('pw s3cr3t-value'), `pw ${MASK}`);
  writeFileSync(file, "it's a token\n", { mode: 0o600 });
  assert.throws(() => loadOrCreateToken(file), /characters a K3s token may not contain/);
  writeFileSync(file, '\n', { mode: 0o600 });
  assert.throws(() => loadOrCreateToken(file), /is empty/);
});

const K3S_YAML = stringify({
  apiVersion: 'v1',
  clusters: [{ name: 'default', cluster: { 'certificate-authority-data': 'Q0E=', server: 'https://127.0.0.1:6443' } }],
  contexts: [{ name: 'default', context: { cluster: 'default', user: 'default' } }],
  'current-context': 'default',
  kind: 'Config',
  preferences: {},
  users: [{ name: 'default', user: { 'client-certificate-data': 'Q0VSVA==', 'client-key-data': 'S0VZLXNlY3JldA==' } }],
});

test('kubeconfig: entries named after the cluster, server rewritten, other entries kept, idempotent', () => {
  const entries = entriesFromK3s(K3S_YAML, 'https://192.168.1.9:6443');
  assert.is(entries.cluster.server, 'https://192.168.1.9:6443');
  assert.is(mask('key S0VZLXNlY3JldA=='), `key ${MASK}`, 'client key registered as secret');
  const mine = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'work',
    clusters: [{ name: 'work', cluster: { server: 'https://work:6443' } }],
    users: [{ name: 'work', user: { token: 'abcd-work' } }],
    contexts: [{ name: 'work', context: { cluster: 'work', user: 'work' } }],
  };
  const merged = mergeKubeconfig(mine, 'home', entries);
  assert.is(merged['current-context'], 'work', "the user's current context is kept");
  assert.equal(
    (merged.clusters as { name: string }[]).map((c) => c.name),
    ['work', 'home'],
  );
  assert.equal((merged.contexts as unknown[])[1], { name: 'home', context: { cluster: 'home', user: 'home' } });
  assert.ok(sameKubeconfig(merged, mergeKubeconfig(merged, 'home', entries)), 'merging again changes nothing');
  const fresh = mergeKubeconfig(undefined, 'home', entries);
  assert.is(fresh['current-context'], 'home');

  const file = path.join(dir, '.clusterseed', 'home', 'kubeconfig');
  writeKubeconfig(file, merged);
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.is(statSync(path.dirname(file)).mode & 0o777, 0o700);
  assert.is(readFileSync(path.join(path.dirname(file), '.gitignore'), 'utf8'), '*\n', 'the admin kubeconfig stays out of git');
  assert.ok(sameKubeconfig(readKubeconfig(file), merged));
  const removed = removeFromKubeconfig(merged, 'home');
  assert.equal(
    (removed.clusters as { name: string }[]).map((c) => c.name),
    ['work'],
  );
  assert.is(removed['current-context'], 'work');
  assert.is(removeFromKubeconfig(fresh, 'home')['current-context'], '');
  assert.is(readKubeconfig(path.join(dir, 'missing')), undefined);
});

const nodeJson = (o: {
  ready?: string;
  voter?: string;
  version?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  taints?: unknown[];
}) =>
  JSON.stringify({
    kind: 'Node',
    metadata: { name: 'n', labels: o.labels ?? {}, annotations: o.annotations ?? {} },
    spec: { taints: o.taints },
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False' },
        ...(o.voter ? [{ type: 'EtcdIsVoter', status: o.voter }] : []),
        { type: 'Ready', status: o.ready ?? 'True' },
      ],
      nodeInfo: { kubeletVersion: o.version ?? 'v1.31.4+k3s1' },
    },
  });

test('node status from kubectl JSON: Ready, version, etcd voter', () => {
  const want = { version: 'v1.31.4+k3s1', etcdVoter: true };
  const good = parseNode(0, nodeJson({ voter: 'True', labels: { 'node-role.kubernetes.io/etcd': 'true' } }), '');
  assert.equal(notReadyReasons(good, want), []);
  const learner = parseNode(0, nodeJson({ voter: 'False', labels: { 'node-role.kubernetes.io/etcd': 'true' } }), '');
  assert.equal(notReadyReasons(learner, want), ['not a voting etcd member yet (EtcdIsVoter is not True)']);
  const olderK3s = parseNode(0, nodeJson({ labels: { 'node-role.kubernetes.io/etcd': 'true' } }), '');
  assert.equal(notReadyReasons(olderK3s, want), [], 'K3s without the EtcdIsVoter condition: the etcd role label and an active unit do');
  assert.equal(notReadyReasons(parseNode(0, nodeJson({ voter: 'True' }), ''), want), ['no node-role.kubernetes.io/etcd=true label yet']);
  const old = parseNode(0, nodeJson({ version: 'v1.30.8+k3s1' }), '');
  assert.equal(notReadyReasons(old, { version: 'v1.31.4+k3s1', etcdVoter: false }), ['runs v1.30.8+k3s1, not v1.31.4+k3s1']);
  const missing = parseNode(1, '', 'Error from server (NotFound): nodes "n" not found\n');
  assert.equal(notReadyReasons(missing, want), ['node not registered (Error from server (NotFound): nodes "n" not found)']);
  const notReady = parseNode(0, nodeJson({ ready: 'Unknown' }), '');
  assert.equal(notReadyReasons(notReady, { version: 'v1.31.4+k3s1', etcdVoter: false }), ['Ready condition is not True']);
});

const spec = (labels: Record<string, string>, taints: string[]) => ({ name: 'n', labels, taints }) as unknown as HostSpec;

test('labels and taints: set what differs, remove what clusterseed set before, leave the rest', () => {
  const status = parseNode(
    0,
    nodeJson({
      labels: { 'kubernetes.io/hostname': 'n', 'clusterseed.io/arch-pool': 'x86', 'old.example/gone': 'x', 'theirs.example/keep': 'y' },
      annotations: { [MANAGED_LABELS]: 'clusterseed.io/arch-pool,old.example/gone', [MANAGED_TAINTS]: 'edge:NoSchedule' },
      taints: [
        { key: 'edge', value: 'true', effect: 'NoSchedule' },
        { key: 'theirs', effect: 'NoExecute' },
      ],
    }),
    '',
  );
  const plan = planNodeMetadata(
    status,
    spec({ 'clusterseed.io/arch-pool': 'arm', 'node-role.kubernetes.io/worker': 'true' }, ['gpu=yes:NoSchedule']),
  );
  assert.equal(plan.labels, ['clusterseed.io/arch-pool=arm', 'node-role.kubernetes.io/worker=true', 'old.example/gone-']);
  assert.equal(plan.taints, ['gpu=yes:NoSchedule', 'edge:NoSchedule-']);
  assert.equal(plan.annotations, [
    `${MANAGED_LABELS}=clusterseed.io/arch-pool,node-role.kubernetes.io/worker`,
    `${MANAGED_TAINTS}=gpu:NoSchedule`,
  ]);
  assert.equal(metadataCommands('n', plan), [
    "k3s kubectl label node 'n' --overwrite 'clusterseed.io/arch-pool=arm' 'node-role.kubernetes.io/worker=true' 'old.example/gone-'",
    "k3s kubectl taint node 'n' 'edge:NoSchedule-'",
    "k3s kubectl taint node 'n' --overwrite 'gpu=yes:NoSchedule'",
    `k3s kubectl annotate node 'n' --overwrite '${MANAGED_LABELS}=clusterseed.io/arch-pool,node-role.kubernetes.io/worker' '${MANAGED_TAINTS}=gpu:NoSchedule'`,
  ]);

  const converged = parseNode(
    0,
    nodeJson({
      labels: { 'clusterseed.io/arch-pool': 'arm' },
      annotations: { [MANAGED_LABELS]: 'clusterseed.io/arch-pool', [MANAGED_TAINTS]: '' },
    }),
    '',
  );
  assert.equal(planNodeMetadata(converged, spec({ 'clusterseed.io/arch-pool': 'arm' }, [])), { labels: [], taints: [], annotations: [] });
});

function io(input: string, isTTY: boolean) {
  const stdin = Object.assign(new PassThrough(), { isTTY });
  stdin.end(input);
  let out = '';
  return { io: { stdin, write: (t: string) => (out += t), error: (t: string) => (out += t) }, out: () => out };
}

test('reset: refuses without a terminal or --yes, and aborts unless the answer is yes', async () => {
  const inv = path.join(dir, 'inventory.yaml');
  // a usable key: bad input (an unusable key among it) is refused before anything is asked
  const key = path.join(dir, 'id_ed25519');
  writeKeyPair(key);
  writeFileSync(
    inv,
    `cluster: { name: c, k3s_version: v1.31.4+k3s1 }\ndefaults: { user: admin, ssh_key: ${key}, known_hosts: ${path.join(dir, 'known_hosts')} }\nhosts: { s1: { address: 10.0.0.1 } }\ngroups: { servers: [s1] }\n`,
  );
  const piped = io('yes\n', false);
  assert.is(await resetMain(['-i', inv], piped.io), 1);
  assert.match(piped.out(), /stdin is not a terminal\. Pass --yes/);
  const no = io('no\n', true);
  assert.is(await resetMain(['-i', inv], no.io), 1);
  assert.match(no.out(), /uninstalls K3s and deletes ALL cluster data on: s1 \(10\.0\.0\.1\)/);
  assert.match(no.out(), /Aborted: nothing was changed/);
  const none = io('', false);
  assert.is(await resetMain(['-i', inv, '--limit', 's1', '--forks', '0'], none.io), 1, 'bad flags are bad input');
  assert.match(none.out(), /--forks must be a positive integer/);
  assert.not.ok(existsSync(path.join(dir, '.clusterseed')), 'nothing was created');
});

test.run();
