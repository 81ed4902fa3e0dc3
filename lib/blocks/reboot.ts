// Reboot a host and wait for it: the reboot is scheduled by PID 1 (so it happens after this SSH
// session has returned), then the run's connection is re-established until the host answers with
// a different boot mark, all bounded by one timeout. Used by handlers that need a new kernel
// command line to take effect (k3s-prereq's cgroup flags, harden's AppArmor flags on a Pi).
import type { HostContext } from '../runner/types.ts';
import { attempt } from './remote.ts';
import { run } from './shell.ts';

/** boot_id changes with every kernel boot; PID 1's start time changes when a container restarts. */
export const BOOT_MARK = `cat /proc/sys/kernel/random/boot_id; cut -d' ' -f22 /proc/1/stat`;

/** scheduled by PID 1 two seconds ahead (systemd-run), else a detached sleep-and-reboot */
export const SCHEDULE_REBOOT =
  `if command -v systemd-run >/dev/null 2>&1; then systemd-run --quiet --on-active=2 --timer-property=AccuracySec=100ms /bin/systemctl reboot; ` +
  `else nohup sh -c 'sleep 2; systemctl reboot' >/dev/null 2>&1 & fi`;

export interface RebootTiming {
  /** wait this long after scheduling before the first reconnect (the host is going down) */
  settleMs?: number;
  /** between reconnect attempts */
  pollMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Reboots the host and returns once the run's connection reaches the new boot; throws when it
 * has not come back within `timeoutMs` (the reconnect of each attempt is bounded by what is left).
 */
export async function rebootAndWait(ctx: HostContext, timeoutMs: number, timing: RebootTiming = {}): Promise<void> {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new Error(`reboot of ${ctx.host.name}: the timeout must be a positive number of ms, not ${timeoutMs}`);
  const mark = async () => (await attempt(ctx, BOOT_MARK)).stdout.trim();
  const before = await mark();
  await run(ctx, SCHEDULE_REBOOT, 'schedule reboot');
  const deadline = Date.now() + timeoutMs;
  await sleep(timing.settleMs ?? 3000);
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${ctx.host.name} did not come back from its reboot within ${timeoutMs / 1000} s`);
    try {
      // the transport is the subject here: the old session died with the old boot
      await ctx.conn.reconnect(left);
      const now = await mark();
      if (now && now !== before) {
        ctx.log.info('rebooted; SSH is back');
        return;
      }
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    await sleep(timing.pollMs ?? 2000);
  }
}
