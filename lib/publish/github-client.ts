// The Octokit instance publish uses: @octokit/rest with the retry and throttling plugins set up for
// a tool that runs unattended. 5xx are retried a few times with growing delays; 403/429 rate limits
// are waited out when the wait is short enough, and fail with a clear message otherwise; 409
// (empty repository, conflicts) and 422 (validation, not a fast-forward) are never retried blindly:
// the caller knows what they mean. The token reaches Octokit only; every message is masked.
import { Octokit } from '@octokit/rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import Bottleneck from 'bottleneck';
import type { Logger } from '../runner/types.ts';
import { maskSecrets } from '../report/mask.ts';
import { silentLogger } from './types.ts';

export interface GitHubClientOptions {
  token: string;
  /** API root, e.g. a GitHub Enterprise server's or a local stand-in's (no trailing slash) */
  baseUrl?: string;
  log?: Logger;
  /** retries of a 5xx / network failure (default 3) */
  retries?: number;
  /** delay unit for those retries: the n-th waits n² units (default 1000 ms) */
  retryBaseMs?: number;
  /** retries after a rate limit (default 3) */
  rateLimitRetries?: number;
  /** a rate limit asking for a longer wait than this fails instead (default 120 s) */
  maxRateLimitWaitSeconds?: number;
  /** milliseconds per second of retry-after (default 1000; tests shrink it) */
  rateLimitBaseMs?: number;
  /** minimum spacing of mutating requests, as GitHub asks of integrators (default 1000 ms) */
  writeSpacingMs?: number;
}

const PublishOctokit = Octokit.plugin(retry, throttling);
export type GitHubClient = InstanceType<typeof PublishOctokit>;

/** Status codes the retry plugin must leave alone (the defaults plus 409). */
const DO_NOT_RETRY = [400, 401, 403, 404, 409, 410, 422, 451];

export function createGitHubClient(opts: GitHubClientOptions): GitHubClient {
  const log = opts.log ?? silentLogger;
  const secret = [opts.token];
  const say = (fn: (m: string) => void) => (m: string) => fn(maskSecrets(String(m), secret));
  const maxRetries = opts.rateLimitRetries ?? 3;
  const maxWait = opts.maxRateLimitWaitSeconds ?? 120;
  const onLimit = (kind: string) => (retryAfter: number, options: { method: string; url: string }, _o: unknown, retryCount: number) => {
    const what = `${options.method} ${options.url}`;
    if (retryCount >= maxRetries) {
      log.warn(maskSecrets(`GitHub ${kind} on ${what}: giving up after ${retryCount} retries`, secret));
      return false;
    }
    if (retryAfter > maxWait) {
      log.warn(maskSecrets(`GitHub ${kind} on ${what}: asks to wait ${retryAfter}s, more than the ${maxWait}s allowed; giving up`, secret));
      return false;
    }
    log.warn(maskSecrets(`GitHub ${kind} on ${what}: waiting ${retryAfter}s (retry ${retryCount + 1}/${maxRetries})`, secret));
    return true;
  };
  const spacing = opts.writeSpacingMs ?? 1000;
  return new PublishOctokit({
    auth: opts.token,
    baseUrl: opts.baseUrl,
    userAgent: 'clusterseed-publish',
    // Octokit's request log reports every response, expected 404/409 included: -v/-vv material.
    // Only the message (first argument) is kept: the second carries the request, headers and all.
    log: { debug: say(log.debug), info: say(log.debug), warn: say(log.warn), error: say(log.verbose) },
    retry: { doNotRetry: DO_NOT_RETRY, retries: opts.retries ?? 3, retryAfterBaseValue: opts.retryBaseMs ?? 1000 },
    throttle: {
      id: 'clusterseed-publish',
      retryAfterBaseValue: opts.rateLimitBaseMs ?? 1000,
      fallbackSecondaryRateRetryAfter: 60,
      write: new Bottleneck.Group({ maxConcurrent: 1, minTime: spacing }),
      onRateLimit: onLimit('rate limit'),
      onSecondaryRateLimit: onLimit('secondary rate limit'),
    },
  });
}

/** An API failure, described without request headers (the token) or anything else secret. */
export class GitHubApiError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'GitHubApiError';
    this.status = status;
  }
}

export function statusOf(e: unknown): number {
  const s = (e as { status?: unknown })?.status;
  return typeof s === 'number' ? s : 0;
}

/** Turns an Octokit RequestError (or a network error) into a masked GitHubApiError. */
export function toApiError(e: unknown, what: string, token: string): GitHubApiError {
  const status = statusOf(e);
  const raw = (e as Error)?.message ?? String(e);
  const hint =
    status === 401
      ? ' (check GITHUB_TOKEN: missing, expired or revoked)'
      : status === 403
        ? ' (the token lacks a permission, or a rate limit was not waited out)'
        : '';
  return new GitHubApiError(maskSecrets(`GitHub API ${what}: ${status || 'request failed'} ${raw}${hint}`, [token]), status);
}
