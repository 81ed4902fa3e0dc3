// k3s-prereq's kernel parameters: what the role would write and set on a node, from a real
// inventory through the loader.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { parseInventory } from '../../lib/inventory/load.ts';
import { deepMerge } from '../../lib/inventory/merge.ts';
import type { HostContext, Task } from '../../lib/runner/types.ts';
import type { Transport } from '../../lib/ssh/types.ts';
import { K3S_SYSCTL_FILE, k3sPrereqRole, rebootHandler } from '../../roles/k3s-prereq/index.ts';
import { probed } from '../support/probe-state.ts';
import { hostContext } from '../support/host-context.ts';

const inventoryText = (cidrs: string) => `
cluster:
  name: lab
  k3s_version: v1.31.4+k3s1
${cidrs}
defaults: { user: admin }
hosts:
  s1: { address: 10.0.0.1 }
groups:
  servers: [s1]
`;

function ctxFor(cidrs: string, uploads: Map<string, string>): HostContext {
  const inventory = parseInventory(inventoryText(cidrs), '/inv/inventory.yaml');
  const conn = {
    async upload(path: string, content: string | Buffer) {
      uploads.set(path, String(content));
    },
    async exec() {
      return { code: 0, stdout: '', stderr: '' };
    },
  } as unknown as Transport;
  return hostContext({ host: inventory.hosts[0], inventory, conn, vars: deepMerge(k3sPrereqRole.defaults) });
}

/** The K3s sysctl file the role writes on a node whose live values are all 0. */
async function k3sSysctlFile(cidrs: string): Promise<string> {
  const uploads = new Map<string, string>();
  const ctx = ctxFor(cidrs, uploads);
  const tasks = (await k3sPrereqRole.tasks(ctx)) as Task[];
  const task = tasks.find((t) => t.files?.some((f) => f.path === K3S_SYSCTL_FILE))!;
  const keys = [
    'net/ipv4/ip_forward',
    'net/ipv6/conf/all/forwarding',
    'net/ipv6/conf/default/forwarding',
    'net/bridge/bridge-nf-call-iptables',
    'net/bridge/bridge-nf-call-ip6tables',
  ];
  const change = await task.plan(probed(task, keys.map((k) => `/proc/sys/${k}:0`).join('\n')), ctx);
  assert.ok(change && 'apply' in change);
  await change.apply(ctx);
  return uploads.get(K3S_SYSCTL_FILE)!;
}

test('IPv6 forwarding is left alone on an IPv4-only cluster (K3s sets it only for IPv6 clusters)', async () => {
  const file = await k3sSysctlFile('');
  assert.match(file, /^net\.ipv4\.ip_forward = 1$/m);
  assert.match(file, /^net\.bridge\.bridge-nf-call-iptables = 1$/m);
  assert.not.match(file, /ipv6\.conf\.[a-z]+\.forwarding/);
});

test('IPv6 forwarding is on for a dual-stack or IPv6 cluster', async () => {
  for (const cidrs of [
    '  cluster_cidr: 10.42.0.0/16,2001:cafe:42::/56\n  service_cidr: 10.43.0.0/16,2001:cafe:43::/112',
    '  cluster_cidr: 2001:cafe:42::/56\n  service_cidr: 2001:cafe:43::/112',
  ]) {
    const file = await k3sSysctlFile(cidrs);
    assert.match(file, /^-net\.ipv6\.conf\.all\.forwarding = 1$/m, cidrs);
    assert.match(file, /^-net\.ipv6\.conf\.default\.forwarding = 1$/m, cidrs);
  }
});

test('a reboot_timeout that is not a number stops the reboot handler with the field named, before any reboot', async () => {
  const uploads = new Map<string, string>();
  const ctx = ctxFor('', uploads);
  const scripts: string[] = [];
  ctx.conn.exec = (async (script: string) => {
    scripts.push(script);
    return { code: 0, stdout: '', stderr: '' };
  }) as Transport['exec'];
  for (const bad of ['10m', '600', 0]) {
    ctx.host = { ...ctx.host, vars: { ...ctx.host.vars, 'k3s-prereq': { reboot_timeout: bad } } };
    try {
      // bounded: with NaN seconds the old handler waited for the host forever
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the handler did not stop within 5 s')), 5000);
      });
      await Promise.race([rebootHandler.run(ctx), timeout]).finally(() => clearTimeout(timer));
      assert.unreachable('must fail');
    } catch (err) {
      assert.match(
        (err as Error).message,
        /\/inv\/inventory\.yaml: host s1: vars\.k3s-prereq\.reboot_timeout: expected an integer from 30 to 7200/,
      );
    }
  }
  assert.equal(scripts, [], 'nothing ran on the host');
});

test("the reboot handler reads k3s-prereq's reboot_timeout also when harden notifies it (the Pi's AppArmor flags)", async () => {
  // seen in the VM tier: under harden, ctx.vars are harden's and had no reboot_timeout, so the
  // handler failed with "got nothing" and the Pi never rebooted into its new command line
  const ctx = ctxFor('', new Map());
  ctx.vars = { sshd: {}, firewall: {} };
  ctx.conn.exec = (async () => {
    throw new Error('reached the host');
  }) as Transport['exec'];
  try {
    await rebootHandler.run(ctx);
    assert.unreachable('must reach the host');
  } catch (err) {
    assert.is((err as Error).message, 'reached the host');
  }
});

test.run();
