// One repository's calls, with the two things every call needs: errors turned into masked
// GitHubApiErrors, and the bounded wait for a repository GitHub has just created (its endpoints
// answer 404 for a short while, until the new repository has propagated).
import type { Logger } from '../runner/types.ts';
import { statusOf, toApiError, type GitHubClient } from './github-client.ts';

export interface ReadinessOptions {
  /** attempts of a call on a fresh repository before its 404 is believed (default 6) */
  attempts?: number;
  /** first delay; doubles each attempt (default 500 ms: 0.5+1+2+4+8 s at most) */
  baseDelayMs?: number;
}

export class RepoApi {
  /** true from creation until the repository has answered anything but 404 once */
  fresh = false;

  constructor(
    readonly octokit: GitHubClient,
    readonly owner: string,
    readonly repo: string,
    private readonly token: string,
    private readonly log: Logger,
    private readonly readiness: ReadinessOptions = {},
  ) {}

  get fullName(): string {
    return `${this.owner}/${this.repo}`;
  }

  /** Runs a repository call; a GitHubApiError (with .status) on failure. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const attempts = this.readiness.attempts ?? 6;
    let delay = this.readiness.baseDelayMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await fn();
        this.fresh = false;
        return out;
      } catch (e) {
        const status = statusOf(e);
        if (status === 404 && this.fresh && attempt < attempts) {
          this.log.verbose(`${this.fullName} was just created and is not reachable yet (${what}): retrying in ${delay} ms`);
          await new Promise((r) => setTimeout(r, delay));
          delay *= 2;
          continue;
        }
        if (status !== 404 && status !== 0) this.fresh = false;
        const err = toApiError(e, `${what} (${this.fullName})`, this.token);
        if (status === 404 && this.fresh) {
          err.message += ` — the repository was just created and still answers 404 after ${attempts} attempts`;
        }
        throw err;
      }
    }
  }
}
