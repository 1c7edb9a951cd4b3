/**
 * Kubernetes access: whose ServiceAccount token a caller presents (TokenReview) and whether that
 * user may use a connector (SubjectAccessReview), each through a TokenReviewer the Kubernetes
 * adapter implements, each cached with lru-cache's fetch (one review at a time per key, a TTL
 * per entry on the injected clock) and bounded by a deadline of its own:
 *
 * - a token's user: KUBERNETES_CACHE_TTL_MS when valid, KUBERNETES_NEGATIVE_TTL_MS when refused
 *   (a stream of bad tokens is not a stream of reviews);
 * - an allowed (token, connector): at most KUBERNETES_CACHE_TTL_MS and never beyond its token
 *   review's own expiry, so revoked RBAC or tokens take effect within that; a denial is not kept.
 */
import { LRUCache } from 'lru-cache';
import { type Connector, connectorKey } from '../connectors/model.ts';
import { untilAborted } from '../util/abort.ts';
import { hashToken } from './tokens.ts';

export type User = { username: string; uid?: string; groups?: string[] };

/** What a Kubernetes API server answers about a token; implemented by the Kubernetes adapter. */
export interface TokenReviewer {
  /** TokenReview: the user the token authenticates, or undefined when it does not. */
  authenticate(token: string, signal?: AbortSignal): Promise<User | undefined>;
  /**
   * SubjectAccessReview: may the user `get` connectors.connectors.alauda.io/<name> in the
   * connector's namespace (and, where configured, the `connectors/proxy` subresource)?
   */
  authorize(user: User, connector: Pick<Connector, 'namespace' | 'name'>, signal?: AbortSignal): Promise<boolean>;
}

/** How long a positive Kubernetes answer is reused: revoked RBAC takes effect within this. */
export const KUBERNETES_CACHE_TTL_MS = 10_000;
export const KUBERNETES_CACHE_MAX = 10_000;
/** How long a refused token is remembered as refused. */
export const KUBERNETES_NEGATIVE_TTL_MS = 2_000;
/** A review that does not answer in this time fails, whether or not the API client honours its signal. */
export const REVIEW_TIMEOUT_MS = 10_000;

function withDeadline<T>(review: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = AbortSignal.timeout(REVIEW_TIMEOUT_MS);
  return untilAborted(review(signal), signal);
}

export class KubernetesReviews {
  private readonly users: LRUCache<string, { user: User | null }, string>;
  private readonly allowed: LRUCache<string, { subject: string }, { user: User; connector: Connector; tokenKey: string }>;

  constructor(reviewer: TokenReviewer, now: () => number) {
    // lru-cache takes an entry stored at time 0 for one that never expires: the clock is offset by 1.
    const common = { max: KUBERNETES_CACHE_MAX, ttlResolution: 0, perf: { now: () => now() + 1 } } as const;
    this.users = new LRUCache({
      ...common,
      fetchMethod: async (_key, _stale, { options, context: token }) => {
        const user = (await withDeadline((signal) => reviewer.authenticate(token, signal))) ?? null;
        options.ttl = user ? KUBERNETES_CACHE_TTL_MS : KUBERNETES_NEGATIVE_TTL_MS;
        return { user };
      },
    });
    this.allowed = new LRUCache({
      ...common,
      fetchMethod: async (_key, _stale, { options, context }) => {
        if (!(await withDeadline((signal) => reviewer.authorize(context.user, context.connector, signal)))) return undefined;
        // Never beyond the token review's own expiry.
        options.ttl = Math.min(KUBERNETES_CACHE_TTL_MS, Math.max(1, this.users.getRemainingTTL(context.tokenKey)));
        return { subject: context.user.username };
      },
    });
  }

  /** The user a token authenticates, or null; rejects when the review fails. */
  async user(token: string): Promise<User | null> {
    const key = hashToken(token).toString('base64');
    return (await this.users.fetch(key, { context: token }))!.user;
  }

  /** A subject already allowed to use `c` with this token, without asking (the synchronous path). */
  cachedSubject(token: string, c: Connector): string | undefined {
    return this.allowed.get(allowedKey(token, c))?.subject;
  }

  /** The subject if `user` (of `token`) may use `c`, undefined when denied; rejects when the review fails. */
  async subject(token: string, user: User, c: Connector): Promise<string | undefined> {
    const tokenKey = hashToken(token).toString('base64');
    return (await this.allowed.fetch(allowedKey(token, c), { context: { user, connector: c, tokenKey } }))?.subject;
  }
}

function allowedKey(token: string, c: Connector): string {
  return `${hashToken(token).toString('base64')} ${connectorKey(c)}`;
}
