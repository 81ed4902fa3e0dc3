import { UsageError } from './args.ts';
import { mask } from '../report/mask.ts';

/** A user error becomes one readable message (no stack trace); anything else is a bug and returns null. */
export function formatUserError(err: unknown): string | null {
  if (err instanceof UsageError) return `error: ${err.message}`;
  if (err && typeof err === 'object' && 'userError' in err && (err as any).userError) {
    const e = err as unknown as { format?: () => string; message: string };
    return mask(e.format ? e.format() : `error: ${e.message}`);
  }
  if (err && typeof err === 'object' && (err as Error).name === 'InventoryError') {
    const e = err as { format?: () => string; message: string };
    return mask(e.format ? e.format() : e.message);
  }
  return null;
}
