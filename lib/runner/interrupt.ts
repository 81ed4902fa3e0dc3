// SIGINT/SIGTERM during a run: the first one stops new work (no further connection, role or task
// starts) and gives the running tasks `graceMs` to finish; when that runs out, or at a second
// signal, the running tasks are abandoned (connections closed). The run then prints its recap,
// writes its JSON report and releases its locks; the command exits 130. A third signal exits at
// once (130; the state lock is still released by its exit hook).
import type { Logger } from './types.ts';

export const INTERRUPT_EXIT_CODE = 130;
/** how long running tasks may take to finish after the first signal */
export const DEFAULT_GRACE_MS = 30_000;

export interface Interrupts {
  stop: AbortSignal;
  abandon: AbortSignal;
  /** the first signal's name, once one arrived */
  reason(): string | undefined;
  /** remove the signal handlers (the default behaviour comes back) */
  dispose(): void;
}

export function watchInterrupts(log: Logger, graceMs = graceFromEnv()): Interrupts {
  const stop = new AbortController();
  const abandon = new AbortController();
  let first: string | undefined;
  let count = 0;
  let timer: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      first = signal;
      log.warn(
        `${signal}: stopping; no new task starts, running tasks get ${Math.round(graceMs / 1000)} s to finish` +
          ` (${signal} again abandons them now)`,
      );
      stop.abort();
      timer = setTimeout(() => abandon.abort(), graceMs);
      timer.unref();
    } else if (count === 2) {
      abandon.abort();
    } else {
      process.exit(INTERRUPT_EXIT_CODE);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    stop: stop.signal,
    abandon: abandon.signal,
    reason: () => first,
    dispose() {
      if (timer) clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** CLUSTERSEED_INTERRUPT_GRACE_MS overrides the grace (tests use a short one) */
function graceFromEnv(): number {
  const v = Number(process.env.CLUSTERSEED_INTERRUPT_GRACE_MS);
  return Number.isFinite(v) && v >= 0 ? v : DEFAULT_GRACE_MS;
}
