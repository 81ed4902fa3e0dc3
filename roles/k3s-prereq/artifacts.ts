// Role `k3s-artifacts`: the K3s release files of the whole run, downloaded once per architecture on
// the control machine and verified against the release's sha256sum files. It changes nothing on the
// hosts. Run it right after facts, before any role that changes hosts: a bad mirror or checksum then
// stops the run before anything at all is touched. k3s-prereq awaits the same shared result, so the
// guarantee "nothing K3s is installed on any host" holds even without this role.
import type { HostContext, Role, Task } from '../../lib/runner/types.ts';
import { hostArtifacts, isK3sNode } from '../../lib/k3s/prepare.ts';

export function artifactsTask(): Task {
  return {
    name: 'K3s release files downloaded and verified',
    tags: ['k3s-artifacts'],
    async plan(_state, ctx: HostContext) {
      const a = await hostArtifacts(ctx);
      ctx.log.verbose(`${a.binary.name} sha256 ${a.binary.sha256}${a.images ? `, ${a.images.name} sha256 ${a.images.sha256}` : ''}`);
      return null;
    },
  };
}

export const k3sArtifactsRole: Role = {
  name: 'k3s-artifacts',
  tags: ['k3s-artifacts'],
  // no probe of its own; its task verifies the release files on the control machine
  probeAhead: true,
  appliesTo: (host) => host.groups.includes('servers') || host.groups.includes('agents'),
  tasks: (ctx) => (isK3sNode(ctx) ? [artifactsTask()] : []),
};

export default k3sArtifactsRole;
