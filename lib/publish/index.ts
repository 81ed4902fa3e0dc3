// The one entry point the CLI uses: pick the target, then publish or plan.
//   remote URL given            → any git remote, with the git CLI
//   GitHub owner/repo given     → GitHub REST API (needs GITHUB_TOKEN)
//   neither                     → a local bare repository, <workDir>/.clusterseed/gitops.git
import { planGitHubPublish, publishToGitHub, type GitHubPublishOptions, type GitHubPublishResult } from './github.ts';
import { planLocalBarePublish, planRemotePublish, publishToLocalBare, publishToRemote } from './git-remote.ts';
import type { PublishPlan } from './plan.ts';
import { redactUrl } from '../report/mask.ts';
import type { PublishCommon, PublishResult } from './types.ts';

export type { PublishPlan } from './plan.ts';
export { PublishConflictError } from './plan.ts';
export type { PublishResult, PublishCommon, CommitIdentity } from './types.ts';
export type { FileInput } from './files.ts';
export type { DeployKeyResult } from './deploy-key.ts';

export type GitHubTarget = Omit<GitHubPublishOptions, keyof PublishCommon>;

export interface PublishOptions extends PublishCommon {
  /** a git URL or path to push to */
  remote?: string;
  /** a GitHub repository (owner, repo, org, private, baseUrl...) */
  github?: GitHubTarget;
  /** the environment to read GITHUB_TOKEN from (default process.env) */
  env?: Record<string, string | undefined>;
  /** with `remote` over https: basic auth for the push (credentials.ts pushAuth), sent in a header */
  auth?: { username: string; password: string };
}

export type TargetKind = 'github' | 'remote' | 'local';

export interface TargetChoice {
  kind: TargetKind;
  /** printable description, free of credentials */
  label: string;
}

export function chooseTarget(opts: PublishOptions): TargetChoice {
  if (opts.remote && opts.github) throw new Error('publish: configure either a git remote or a GitHub repository, not both');
  if (opts.remote) return { kind: 'remote', label: redactUrl(opts.remote) };
  if (opts.github) {
    const token = opts.github.token ?? (opts.env ?? process.env).GITHUB_TOKEN;
    if (!token) {
      throw new Error(
        `publish: GitHub repository ${opts.github.owner}/${opts.github.repo} is configured but GITHUB_TOKEN is not set ` +
          `(export it, or remove the GitHub settings to publish to the local bare repository)`,
      );
    }
    return { kind: 'github', label: `github ${opts.github.owner}/${opts.github.repo}` };
  }
  return { kind: 'local', label: 'local bare repository .clusterseed/gitops.git' };
}

function githubOptions(opts: PublishOptions): GitHubPublishOptions {
  const { remote: _r, github, env, auth: _a, ...common } = opts;
  return { ...common, ...github!, token: github!.token ?? (env ?? process.env).GITHUB_TOKEN };
}

/** GitHub results also carry the deploy key and the https clone URL. */
export type AnyPublishResult = PublishResult & Partial<Pick<GitHubPublishResult, 'deployKey' | 'cloneUrl'>>;

export async function publish(opts: PublishOptions): Promise<AnyPublishResult & { target: TargetChoice }> {
  const target = chooseTarget(opts);
  const { remote, github: _g, env: _e, auth, ...common } = opts;
  const result: AnyPublishResult =
    target.kind === 'github'
      ? await publishToGitHub(githubOptions(opts))
      : target.kind === 'remote'
        ? await publishToRemote({ ...common, url: remote!, auth })
        : await publishToLocalBare(common);
  return { ...result, target };
}

/** What publish would do; writes nothing anywhere (the git backends may refresh their fetch cache). */
export async function planPublish(opts: PublishOptions): Promise<PublishPlan & { target: TargetChoice }> {
  const target = chooseTarget(opts);
  const { remote, github: _g, env: _e, auth, ...common } = opts;
  const plan =
    target.kind === 'github'
      ? await planGitHubPublish(githubOptions(opts))
      : target.kind === 'remote'
        ? await planRemotePublish({ ...common, url: remote!, auth })
        : await planLocalBarePublish(common);
  return { ...plan, target };
}
