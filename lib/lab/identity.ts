// Per-VM identity, made on the control machine so the lab knows it before the guest boots:
// SSH host keys (recorded in the lab's known_hosts, so the first connection is already verified),
// a machine id (passed as systemd.machine_id= on the first boot), the host name and the admin key.
// They reach the guest on a small ext4 "config disk" (mkfs.ext4 -d: no loop mount) that the image's
// clusterseed-lab-identity.service applies on first boot; at every guest shutdown that service
// copies /boot/firmware/cmdline.txt back onto the disk, where readGuestCmdline() finds it.
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateSshKeyPair } from '../ssh/keygen.ts';
import { CONFIG_DISK_LABEL } from './recipe.ts';
import { runOk } from '../process/index.ts';

const HOST_KEY_TYPES = [
  { type: 'ed25519', file: 'ssh_host_ed25519_key' },
  { type: 'ecdsa', file: 'ssh_host_ecdsa_key', bits: 256 },
  { type: 'rsa', file: 'ssh_host_rsa_key', bits: 3072 },
] as const;

export interface VmIdentity {
  hostname: string;
  machineId: string;
  instanceId: string;
  /** "type base64" of each host public key */
  hostPublicKeys: string[];
}

export interface KeyPair {
  private: string;
  public: string;
}

export function generateKeyPair(type: 'ed25519' | 'ecdsa' | 'rsa', comment: string, bits?: number): KeyPair {
  return generateSshKeyPair(type, { comment, bits });
}

/** Writes the lab's admin key pair (ed25519) unless it exists; returns the public key line. */
export function ensureLabKey(keyPath: string, publicKeyPath: string, comment: string): string {
  if (!fs.existsSync(keyPath) || !fs.existsSync(publicKeyPath)) {
    const pair = generateKeyPair('ed25519', comment);
    fs.writeFileSync(keyPath, pair.private, { mode: 0o600 });
    fs.writeFileSync(publicKeyPath, `${pair.public}\n`, { mode: 0o644 });
  }
  return fs.readFileSync(publicKeyPath, 'utf8').trim();
}

/**
 * Makes the config disk for one VM at `imagePath` and returns the identity it carries.
 * Private host keys exist only inside that image (mode 0600) and, later, in the guest.
 */
/** A VM's interface on the lab LAN: its MAC and its address with prefix length ("172.30.213.11/24"). */
export interface LanInterface {
  mac: string;
  address: string;
}

export async function writeConfigDisk(imagePath: string, hostname: string, authorizedKey: string, lan?: LanInterface): Promise<VmIdentity> {
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'clusterseed-vmlab-config-'));
  try {
    const identity: VmIdentity = {
      hostname,
      machineId: randomBytes(16).toString('hex'),
      instanceId: randomUUID(),
      hostPublicKeys: [],
    };
    fs.mkdirSync(path.join(staging, 'ssh'), { mode: 0o700 });
    for (const k of HOST_KEY_TYPES) {
      const pair = generateKeyPair(k.type, `root@${hostname}`, 'bits' in k ? k.bits : undefined);
      fs.writeFileSync(path.join(staging, 'ssh', k.file), pair.private, { mode: 0o600 });
      fs.writeFileSync(path.join(staging, 'ssh', `${k.file}.pub`), `${pair.public}\n`);
      identity.hostPublicKeys.push(pair.public.split(/\s+/).slice(0, 2).join(' '));
    }
    fs.writeFileSync(path.join(staging, 'hostname'), `${hostname}\n`);
    fs.writeFileSync(path.join(staging, 'instance-id'), `${identity.instanceId}\n`);
    fs.writeFileSync(path.join(staging, 'authorized_keys'), `${authorizedKey}\n`);
    if (lan) {
      fs.writeFileSync(path.join(staging, 'lan-mac'), `${lan.mac}\n`);
      fs.writeFileSync(path.join(staging, 'lan-address'), `${lan.address}\n`);
    }
    fs.rmSync(imagePath, { force: true });
    // no journal: the host reads the disk with debugfs, which does not replay one
    await runOk(['mkfs.ext4', '-q', '-F', '-O', '^has_journal', '-L', CONFIG_DISK_LABEL, '-d', staging, imagePath, '8M']);
    fs.chmodSync(imagePath, 0o600);
    return identity;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * The /boot/firmware/cmdline.txt the guest had when it last shut down cleanly, or undefined when it
 * has none (x86 hosts) or never shut down yet. Read with debugfs: no mount needed.
 */
export async function readGuestCmdline(configDisk: string): Promise<string | undefined> {
  const out = await runOk(['debugfs', '-R', 'cat /cmdline.txt', configDisk]).catch(() => '');
  // debugfs prints nothing on stdout for a missing file (the error goes to stderr)
  const line = out
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  return line || undefined;
}

/** known_hosts lines for a VM reachable at 127.0.0.1:port. */
export function knownHostsLines(port: number, hostPublicKeys: string[]): string[] {
  return hostPublicKeys.map((key) => `[127.0.0.1]:${port} ${key}`);
}
