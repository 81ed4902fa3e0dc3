// What goes into a lab VM base image, per guest architecture: the packages and the in-chroot setup
// handed to ensureRootfs. Both are part of the rootfs cache key, and the image cache is keyed by the
// rootfs, so editing anything here rebuilds the images once.

export type GuestArch = 'x86_64' | 'aarch64';
export type DebianArch = 'amd64' | 'arm64';

export const DEBIAN_ARCH: Record<GuestArch, DebianArch> = { x86_64: 'amd64', aarch64: 'arm64' };

/** Filesystem label of the per-VM config disk the identity service reads (ext4 labels: ≤ 16 chars). */
export const CONFIG_DISK_LABEL = 'CSLABCFG';

/** Kernel command line the lab boots with, before per-VM additions. */
export function baseKernelArgs(arch: GuestArch): string {
  // rw: root is mounted writable by the initramfs, so systemd skips the fsck + remount round trip.
  return arch === 'x86_64'
    ? 'console=ttyS0 root=/dev/vda rw rootwait mitigations=off'
    : 'console=ttyAMA0 root=/dev/vda rw rootwait mitigations=off';
}

/**
 * The /boot/firmware/cmdline.txt an arm64 lab host starts with: shaped like Raspberry Pi OS's
 * (one line, fsck.repair, rootwait) but with the VM's console and root device so it really boots.
 * After a guest reboot the lab boots the guest with this file's content (see supervisor.ts).
 */
export const PI_CMDLINE_TXT = 'console=ttyAMA0 root=/dev/vda rootfstype=ext4 fsck.repair=yes rootwait rw mitigations=off\n';

export interface ImageRecipe {
  arch: GuestArch;
  debArch: DebianArch;
  /** debootstrap's packages: the kernel is not among them, the setup installs it */
  packages: string[];
  /** POSIX sh script run as root inside the rootfs (chroot) after the packages are installed;
   * needs APT_PROXY_ENV in its environment */
  setup: string;
}

/** Environment variable carrying the apt proxy URL into the setup script (see apt-proxy.ts). */
export const APT_PROXY_ENV = 'CLUSTERSEED_LAB_APT_PROXY';

const COMMON_PACKAGES = [
  'initramfs-tools',
  'openssh-server',
  'systemd-sysv',
  'udev',
  'dbus',
  'sudo',
  'iproute2',
  'kmod',
  'procps',
  'e2fsprogs',
];

// The drivers the initramfs needs to find the root disk. `MODULES=list` keeps it to these (plus
// their dependencies): a few MB instead of ~35 MB, which matters when TCG unpacks it at every boot.
const INITRAMFS_MODULES: Record<GuestArch, string[]> = {
  x86_64: ['virtio_pci', 'virtio_blk', 'ext4'],
  aarch64: ['virtio_pci', 'virtio_mmio', 'virtio_blk', 'virtio_net', 'ext4'],
};

// Applies the per-VM identity from the config disk on the first boot of a clone, and on every
// shutdown copies /boot/firmware/cmdline.txt back to that disk so the lab can boot the guest with it.
// The disk is mounted only for the moment it is used: nothing else orders against that mount.
const IDENTITY_SCRIPT = `#!/bin/sh
set -eu
dev=/dev/disk/by-label/${CONFIG_DISK_LABEL}
mnt=/run/clusterseed-lab-config
state=/var/lib/clusterseed-lab
mkdir -p "$mnt" "$state"
# udev can be slow to name the disk when the host is loaded: wait (the unit has no device
# dependency, whose 90 s default timeout would fail the service and leave sshd without keys)
i=0
while [ ! -e "$dev" ]; do
  i=$((i + 1))
  if [ "$i" -gt 900 ]; then echo "no config disk ($dev) after 15 min" >&2; exit 1; fi
  sleep 1
done
mount -t ext4 "$dev" "$mnt"
trap 'umount "$mnt"' EXIT
case "$1" in
start)
  if [ -f "$state/applied" ] && cmp -s "$mnt/instance-id" "$state/applied"; then exit 0; fi
  for key in "$mnt"/ssh/ssh_host_*_key; do
    install -m 0600 -o root -g root "$key" /etc/ssh/
    install -m 0644 -o root -g root "$key.pub" /etc/ssh/
  done
  name=$(cat "$mnt/hostname")
  printf '%s\\n' "$name" > /etc/hostname
  hostname "$name"
  printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\t%s\\n::1\\tlocalhost ip6-localhost ip6-loopback\\n' "$name" > /etc/hosts
  install -d -m 0700 -o admin -g admin /home/admin/.ssh
  install -m 0600 -o admin -g admin "$mnt/authorized_keys" /home/admin/.ssh/authorized_keys
  # the lab LAN between the VMs (second NIC, static address; the first NIC keeps DHCP)
  if [ -f "$mnt/lan-address" ]; then
    printf '[Match]\nMACAddress=%s\n\n[Network]\nAddress=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' \
      "$(cat "$mnt/lan-mac")" "$(cat "$mnt/lan-address")" > /etc/systemd/network/10-lab-lan.network
  fi
  cp "$mnt/instance-id" "$state/applied"
  ;;
stop)
  if [ -f /boot/firmware/cmdline.txt ]; then
    cp /boot/firmware/cmdline.txt "$mnt/cmdline.txt.new"
    mv "$mnt/cmdline.txt.new" "$mnt/cmdline.txt"
  fi
  sync
  ;;
esac
`;

const IDENTITY_UNIT = `[Unit]
Description=clusterseed lab: per-VM identity and Raspberry Pi cmdline.txt write-back
DefaultDependencies=no
After=local-fs.target systemd-udev-trigger.service
Before=ssh.service systemd-networkd.service shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=20min
ExecStart=/usr/local/lib/clusterseed-lab/identity start
ExecStop=/usr/local/lib/clusterseed-lab/identity stop

[Install]
WantedBy=multi-user.target
`;

const NETWORK_UNIT = `[Match]
Name=en* eth*

[Network]
DHCP=ipv4
`;

function setupScript(arch: GuestArch, kernelPackage: string): string {
  const piCmdline = arch === 'aarch64' ? `mkdir -p /boot/firmware\nprintf '%s' '${PI_CMDLINE_TXT}' > /boot/firmware/cmdline.txt\n` : '';
  return `set -eu
# The kernel is installed here, not by debootstrap, so that its one initramfs build already has
# MODULES=list: just the virtio and ext4 drivers (see apt-proxy.ts for why and how apt gets out).
: "\${${APT_PROXY_ENV}:?must be set by the image build (lib/lab/apt-proxy.ts)}"
printf 'MODULES=list\\nCOMPRESS=gzip\\n' > /etc/initramfs-tools/conf.d/clusterseed-lab.conf
printf '%s\\n' ${INITRAMFS_MODULES[arch].join(' ')} > /etc/initramfs-tools/modules
apt-get -q -y --no-install-recommends -o Acquire::http::Proxy="$${APT_PROXY_ENV}" -o Acquire::https::Proxy="$${APT_PROXY_ENV}" \\
  install ${kernelPackage}
apt-get clean

printf '/dev/vda / ext4 errors=remount-ro 0 1\\n' > /etc/fstab
printf 'nameserver 10.0.2.3\\n' > /etc/resolv.conf
mkdir -p /etc/systemd/network
cat > /etc/systemd/network/20-lab-dhcp.network <<'EOF'
${NETWORK_UNIT}EOF
systemctl enable systemd-networkd.service

# The admin user: key-only login (the key comes per VM), passwordless sudo.
id admin >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --groups sudo admin
usermod --password '*' admin
printf 'admin ALL=(ALL) NOPASSWD:ALL\\n' > /etc/sudoers.d/admin
chmod 0440 /etc/sudoers.d/admin

# Per-VM identity: host keys come from the config disk, the machine id from the kernel command line
# (the rootfs leaves /etc/machine-id empty and has no host keys).
mkdir -p /usr/local/lib/clusterseed-lab
cat > /usr/local/lib/clusterseed-lab/identity <<'EOF'
${IDENTITY_SCRIPT}EOF
chmod 0755 /usr/local/lib/clusterseed-lab/identity
cat > /etc/systemd/system/clusterseed-lab-identity.service <<'EOF'
${IDENTITY_UNIT}EOF
systemctl enable clusterseed-lab-identity.service
# The host keys come from the lab only: drop the rootfs's first-boot key generator, so a late or
# failed identity service means a clear "no SSH" (reason on the console), not keys the lab does
# not know.
rm -f /etc/systemd/system/ssh-host-keys.service /etc/systemd/system/multi-user.target.wants/ssh-host-keys.service
# e2scrub_reap looks for LVM snapshots at every boot: none here, and seconds of CPU under TCG
systemctl mask e2scrub_reap.service
${piCmdline}`;
}

export function imageRecipe(arch: GuestArch): ImageRecipe {
  const debArch = DEBIAN_ARCH[arch];
  return { arch, debArch, packages: COMMON_PACKAGES, setup: setupScript(arch, `linux-image-${debArch}`) };
}
