// Role `gitops-repo`: the GitOps repository on the first server of the management cluster, when
// the inventory names no other remote. Runs before argocd-bootstrap (whose publish fills it):
// git, a system user with git-shell as its shell, a bare repository it owns, and one
// authorized_keys line: Argo CD's read key, restricted to a forced command that serves
// git-upload-pack of that repository only (access.ts). clusterseed itself writes the repository
// as root over its own connection (lib/publish/host-repo.ts); nobody can push to it over SSH.
import type { HostContext, Role, Task } from '../../lib/runner/types.ts';
import { command, directory, file, packages, q } from '../../lib/blocks/index.ts';
import { authorizedKeysLine, forcedCommandScript, SERVE_COMMAND } from './access.ts';
import { gitopsRepoDefaults, hostedRepoHost, hostedRepoOf, type HostedRepo } from '../../lib/gitops/hosted-repo.ts';

export { gitopsRepoDefaults } from '../../lib/gitops/hosted-repo.ts';

export const GIT_SHELL = '/usr/bin/git-shell';

export interface GitopsRepoSource {
  /** the read key's public half ("ssh-ed25519 AAAA... comment") */
  readPublicKey: string;
  /** the branch Argo CD reads (the bare repository's HEAD) */
  branch: string;
}

function userTask(repo: HostedRepo): Task {
  const u = q(repo.user);
  const want = q(`${repo.home}:${GIT_SHELL}`);
  return command({
    name: `system user ${repo.user} (shell git-shell, no password)`,
    probe: `[ "$(getent passwd ${u} | cut -d: -f6,7)" = ${want} ] && [ "$(getent shadow ${u} | cut -d: -f2 | cut -c1)" = '!' ]`,
    run:
      `if getent passwd ${u} >/dev/null; then usermod --home ${q(repo.home)} --shell ${GIT_SHELL} ${u}; ` +
      `else useradd --system --user-group --home-dir ${q(repo.home)} --no-create-home --shell ${GIT_SHELL} --comment 'clusterseed GitOps repository (Argo CD reads it)' ${u}; fi` +
      ` && usermod --lock ${u}`,
  });
}

export function gitopsRepoTasks(repo: HostedRepo, src: GitopsRepoSource): Task[] {
  const own = { owner: repo.user, group: repo.user };
  const commands = `${repo.home}/git-shell-commands`;
  return [
    packages({ present: ['git'], name: 'git' }),
    userTask(repo),
    directory({ path: repo.home, mode: '0750', ...own }),
    command({
      name: `bare repository ${repo.repoPath}`,
      probe: `test -f ${q(`${repo.repoPath}/HEAD`)}`,
      run: `runuser -u ${q(repo.user)} -- env HOME=${q(repo.home)} git init --bare -q --initial-branch=${q(src.branch)} ${q(repo.repoPath)}`,
    }),
    // root-owned: the git user cannot change what its key may run
    directory({ path: commands, mode: '0755', owner: 'root', group: 'root' }),
    file({
      path: `${commands}/${SERVE_COMMAND}`,
      content: forcedCommandScript(repo.repoPath),
      mode: '0755',
      name: 'forced command: git-upload-pack of the repository only',
    }),
    directory({ path: `${repo.home}/.ssh`, mode: '0700', ...own }),
    file({
      path: `${repo.home}/.ssh/authorized_keys`,
      content: authorizedKeysLine(src.readPublicKey),
      mode: '0600',
      ...own,
      name: 'authorized_keys: the Argo CD read key only',
    }),
  ];
}

export function gitopsRepoRole(src: GitopsRepoSource): Role {
  return {
    name: 'gitops-repo',
    defaults: gitopsRepoDefaults,
    appliesTo: (host, inventory) => hostedRepoHost(inventory)?.name === host.name,
    tasks(ctx: HostContext): Task[] {
      const repo = hostedRepoOf(ctx.inventory);
      if (!repo) throw new Error('gitops-repo: the inventory names another remote; this role has nothing to host');
      return gitopsRepoTasks(repo, src);
    },
  };
}
