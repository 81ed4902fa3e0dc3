import { UsageError } from './args.ts';
import { mask } from '../lib/report/mask.ts';

/** errors that describe bad input or a refused operation, not a bug */
const USER_ERRORS = new Set([
  'InventoryError',
  'ModelError',
  'RepoValidationError',
  'MissingSecretsError',
  'PublishConflictError',
  'RepoNotSafeError',
]);

/** A user error becomes one readable message (no stack trace); anything else is a bug and returns null. */
export function formatUserError(err: unknown): string | null {
  if (err instanceof UsageError) return `error: ${err.message}`;
  if (err && typeof err === 'object' && 'userError' in err && (err as { userError?: unknown }).userError) {
    const e = err as unknown as { format?: () => string; message: string };
    return mask(e.format ? e.format() : `error: ${e.message}`);
  }
  if (err && typeof err === 'object' && USER_ERRORS.has((err as Error).name)) {
    const e = err as { format?: () => string; message: string };
    return mask(e.format ? e.format() : e.message);
  }
  return null;
}
