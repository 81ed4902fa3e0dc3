// The runner's first step on every host: the host facts (lib/facts/host-facts.ts) in one probe.
import { FACTS_PROBE, describeFacts, parseFacts } from '../facts/host-facts.ts';
import type { HostContext, Role } from './types.ts';

export const factsRole: Role = {
  name: 'facts',
  always: true,
  appliesTo: () => true,
  tasks: () => [
    {
      name: 'gather facts',
      // a probe of its own (not Task.facts): the run lock is taken in the same command (lib/locks/host-lock.ts)
      probe: FACTS_PROBE,
      plan(state, ctx: HostContext) {
        ctx.facts = parseFacts(state.stdout, ctx.host.raspberryPi);
        ctx.log.verbose(describeFacts(ctx.facts));
        return null;
      },
    },
  ],
};

export default factsRole;
