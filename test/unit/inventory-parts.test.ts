// The inventory's small building blocks: CIDR arithmetic, Kubernetes syntax, suggestions, merge, paths.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { cidrContains, cidrsOverlap, parseCidr, parseCidrList, type Cidr } from '../../lib/inventory/cidr.ts';
import { formatPath } from '../../lib/inventory/errors.ts';
import { deepMerge } from '../../lib/inventory/merge.ts';
import { expandPath } from '../../lib/inventory/paths.ts';
import { closest, didYouMean, editDistance } from '../../lib/inventory/suggest.ts';
import { addressProblem, isRestrictedLabel, labelKeyProblem, labelValueProblem, parseTaint } from '../../lib/inventory/syntax.ts';

const cidr = (text: string) => parseCidr(text) as Cidr;

test('parseCidr: IPv4 and IPv6 networks, host bits, prefix length', () => {
  assert.equal(cidr('10.42.0.0/16'), { family: 4, base: 0x0a2a0000n, prefix: 16, text: '10.42.0.0/16' });
  assert.is(cidr('2001:cafe:42::/56').family, 6);
  assert.is(cidr('::/0').base, 0n);
  assert.is(parseCidr('10.42.0.1/16'), '"10.42.0.1/16" has host bits set (did you mean 10.42.0.0/16?)');
  assert.is(parseCidr('2001:db8::1/64'), '"2001:db8::1/64" has host bits set (did you mean 2001:db8::/64?)');
  assert.is(parseCidr('10.0.0.0/33'), 'prefix /33 is longer than 32 bits');
  assert.is(parseCidr('10.0.0/8'), '"10.0.0" is not an IP address');
  assert.is(parseCidr('10.0.0.0'), '"10.0.0.0" is not in CIDR notation (address/prefix)');
});

test('parseCidrList: dual-stack needs one of each family', () => {
  assert.is((parseCidrList('10.42.0.0/16,2001:cafe:42::/56') as Cidr[]).length, 2);
  assert.is(parseCidrList('10.42.0.0/16,10.44.0.0/16'), 'a dual-stack value needs one IPv4 and one IPv6 CIDR');
});

test('cidrsOverlap and cidrContains', () => {
  assert.ok(cidrsOverlap(cidr('10.42.0.0/16'), cidr('10.42.128.0/17')));
  assert.ok(cidrsOverlap(cidr('10.0.0.0/8'), cidr('10.43.0.0/16')));
  assert.not.ok(cidrsOverlap(cidr('10.42.0.0/16'), cidr('10.43.0.0/16')));
  assert.not.ok(cidrsOverlap(cidr('10.42.0.0/16'), cidr('2001:db8::/32')));
  assert.ok(cidrContains(cidr('10.42.0.0/16'), '10.42.255.1'));
  assert.not.ok(cidrContains(cidr('10.42.0.0/16'), '10.43.0.1'));
  assert.ok(cidrContains(cidr('fd00::/8'), 'fd00::22'));
  assert.ok(cidrContains(cidr('::ffff:0:0/96'), '::ffff:10.0.0.1'));
  assert.not.ok(cidrContains(cidr('10.0.0.0/8'), 'node.example.lan'));
});

test('label keys and values follow the Kubernetes rules', () => {
  assert.is(labelKeyProblem('node-role.clusterseed.io/stateful'), undefined);
  assert.is(labelKeyProblem('gpu'), undefined);
  assert.match(labelKeyProblem('Example.com/x')!, /prefix "Example.com"/);
  assert.match(labelKeyProblem('/x')!, /prefix ""/);
  assert.match(labelKeyProblem(`a/${'n'.repeat(64)}`)!, /1-63 characters/);
  assert.match(labelKeyProblem(`${'p'.repeat(64)}.io/x`)!, /DNS subdomain/);
  assert.is(labelValueProblem(''), undefined);
  assert.is(labelValueProblem('arm'), undefined);
  assert.match(labelValueProblem('-arm')!, /value "-arm"/);
  assert.match(labelValueProblem('v'.repeat(64))!, /at most 63/);
});

test('labels a node may not set on itself', () => {
  assert.ok(isRestrictedLabel('node-role.kubernetes.io/worker'));
  assert.ok(isRestrictedLabel('example.k8s.io/x'));
  assert.not.ok(isRestrictedLabel('kubernetes.io/arch'));
  assert.not.ok(isRestrictedLabel('node.kubernetes.io/instance-type'));
  assert.not.ok(isRestrictedLabel('topology.kubernetes.io/zone'));
  assert.not.ok(isRestrictedLabel('clusterseed.io/arch-pool'));
  assert.not.ok(isRestrictedLabel('plain'));
});

test('parseTaint', () => {
  assert.equal(parseTaint('dedicated=gpu:NoSchedule'), { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' });
  assert.equal(parseTaint('node.example.io/edge:NoExecute'), { key: 'node.example.io/edge', value: '', effect: 'NoExecute' });
  assert.match(parseTaint('gpu') as string, /has no effect/);
  assert.match(parseTaint('gpu=x:Never') as string, /effect "Never"/);
  assert.match(parseTaint('=x:NoSchedule') as string, /^key name ""/);
  assert.match(parseTaint('a=b c:NoSchedule') as string, /value "b c"/);
});

test('addressProblem: IPs, DNS names, and dotted numbers that are no IPv4 address', () => {
  assert.is(addressProblem('192.168.1.10'), undefined);
  assert.is(addressProblem('fe80::1'), undefined);
  assert.is(addressProblem('pi-1.lan'), undefined);
  assert.is(addressProblem('192.168.1.300'), '"192.168.1.300" is not a valid IPv4 address');
  assert.is(addressProblem('10.1'), '"10.1" is not a valid IPv4 address');
});

test('suggestions: typos, case and separators, nothing when far off', () => {
  assert.is(editDistance('adress', 'address'), 1);
  assert.is(editDistance('raspbery_pi', 'raspberry_pi'), 1);
  assert.is(editDistance('ab', 'ba'), 1, 'a transposition is one edit');
  assert.is(closest('sshKey', ['ssh_key', 'user']), 'ssh_key');
  assert.is(closest('k3s-version', ['k3s_version', 'k3s_mirror']), 'k3s_version');
  assert.is(closest('zzz', ['address', 'port']), undefined);
  assert.is(didYouMean('prot', ['port', 'user']), ' (did you mean "port"?)');
  assert.is(didYouMean('port', ['port']), '');
});

test('deepMerge: mappings merge, lists and scalars are replaced, inputs untouched', () => {
  const base = { a: { x: 1, list: [1, 2] }, b: 1 };
  const over = { a: { y: 2, list: [3] }, c: null };
  const merged = deepMerge(base, undefined, over);
  assert.equal(merged, { a: { x: 1, list: [3], y: 2 }, b: 1, c: null });
  assert.equal(base, { a: { x: 1, list: [1, 2] }, b: 1 });
  (merged.a as { list: number[] }).list.push(4);
  assert.equal(over.a.list, [3], 'the result shares no objects with its inputs');
});

test('deepMerge keeps a "__proto__" key as data', () => {
  const layer = JSON.parse('{"__proto__": {"polluted": true}}');
  const merged = deepMerge(layer);
  assert.equal(Object.keys(merged), ['__proto__']);
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.is(Object.getPrototypeOf(merged), Object.prototype);
});

test('expandPath: ~ is home, relative is from the inventory directory', () => {
  assert.is(expandPath('~', '/inv', '/home/u'), '/home/u');
  assert.is(expandPath('~/.ssh/id', '/inv', '/home/u'), '/home/u/.ssh/id');
  assert.is(expandPath('keys/id', '/inv', '/home/u'), '/inv/keys/id');
  assert.is(expandPath('../keys/id', '/inv/sub', '/home/u'), '/inv/keys/id');
  assert.is(expandPath('/etc/key', '/inv', '/home/u'), '/etc/key');
});

test('formatPath quotes keys that are not plain words', () => {
  assert.is(formatPath(['hosts', 'pi-1', 'port']), 'hosts.pi-1.port');
  assert.is(formatPath(['hosts', 'a', 'taints', 0]), 'hosts.a.taints[0]');
  assert.is(formatPath(['hosts', 'a', 'labels', 'clusterseed.io/arch-pool']), 'hosts.a.labels["clusterseed.io/arch-pool"]');
  assert.is(formatPath([]), '');
});

test.run();
