import { writeFileSync } from 'node:fs';
import type { RunReport } from './types.ts';
import { mask } from '../report/mask.ts';

/** The machine-readable report (--json FILE); secrets masked like every other output. */
export function writeJsonReport(file: string, report: RunReport, extra: Record<string, unknown> = {}): void {
  writeFileSync(file, mask(JSON.stringify({ ...report, ...extra }, null, 2)) + '\n', { mode: 0o600 });
}
