// Kubernetes resource quantities -> numbers: CPU in millicores, memory in MiB. Unlike
// quota.ts' inventory parsers these accept 0 and every suffix the API server accepts.
const MEM: Record<string, number> = {
  '': 1 / 1048576,
  k: 1000 / 1048576,
  K: 1000 / 1048576,
  M: 1e6 / 1048576,
  G: 1e9 / 1048576,
  T: 1e12 / 1048576,
  Ki: 1 / 1024,
  Mi: 1,
  Gi: 1024,
  Ti: 1024 * 1024,
  m: 1 / 1000 / 1048576,
};

export function milliCpu(v: unknown): number | undefined {
  if (typeof v === 'number') return v * 1000;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(v.trim());
  if (!m) return undefined;
  return m[2] ? Number(m[1]) : Number(m[1]) * 1000;
}

export function memoryMi(v: unknown): number | undefined {
  if (typeof v === 'number') return v / 1048576;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T|m)?$/.exec(v.trim());
  if (!m) return undefined;
  return Number(m[1]) * MEM[m[2] ?? ''];
}

export function fmtCpu(m: number): string {
  return m % 1000 === 0 ? String(m / 1000) : `${Math.round(m)}m`;
}

export function fmtMem(mi: number): string {
  return mi % 1024 === 0 ? `${mi / 1024}Gi` : `${Math.round(mi)}Mi`;
}
