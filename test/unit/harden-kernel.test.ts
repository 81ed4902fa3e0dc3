// harden's kernel side: one-way sysctls, per-interface network knobs, rp_filter under a user CNI,
// and the module blacklist guard.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { deepMerge } from '../../lib/inventory/merge.ts';
import { parseInventory } from '../../lib/inventory/load.ts';
import type { HostContext, Task } from '../../lib/runner/types.ts';
import type { ExecOptions, ExecResult, Transport } from '../../lib/ssh/types.ts';
import { sysctl } from '../../lib/blocks/sysctl.ts';
import { VarsReader } from '../../lib/settings/index.ts';
import { baseDefaults } from '../../roles/base/index.ts';
import { hardenDefaults } from '../../roles/harden/index.ts';
import { hardenTasks } from '../../roles/harden/tasks.ts';
import { readFilesystems, readProtocols } from '../../roles/harden/filesystems.ts';
import { INTERFACE_SYSCTL_FILE, interfaceSysctlTask, renderInterfaceConf, interfaceKnobs } from '../../roles/harden/interface-sysctl.ts';
import { readSysctl, SYSCTL_FILE } from '../../roles/harden/sysctl.ts';
import { factQueries, inState, probed } from '../support/probe-state.ts';
import { DEBIAN_FACTS, hostContext } from '../support/host-context.ts';

const reader = (over: Record<string, unknown> = {}) =>
  new VarsReader('/inv/inventory.yaml: host n1', deepMerge(hardenDefaults, over), 'vars.harden');

/** A transport that records what the plan's apply would run and upload. */
class Recorder {
  scripts: string[] = [];
  uploads = new Map<string, string>();
  async exec(script: string, _o?: ExecOptions): Promise<ExecResult> {
    this.scripts.push(script);
    return { code: 0, stdout: '', stderr: '' };
  }
  async upload(p: string, content: string | Buffer) {
    this.uploads.set(p, String(content));
  }
}

function ctxOf(conn: Recorder, container = '') {
  const warnings: string[] = [];
  const ctx = {
    conn: conn as unknown as Transport,
    facts: { kernel: '6.1', container },
    log: { info() {}, verbose() {}, debug() {}, warn: (m: string) => warnings.push(m) },
  } as unknown as HostContext;
  return { ctx, warnings };
}

// ---- one-way sysctls -------------------------------------------------------------------------

test('relaxing kexec_load_disabled / unprivileged_bpf_disabled persists the file and reports a reboot, without failing or flapping', async () => {
  const values = { 'kernel.kexec_load_disabled': 0, 'kernel.unprivileged_bpf_disabled': 0, 'kernel.kptr_restrict': 2 };
  const task = sysctl({ file: SYSCTL_FILE, values });
  const live = '/proc/sys/kernel/kexec_load_disabled:1\n/proc/sys/kernel/unprivileged_bpf_disabled:1\n/proc/sys/kernel/kptr_restrict:1\n';

  // first run: the file is written and kptr_restrict set; the one-way keys are not written live
  const conn = new Recorder();
  const { ctx, warnings } = ctxOf(conn);
  const change = await task.plan(probed(task, live), ctx);
  assert.ok(change && 'apply' in change);
  assert.match(change.summary, /reboot needed for kernel\.kexec_load_disabled: 1 -> 0, kernel\.unprivileged_bpf_disabled: 1 -> 0/);
  await change.apply(ctx);
  assert.match(conn.uploads.get(SYSCTL_FILE)!, /^kernel\.kexec_load_disabled = 0$/m);
  assert.equal(conn.scripts, [`echo '2' > '/proc/sys/kernel/kptr_restrict'`]);
  assert.ok(
    warnings.some((w) => /kernel\.kexec_load_disabled=0 needs a reboot/.test(w)),
    warnings.join('\n'),
  );

  // next run, still before the reboot: nothing to change, the reboot is still reported
  const { ctx: ctx2, warnings: w2 } = ctxOf(new Recorder());
  const again = '/proc/sys/kernel/kexec_load_disabled:1\n/proc/sys/kernel/unprivileged_bpf_disabled:1\n/proc/sys/kernel/kptr_restrict:2\n';
  assert.ok(inState(await task.plan(probed(task, again, { [SYSCTL_FILE]: conn.uploads.get(SYSCTL_FILE)! }), ctx2)));
  assert.is(w2.length, 2);

  // tightening still works live; unprivileged_bpf_disabled=2 may still go to 1
  const tighten = sysctl({ file: SYSCTL_FILE, values: { 'kernel.kexec_load_disabled': 1, 'kernel.unprivileged_bpf_disabled': 1 } });
  const c3 = await tighten.plan(
    probed(tighten, '/proc/sys/kernel/kexec_load_disabled:0\n/proc/sys/kernel/unprivileged_bpf_disabled:2\n'),
    ctxOf(new Recorder()).ctx,
  );
  assert.match((c3 as { summary: string }).summary, /set kernel\.kexec_load_disabled: 0 -> 1, kernel\.unprivileged_bpf_disabled: 2 -> 1/);
});

// ---- per-interface knobs ---------------------------------------------------------------------

test('send_redirects and the other OR-combined knobs are set on every existing interface and persisted as a glob', async () => {
  const values = readSysctl(reader()).values;
  const task = interfaceSysctlTask(values);
  assert.match(factQueries(task), /\/proc\/sys\/net\/ipv4\/conf\/\*\/send_redirects/);
  const live = [
    '/proc/sys/net/ipv4/conf/all/send_redirects:0',
    '/proc/sys/net/ipv4/conf/default/send_redirects:0',
    '/proc/sys/net/ipv4/conf/eth0/send_redirects:1',
    '/proc/sys/net/ipv4/conf/lo/send_redirects:0',
    '/proc/sys/net/ipv4/conf/eth0.200/secure_redirects:1',
    '/proc/sys/net/ipv6/conf/eth0/accept_redirects:1',
  ].join('\n');
  const conn = new Recorder();
  const { ctx } = ctxOf(conn, 'systemd-nspawn');
  const change = await task.plan(probed(task, live), ctx);
  assert.ok(change && 'apply' in change);
  assert.match(change.summary, /net\.ipv4\.conf\.eth0\.send_redirects: 1 -> 0/);
  assert.match(change.summary, /net\.ipv4\.conf\.eth0\.200\.secure_redirects: 1 -> 0/);
  assert.match(change.summary, /net\.ipv6\.conf\.eth0\.accept_redirects: 1 -> 0/);
  assert.not.match(change.summary, /conf\.(all|default|lo)\./);
  await change.apply(ctx);
  const file = conn.uploads.get(INTERFACE_SYSCTL_FILE)!;
  assert.match(file, /^net\.ipv4\.conf\.\*\.send_redirects = 0$/m);
  assert.match(file, /^-net\.ipv4\.conf\.all\.send_redirects$/m);
  assert.match(file, /^net\.ipv6\.conf\.\*\.accept_redirects = 0$/m);
  assert.match(conn.scripts[0], /echo '0' > '\/proc\/sys\/net\/ipv4\/conf\/eth0\/send_redirects'/);

  // converged: file in place, every interface at 0
  const done = live.replace(/:1$/gm, ':0');
  assert.is(await task.plan(probed(task, done, { [INTERFACE_SYSCTL_FILE]: file }), ctx), null);
  // knobs where conf/all decides on its own are not repeated per interface
  assert.not.ok(interfaceKnobs(values).some((k) => /rp_filter|log_martians|source_route/.test(k.knob)));
  assert.is(
    renderInterfaceConf([])
      .split('\n')
      .filter((l) => l && !l.startsWith('#')).length,
    0,
  );
});

test('the harden role builds the per-interface task from its sysctl values', async () => {
  const tasks = await hardenTasksFor('vxlan');
  assert.ok(tasks.some((t) => t.files?.some((f) => f.path === INTERFACE_SYSCTL_FILE)));
});

// ---- rp_filter under a user CNI ----------------------------------------------------------------

async function hardenTasksFor(backend: string, hostVars = ''): Promise<Task[]> {
  const inventory = parseInventory(
    `
cluster: { name: lab, k3s_version: v1.31.4+k3s1, flannel_backend: ${backend} }
defaults: { user: admin }
hosts:
  s1: { address: 10.0.0.1${hostVars} }
groups: { servers: [s1] }
`,
    '/inv/inventory.yaml',
  );
  const host = inventory.hosts[0];
  const ctx = hostContext({
    host,
    inventory,
    conn: new Recorder() as unknown as Transport,
    facts: { ...DEBIAN_FACTS, sshdVersion: '' },
    vars: deepMerge(hardenDefaults, host.vars.harden as Record<string, unknown>),
  });
  return hardenTasks(ctx, { baseDefaults, freshLogin: async () => undefined });
}

/** The probe of harden's sysctl task: it reads the /proc path of every key the role manages. */
async function hardenSysctlFile(backend: string, hostVars = ''): Promise<string> {
  const tasks = await hardenTasksFor(backend, hostVars);
  return factQueries(tasks.find((t) => t.files?.some((f) => f.path === SYSCTL_FILE))!);
}

test('flannel_backend none: rp_filter is left to the CNI unless the inventory sets it', async () => {
  assert.match(await hardenSysctlFile('vxlan'), /net\/ipv4\/conf\/all\/rp_filter/);
  assert.not.match(await hardenSysctlFile('none'), /rp_filter/);
  assert.match(
    await hardenSysctlFile('none', `, vars: { harden: { sysctl: { values: { net.ipv4.conf.all.rp_filter: 1 } } } }`),
    /net\/ipv4\/conf\/all\/rp_filter/,
  );
  const sys = readSysctl(reader(), { userCni: true });
  assert.not.ok(Object.keys(sys.values).some((k) => k.endsWith('.rp_filter')));
  assert.ok(sys.unmanaged.some((u) => /net\.ipv4\.conf\.all\.rp_filter \(flannel_backend: none/.test(u)));
});

// ---- module blacklist guard --------------------------------------------------------------------

test('modules K3s needs cannot be blacklisted', () => {
  for (const m of ['overlay', 'br_netfilter', 'vxlan', 'wireguard', 'nf_conntrack', 'iptable_nat', 'ip_vs_rr', 'xt_conntrack', 'nf-nat']) {
    assert.throws(
      () => readProtocols(reader({ network_protocols: { blacklist: ['dccp', m] } })),
      new RegExp(
        `vars\\.harden\\.network_protocols\\.blacklist\\[1\\]: expected a protocol module name that K3s does not need \\(${m} is loaded by K3s`,
      ),
      m,
    );
    assert.throws(
      () => readFilesystems(reader({ filesystems: { blacklist: [m] } })),
      /filesystems\.blacklist\[0\]: expected a filesystem module name that K3s does not need/,
      m,
    );
  }
  assert.equal(readProtocols(reader()), ['dccp', 'rds', 'tipc']);
  assert.equal(readFilesystems(reader({ filesystems: { blacklist: ['cramfs', 'udf', 'cramfs'] } })), ['cramfs', 'udf']);
});

test.run();
