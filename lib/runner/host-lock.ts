// The run lock (lib/locks/host-lock.ts) taken in the facts role's one probe: the runner's part, a
// wrapper of the facts role; what the lock is and how the host takes it stays in lib/locks.
import { HOST_LOCK_FILE, HostLockHeldError, hostLockProbe, parseHostLock, type HostLockOwner } from '../locks/host-lock.ts';
import type { Role, Task } from './types.ts';

/**
 * The facts role with the run lock taken in its one probe (no extra round trip). A held lock fails
 * the host before any role runs: the message names the holder.
 */
export function withHostLock(role: Role, owner: HostLockOwner): Role {
  const lock = hostLockProbe(owner);
  return {
    ...role,
    async tasks(ctx) {
      const [first, ...rest] = await role.tasks(ctx);
      const locked: Task = {
        ...first,
        probe: `(\n${lock}\n)\n${first.probe ?? ''}`,
        plan(state, c) {
          const lockState = parseHostLock(state.stdout);
          if (lockState.state === 'held') {
            throw new HostLockHeldError(`another clusterseed run holds this host's run lock ${HOST_LOCK_FILE}: ${lockState.holder}`);
          }
          if (lockState.state === 'error')
            c.log.warn(`run lock not taken (${lockState.message}): another run could work on this host at the same time`);
          return first.plan(state, c);
        },
      };
      return [locked, ...rest];
    },
  };
}
