// Network knobs that conf/all alone does not decide. The kernel combines conf/all and the
// interface's own value per knob (Linux Documentation/networking/ip-sysctl.rst):
//   send_redirects, secure_redirects: on when ALL OR the interface says on;
//   accept_redirects (IPv4): the AND when the interface forwards, the OR when it does not;
//   accept_redirects (IPv6): the interface's own value (conf/all is not consulted).
// conf/default only seeds interfaces created after it was set, so eth0, up before sysctl.d is
// applied at boot, keeps send_redirects=1 while all=0. The same value is therefore set on every
// interface now, and persisted as a systemd-sysctl glob (sysctl.d(5)), which systemd-udevd's
// 99-systemd.rules also applies to every interface that appears later (K3s's cni0, flannel.1, veths).
// Knobs where conf/all is enough are not repeated: rp_filter (the max of all and the interface),
// log_martians (OR; we want it on), accept_source_route (IPv4: all must also allow it; IPv6: the
// min of all and the interface).
import type { Change, HostContext, Task } from '../../lib/runner/types.ts';
import { fileFact, sha256 } from '../../lib/blocks/file.ts';
import { liveSettable } from '../../lib/blocks/sysctl.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { putFile } from '../../lib/blocks/remote.ts';
import { factOf, need } from '../../lib/facts/fact.ts';
import { sysctlFact, type SysctlValues } from '../../lib/facts/sysctl.ts';

/** sorts before zz-clusterseed-harden.conf, whose explicit all/default values are applied after it */
export const INTERFACE_SYSCTL_FILE = '/etc/sysctl.d/zz-clusterseed-harden-interfaces.conf';

type Family = 'ipv4' | 'ipv6';
const PER_INTERFACE: Array<{ family: Family; knob: string }> = [
  { family: 'ipv4', knob: 'send_redirects' },
  { family: 'ipv4', knob: 'secure_redirects' },
  { family: 'ipv4', knob: 'accept_redirects' },
  { family: 'ipv6', knob: 'accept_redirects' },
];

export interface InterfaceKnob {
  family: Family;
  knob: string;
  value: string;
}

/** The per-interface knobs the hardening values set for conf/all, with that value. */
export function interfaceKnobs(values: Record<string, string | number>): InterfaceKnob[] {
  return PER_INTERFACE.flatMap(({ family, knob }) => {
    const v = values[`net.${family}.conf.all.${knob}`];
    return v === undefined ? [] : [{ family, knob, value: String(v) }];
  });
}

export function renderInterfaceConf(knobs: InterfaceKnob[]): string {
  const lines = [
    '# Managed by clusterseed (role harden): the values conf/all gets, on every interface too,',
    '# including those that appear later (systemd-udevd applies net.*.conf.* globs to new interfaces).',
  ];
  for (const { family, knob, value } of knobs) {
    // all and default keep the explicit values of zz-clusterseed-harden.conf
    lines.push(`net.${family}.conf.*.${knob} = ${value}`, `-net.${family}.conf.all.${knob}`, `-net.${family}.conf.default.${knob}`);
  }
  return lines.join('\n') + '\n';
}

const procPathOf = (k: InterfaceKnob, iface: string) => `/proc/sys/net/${k.family}/conf/${iface}/${k.knob}`;

/** grep -H lines → the interfaces (not all/default) whose knob differs from the wanted value. */
export function interfacesToFix(output: string, knobs: InterfaceKnob[]): Array<{ knob: InterfaceKnob; iface: string; live: string }> {
  const out: Array<{ knob: InterfaceKnob; iface: string; live: string }> = [];
  for (const line of output.split('\n')) {
    const m = /^\/proc\/sys\/net\/(ipv4|ipv6)\/conf\/([^/]+)\/([a-z_]+):(.*)$/.exec(line);
    if (!m) continue;
    const [, family, iface, name, live] = m;
    if (iface === 'all' || iface === 'default') continue;
    const knob = knobs.find((k) => k.family === family && k.knob === name);
    if (knob && live.trim() !== knob.value) out.push({ knob, iface, live: live.trim() });
  }
  return out;
}

/** The sysctl fact as the `path:value` lines grep -H printed. */
function grepLines(values: SysctlValues): string {
  return [...values].map(([path, value]) => `${path}:${value}`).join('\n');
}

export function interfaceSysctlTask(values: Record<string, string | number>): Task {
  const knobs = interfaceKnobs(values);
  const content = renderInterfaceConf(knobs);
  return {
    name: 'network hardening on every interface (sysctl)',
    files: [{ path: INTERFACE_SYSCTL_FILE, hash: true }],
    // every interface's knobs: patterns in the sysctl fact (lib/facts/sysctl.ts), read in the same grep as every other sysctl of the batch
    facts: knobs.length
      ? [
          need(
            sysctlFact,
            knobs.map((k) => `/proc/sys/net/${k.family}/conf/*/${k.knob}`),
          ),
        ]
      : undefined,
    plan(state, ctx: HostContext): Change | null {
      const fact = fileFact(state, INTERFACE_SYSCTL_FILE);
      const fileDiffers = knobs.length ? fact.sha256 !== sha256(content) : fact.exists;
      const fix = interfacesToFix(knobs.length ? grepLines(factOf(state, sysctlFact)) : '', knobs).filter(({ knob }) =>
        liveSettable(`net.${knob.family}.conf`, ctx.facts.container),
      );
      if (!fileDiffers && fix.length === 0) return null;
      const parts: string[] = [];
      if (fileDiffers) parts.push(knobs.length ? `write ${INTERFACE_SYSCTL_FILE}` : `remove ${INTERFACE_SYSCTL_FILE}`);
      if (fix.length)
        parts.push(
          `set ${fix.map(({ knob, iface, live }) => `net.${knob.family}.conf.${iface}.${knob.knob}: ${live} -> ${knob.value}`).join(', ')}`,
        );
      return {
        summary: parts.join('; '),
        async apply(c) {
          if (fileDiffers && knobs.length) await putFile(c, INTERFACE_SYSCTL_FILE, content, { mode: 0o644 });
          if (fileDiffers && !knobs.length) await run(c, `rm -f ${q(INTERFACE_SYSCTL_FILE)}`, `remove ${INTERFACE_SYSCTL_FILE}`);
          // an interface (a pod's veth) may be gone by now: only those still there are written
          if (fix.length) {
            await run(
              c,
              fix
                .map(
                  ({ knob, iface }) =>
                    `{ [ ! -e ${q(procPathOf(knob, iface))} ] || echo ${q(knob.value)} > ${q(procPathOf(knob, iface))}; }`,
                )
                .join(' && '),
              'sysctl write per interface',
            );
          }
        },
      };
    },
  };
}
