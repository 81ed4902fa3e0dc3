// Pure edits of host files K3s needs changed: the Raspberry Pi kernel command line and /etc/fstab.

/** Kernel parameters K3s needs on a Raspberry Pi (memory cgroup; cpuset for older kernels). */
export const PI_CGROUP_WORDS = ['cgroup_memory=1', 'cgroup_enable=memory', 'cgroup_enable=cpuset'];

/**
 * The Pi firmware reads cmdline.txt as ONE line. Appends the words that are missing, never a word
 * twice, and folds stray extra lines into the first so a broken file is repaired, not extended.
 */
export function ensureCmdlineWords(current: string, words: string[]): string {
  const existing = current.split(/\s+/).filter(Boolean);
  const missing = words.filter((w, i) => !existing.includes(w) && words.indexOf(w) === i);
  const lines = current
    .replace(/\n+$/, '')
    .split('\n')
    .filter((l) => l.trim() !== '');
  if (missing.length === 0 && lines.length <= 1 && (current === '' || current.endsWith('\n'))) return current;
  const line = lines.map((l) => l.trim()).join(' ');
  return [line, ...missing].filter(Boolean).join(' ') + '\n';
}

/** True when a non-comment fstab line mounts swap (fs type field "swap"). */
function isSwapLine(line: string): boolean {
  const t = line.trim();
  if (!t || t.startsWith('#')) return false;
  const fields = t.split(/\s+/);
  return fields[2] === 'swap';
}

/** /etc/fstab with every active swap entry commented out (kept, so the user can see what it was). */
export function commentOutSwap(fstab: string): string {
  const lines = fstab.split('\n');
  let changed = false;
  const out = lines.map((line) => {
    if (!isSwapLine(line)) return line;
    changed = true;
    return `# ${line} # disabled by clusterseed (K3s)`;
  });
  return changed ? out.join('\n') : fstab;
}

export function activeSwapEntries(fstab: string): string[] {
  return fstab
    .split('\n')
    .filter(isSwapLine)
    .map((l) => l.trim());
}
