// Where a K3s release keeps its files, the way the official installer (get.k3s.io) finds them:
//   <base>/download/<version>/k3s<suffix>            the binary for one architecture
//   <base>/download/<version>/sha256sum-<arch>.txt   "<sha256>  <file name>" lines for that architecture
//   <base>/download/<version>/k3s-airgap-images-<arch>.tar.zst   optional image bundle
// The installer maps `uname -m` to <arch>/<suffix> exactly as RELEASE_ARCHES below does.

/** The default base URL: the official K3s GitHub releases. */
export const DEFAULT_K3S_RELEASES = 'https://github.com/k3s-io/k3s/releases';

export interface ReleaseArch {
  /** `uname -m` of the host */
  machine: string;
  /** K3s's name for the architecture in checksum and image file names */
  arch: 'amd64' | 'arm64' | 'arm';
  /** file name of the binary in the release */
  binary: string;
}

const RELEASE_ARCHES: Record<string, Omit<ReleaseArch, 'machine'>> = {
  x86_64: { arch: 'amd64', binary: 'k3s' },
  amd64: { arch: 'amd64', binary: 'k3s' },
  aarch64: { arch: 'arm64', binary: 'k3s-arm64' },
  arm64: { arch: 'arm64', binary: 'k3s-arm64' },
  armv7l: { arch: 'arm', binary: 'k3s-armhf' },
  armv6l: { arch: 'arm', binary: 'k3s-armhf' },
};

/** The release files for a host's `uname -m`; throws for architectures K3s does not ship. */
export function releaseArch(machine: string): ReleaseArch {
  const known = RELEASE_ARCHES[machine] ?? (/^arm/.test(machine) ? RELEASE_ARCHES.armv7l : undefined);
  if (!known) {
    throw new Error(`K3s has no release for the architecture "${machine || 'unknown'}" (supported: x86_64, aarch64, armv7l)`);
  }
  return { machine, ...known };
}

export function checksumFile(arch: ReleaseArch['arch']): string {
  return `sha256sum-${arch}.txt`;
}

export function airgapImagesFile(arch: ReleaseArch['arch']): string {
  return `k3s-airgap-images-${arch}.tar.zst`;
}

/** The base URL without trailing slashes; only http(s) is accepted. */
export function normalizeBaseUrl(base: string): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new Error(`K3s release mirror "${base}" is not a URL (expected e.g. ${DEFAULT_K3S_RELEASES})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`K3s release mirror "${base}" must be an http:// or https:// URL`);
  }
  return base.replace(/\/+$/, '');
}

/** URL of one file of a release; the version is path-encoded (`+` → `%2B`). */
export function releaseFileUrl(base: string, version: string, file: string): string {
  return `${normalizeBaseUrl(base)}/download/${encodeURIComponent(version)}/${encodeURIComponent(file)}`;
}

/**
 * Parses a sha256sum file ("<hex>  <name>" or "<hex> *<name>" per line) into name → hash.
 * Lines that are not checksum lines are ignored; a malformed hash is an error.
 */
export function parseChecksums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+)\s+\*?(.+)$/.exec(line);
    if (!m) continue;
    const [, hash, name] = m;
    if (!/^[0-9a-fA-F]{64}$/.test(hash)) throw new Error(`malformed sha256 "${hash}" for ${name}`);
    sums.set(name.trim().replace(/^\.\//, ''), hash.toLowerCase());
  }
  return sums;
}
