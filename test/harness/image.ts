// The image every test host boots: a bare Debian bookworm (no python, nothing preinstalled that a
// freshly installed server would not have), plus the three login users the tests need.
import { ensureRootfs } from '../../lib/lab/rootfs.ts';

export const HOST_PACKAGES = ['openssh-server', 'systemd-sysv', 'udev', 'dbus', 'sudo', 'iproute2', 'kmod', 'procps', 'ca-certificates'];

/** Fixed uids so the harness can own files it writes into a host's tree before boot. */
export const USERS = {
  root: { uid: 0, gid: 0, home: '/root' },
  admin: { uid: 1000, gid: 1000, home: '/home/admin' },
  // Debian already has a system group called "operator" (gid 37): it becomes the user's group
  operator: { uid: 1001, gid: 37, home: '/home/operator' },
} as const;

// admin: passwordless sudo; operator: sudo asking for its password (set per lab at start).
// '*' = no valid password but not locked, so key logins work whatever sshd's UsePAM says.
const SETUP = String.raw`
useradd --create-home --shell /bin/bash --uid ${USERS.admin.uid} --groups sudo admin
useradd --create-home --shell /bin/bash --uid ${USERS.operator.uid} --gid operator --groups sudo operator
usermod -p '*' admin
usermod -p '*' operator
printf 'admin ALL=(ALL:ALL) NOPASSWD:ALL\n' > /etc/sudoers.d/90-admin-nopasswd
chmod 440 /etc/sudoers.d/90-admin-nopasswd
`;

export function ensureHostImage(): Promise<string> {
  return ensureRootfs({ arch: 'amd64', packages: HOST_PACKAGES, variant: 'minbase', setup: SETUP });
}
