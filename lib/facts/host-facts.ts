// The host facts: one probe gathers what every later role decides on (arch, OS, init, Pi or not,
// the OpenSSH version, the ports sshd listens on).
import type { Fact } from './fact.ts';

/** Host facts gathered once per run by the `facts` role (one round trip). */
export interface Facts {
  hostname: string;
  /** uname -m: x86_64, aarch64, armv7l, ... */
  arch: string;
  kernel: string;
  /** /etc/os-release ID and VERSION_ID, e.g. debian 12, ubuntu 24.04, raspbian 12 */
  osId: string;
  osVersion: string;
  osCodename: string;
  /** 'systemd' or whatever PID 1 is */
  init: string;
  /** systemd-detect-virt --container result, '' when not a container */
  container: string;
  /** detected or forced through the inventory's raspberry_pi */
  raspberryPi: boolean;
  /** path of the kernel cmdline file on a Raspberry Pi, '' otherwise */
  piCmdlineFile: string;
  /** OpenSSH server version, e.g. 9.2 ('' when sshd is not installed) */
  sshdVersion: string;
  /**
   * the port this run's connection reached sshd on (SSH_CONNECTION), else every port sshd listens
   * on (sshd -T); differs from the inventory port behind NAT/port forwarding
   */
  sshdPorts?: number[];
}

// Runs on every host on every run: shell builtins (`read` of /proc) where a command is not needed
// (Linux >= 6.1 has kernel.arch; older kernels take uname -m).
export const FACTS_PROBE = [
  'h=; IFS= read -r h 2>/dev/null </proc/sys/kernel/hostname || h=$(hostname 2>/dev/null || cat /etc/hostname)',
  'echo "hostname=$h"',
  'a=; IFS= read -r a 2>/dev/null </proc/sys/kernel/arch || a=$(uname -m)',
  'echo "arch=$a"',
  'k=; IFS= read -r k 2>/dev/null </proc/sys/kernel/osrelease || k=$(uname -r)',
  'echo "kernel=$k"',
  "# shellcheck source=/dev/null # the host's own file",
  'if [ -r /etc/os-release ]; then . /etc/os-release; fi',
  'echo "osId=${ID:-unknown}"',
  'echo "osVersion=${VERSION_ID:-}"',
  'echo "osCodename=${VERSION_CODENAME:-}"',
  'i=; IFS= read -r i 2>/dev/null </proc/1/comm',
  'echo "init=$i"',
  // systemd as PID 1 records the container it runs in (and writes nothing on bare metal or a VM)
  'c=; if [ "$i" = systemd ]; then IFS= read -r c 2>/dev/null </run/systemd/container; else c=$(systemd-detect-virt --container 2>/dev/null); fi',
  '[ "$c" = none ] && c=',
  'echo "container=$c"',
  "m=; [ -r /proc/device-tree/model ] && m=$(tr -d '\\000' </proc/device-tree/model 2>/dev/null)",
  'echo "model=$m"',
  'for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do [ -f "$f" ] && { echo "cmdline=$f"; break; }; done',
  'echo "sshd=$(dpkg-query -W -f=\'${Version}\' openssh-server 2>/dev/null)"',
  // the port this connection reached sshd on (SSH_CONNECTION: client address and port, server
  // address and port); without it (a session that lost it), every port sshd listens on
  '# shellcheck disable=SC2086 # split into its four words on purpose',
  'set -- ${SSH_CONNECTION:-}',
  'if [ $# -eq 4 ]; then echo "sshdPorts=$4"; else',
  '  echo "sshdPorts=$(sshd -T 2>/dev/null | awk \'$1 == "port" { printf "%s ", $2 }\')"',
  'fi',
].join('\n');

export function parseFacts(stdout: string, override?: boolean): Facts {
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) kv.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  const get = (k: string) => kv.get(k) ?? '';
  const detectedPi = /raspberry pi/i.test(get('model'));
  const raspberryPi = override ?? detectedPi;
  const sshd = /^(?:\d+:)?(\d+\.\d+)/.exec(get('sshd'));
  return {
    hostname: get('hostname'),
    arch: get('arch'),
    kernel: get('kernel'),
    osId: get('osId'),
    osVersion: get('osVersion'),
    osCodename: get('osCodename'),
    init: get('init'),
    container: get('container'),
    raspberryPi,
    piCmdlineFile: raspberryPi ? get('cmdline') || '/boot/firmware/cmdline.txt' : '',
    sshdVersion: sshd ? sshd[1] : '',
    sshdPorts: get('sshdPorts')
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0),
  };
}

/** The host facts: one probe, run first on every host (the runner's facts step, lib/runner/facts-role.ts). */
export const hostFacts: Fact<Facts> = {
  name: 'host',
  command: () => FACTS_PROBE,
  parse: (stdout) => parseFacts(stdout),
};

/** One line for -v. */
export function describeFacts(f: Facts): string {
  return (
    `facts: ${f.osId} ${f.osVersion} ${f.arch} kernel ${f.kernel}` +
    ` init=${f.init}${f.container ? ` container=${f.container}` : ''}` +
    `${f.raspberryPi ? ' raspberry-pi' : ''}`
  );
}
