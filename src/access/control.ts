/**
 * Who may use a connector through the proxy. The mode is chosen per process and may be
 * overridden per connector (`spec.params[access]`):
 *
 * - `none`: anyone who reaches the proxy;
 * - `static`: tokens from access-token Secrets, each allowed for a list of connectors;
 * - `kubernetes`: ServiceAccount tokens checked by a TokenReviewer (TokenReview +
 *   SubjectAccessReview), with a short positive cache.
 *
 * A missing or unknown token is 401 with a Basic challenge (so docker and skopeo send their
 * configured credentials); a token that is valid but not for this connector is 403 DENIED.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { type Connector, connectorKey } from '../connectors/model.ts';
import { RegistryError } from '../distribution/errors.ts';
import type { PresentedCredential } from './credential.ts';

type CallerCredential = Extract<PresentedCredential, { kind: 'caller' }>;

export type AccessMode = 'none' | 'static' | 'kubernetes';
export const ACCESS_MODES: readonly AccessMode[] = ['none', 'static', 'kubernetes'];

/** One static proxy token, from a Secret of type ACCESS_TOKEN_SECRET_TYPE. The token itself is kept only as a hash. */
export interface AccessToken {
  /** `<namespace>/<name>` of the Secret that defines it: what logs and errors name. */
  id: string;
  sha256: Buffer;
  /** `<ns>/<name>`, `<ns>/*` or `*`. */
  connectors: readonly string[];
}

export const ACCESS_TOKEN_SECRET_TYPE = 'oci-connector-proxy/access-token';
export const ACCESS_TOKEN_MIN_LENGTH = 16;
export const REALM = 'oci-connector-proxy';

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function tokenAllows(patterns: readonly string[], c: Pick<Connector, 'namespace' | 'name'>): boolean {
  return patterns.some((p) => p === '*' || p === `${c.namespace}/*` || p === connectorKey(c));
}

/** What a Kubernetes API server answers about a token; implemented by the Kubernetes adapter. */
export interface TokenReviewer {
  /** TokenReview: the user the token authenticates, or undefined when it does not. */
  authenticate(token: string, signal?: AbortSignal): Promise<{ username: string; uid?: string; groups?: string[] } | undefined>;
  /**
   * SubjectAccessReview: may the user `get` connectors.connectors.alauda.io/<name> in the
   * connector's namespace (and, where configured, the `connectors/proxy` subresource)?
   */
  authorize(user: { username: string; uid?: string; groups?: string[] }, connector: Pick<Connector, 'namespace' | 'name'>, signal?: AbortSignal): Promise<boolean>;
}

/** How long a positive Kubernetes answer is reused: revoked RBAC takes effect within this. */
export const KUBERNETES_CACHE_TTL_MS = 10_000;
export const KUBERNETES_CACHE_MAX = 10_000;
/** How long a refused token is remembered as refused. */
export const KUBERNETES_NEGATIVE_TTL_MS = 2_000;

export type Decision = { allowed: true; subject: string | undefined } | { allowed: false; error: RegistryError };

const ALLOWED_ANONYMOUS: Decision = { allowed: true, subject: undefined };

/** ": Kubernetes API status N" for an API error, never the API's message or body (which can hold internals). */
function apiStatus(err: unknown): string {
  if ((err as Error)?.name === 'TimeoutError') return ': no answer in time'; // before code: a DOMException has code 23
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'number') return `: Kubernetes API status ${code}`;
  return '';
}

export function unauthorized(message: string, detail?: unknown): RegistryError {
  return new RegistryError(401, 'UNAUTHORIZED', message, detail, { 'www-authenticate': `Basic realm="${REALM}"` });
}

/**
 * 401 for a caller the proxy does not know: no credential, a malformed one, or a token that is
 * not valid. The same answer whatever was asked for, so that strangers cannot tell which
 * connectors exist: it names no connector.
 */
export function notAuthenticated(credential: PresentedCredential): RegistryError {
  switch (credential.kind) {
    case 'none':
      return unauthorized('authentication required: send a proxy token as the Basic password or as a Bearer token');
    case 'invalid':
      return unauthorized(`invalid credentials: ${credential.problem}`);
    case 'caller':
      return unauthorized('the proxy token is not valid');
  }
}

export interface AccessOptions {
  mode: AccessMode;
  tokens?: readonly AccessToken[];
  reviewer?: TokenReviewer;
  now?: () => number;
}

export class AccessControl {
  readonly mode: AccessMode;
  private tokens: readonly AccessToken[] = [];
  private readonly reviewer: TokenReviewer | undefined;
  /** Positive Kubernetes answers: sha256(token) + connector → subject, until `expires`. */
  private readonly reviewed = new LRUCache<string, { subject: string; expires: number }>({ max: KUBERNETES_CACHE_MAX });
  private readonly now: () => number;
  private readonly inflight = new Map<string, Promise<Decision>>();
  /** TokenReview answers per sha256(token): the user, or null for a refused token. */
  private readonly users = new LRUCache<string, { user: User | null; expires: number }>({ max: KUBERNETES_CACHE_MAX });
  private readonly authInflight = new Map<string, Promise<User | null>>();

  constructor(options: AccessOptions) {
    this.mode = options.mode;
    this.reviewer = options.reviewer;
    this.setTokens(options.tokens ?? []);
    // Expiry is checked against this clock on every read (not lru-cache's ttl, whose clock
    // reading is coarsened and treats a start time of 0 as "never expires").
    this.now = options.now ?? Date.now;
  }

  /** Replaces the static tokens (live reconfiguration). */
  setTokens(tokens: readonly AccessToken[]): void {
    this.tokens = tokens;
  }

  /**
   * The mode that applies to a connector: its own `access` parameter, else the process's. A
   * connector may turn access control on where the process has it off, or pick the other
   * checking mode, but never turn it off: whoever writes a Connector must not be able to open
   * its credentials to everyone who reaches the proxy.
   */
  modeFor(c: Connector): AccessMode {
    const own = c.params['access'];
    if (own === 'static' || own === 'kubernetes') return own;
    return this.mode;
  }

  /** True when some connector of the set needs a caller credential. */
  required(connectors: Iterable<Connector>): boolean {
    if (this.mode !== 'none') return true;
    for (const c of connectors) if (this.modeFor(c) !== 'none') return true;
    return false;
  }

  /** Problems that make a mode unusable with this configuration (checked at start-up and on reload). */
  problems(connectors: Iterable<Connector>): string[] {
    const out: string[] = [];
    for (const c of connectors) {
      if (this.modeFor(c) === 'kubernetes' && !this.reviewer) {
        out.push(`connector ${connectorKey(c)}: access mode "kubernetes" needs the Kubernetes source (--source kubernetes)`);
      }
    }
    return out;
  }

  /** May the caller use connector `c`? Synchronous unless a Kubernetes review is needed. */
  decide(presented: PresentedCredential | (() => PresentedCredential), c: Connector): Decision | Promise<Decision> {
    const mode = this.modeFor(c);
    if (mode === 'none') return ALLOWED_ANONYMOUS;
    // Read only when needed: clients send credentials on every request even where none are asked for.
    const credential = typeof presented === 'function' ? presented() : presented;
    if (credential.kind !== 'caller') return { allowed: false, error: notAuthenticated(credential) };
    if (mode === 'static') return this.decideStatic(credential, c);
    return this.decideKubernetes(credential, c);
  }

  /** Is this a credential the proxy knows at all (for answering GET /v2/ without a connector)? */
  async authenticated(credential: PresentedCredential): Promise<boolean> {
    if (credential.kind !== 'caller') return false;
    if (this.findToken(credential.caller.token)) return true;
    if (!this.reviewer) return false;
    try {
      return (await this.user(this.reviewer, credential.caller.token)) !== null;
    } catch {
      return false;
    }
  }

  private findToken(token: string): AccessToken | undefined {
    const h = hashToken(token);
    let found: AccessToken | undefined;
    // Compare every entry in constant time, so timing reveals nothing about which one matched.
    for (const t of this.tokens) if (timingSafeEqual(t.sha256, h) && !found) found = t;
    return found;
  }

  private decideStatic(credential: CallerCredential, c: Connector): Decision {
    const key = connectorKey(c);
    const t = this.findToken(credential.caller.token);
    if (!t) return { allowed: false, error: notAuthenticated(credential) };
    if (!tokenAllows(t.connectors, c)) {
      return { allowed: false, error: new RegistryError(403, 'DENIED', `proxy token ${t.id} may not use connector ${key}`, { connector: key }) };
    }
    return { allowed: true, subject: `token:${t.id}` };
  }

  /**
   * Whose token this is (TokenReview), cached per token: positive answers for
   * KUBERNETES_CACHE_TTL_MS, refusals for KUBERNETES_NEGATIVE_TTL_MS (so a stream of bad tokens
   * does not become a stream of reviews), one review at a time per token.
   */
  private user(reviewer: TokenReviewer, token: string): Promise<User | null> {
    const h = hashToken(token).toString('base64');
    const cached = this.users.get(h);
    if (cached && this.now() < cached.expires) return Promise.resolve(cached.user);
    let running = this.authInflight.get(h);
    if (!running) {
      running = withTimeout(reviewer.authenticate(token, AbortSignal.timeout(REVIEW_TIMEOUT_MS)))
        .then((u) => {
          const user = u ?? null;
          this.users.set(h, { user, expires: this.now() + (user ? KUBERNETES_CACHE_TTL_MS : KUBERNETES_NEGATIVE_TTL_MS) });
          return user;
        })
        .finally(() => this.authInflight.delete(h));
      this.authInflight.set(h, running);
    }
    return running;
  }

  private decideKubernetes(credential: CallerCredential, c: Connector): Decision | Promise<Decision> {
    const caller = credential.caller;
    const reviewer = this.reviewer;
    const key = connectorKey(c);
    if (!reviewer) {
      return { allowed: false, error: new RegistryError(503, 'UNAVAILABLE', `connector ${key}: access mode kubernetes is not available in this process`) };
    }
    const cacheKey = `${hashToken(caller.token).toString('base64')} ${key}`;
    const cached = this.reviewed.get(cacheKey);
    if (cached !== undefined) {
      if (this.now() < cached.expires) return { allowed: true, subject: cached.subject };
      this.reviewed.delete(cacheKey);
    }
    const running = this.inflight.get(cacheKey);
    if (running) return running;
    const review = (async (): Promise<Decision> => {
      let user: User | null;
      try {
        user = await this.user(reviewer, caller.token);
      } catch (err) {
        return { allowed: false, error: new RegistryError(503, 'UNAVAILABLE', `connector ${key}: token review failed${apiStatus(err)}`) };
      }
      if (!user) return { allowed: false, error: notAuthenticated(credential) };
      let allowed: boolean;
      try {
        allowed = await withTimeout(reviewer.authorize(user, c, AbortSignal.timeout(REVIEW_TIMEOUT_MS)));
      } catch (err) {
        return { allowed: false, error: new RegistryError(503, 'UNAVAILABLE', `connector ${key}: access review failed${apiStatus(err)}`) };
      }
      if (!allowed) return { allowed: false, error: new RegistryError(403, 'DENIED', `${user.username} may not get connector ${key}`, { connector: key }) };
      // Never beyond the TokenReview's own expiry: a revoked token stops working within the TTL.
      const tokenExpires = this.users.get(hashToken(caller.token).toString('base64'))?.expires ?? this.now();
      this.reviewed.set(cacheKey, { subject: user.username, expires: Math.min(tokenExpires, this.now() + KUBERNETES_CACHE_TTL_MS) });
      return { allowed: true, subject: user.username };
    })().finally(() => this.inflight.delete(cacheKey));
    this.inflight.set(cacheKey, review);
    return review;
  }
}

type User = { username: string; uid?: string; groups?: string[] };

const REVIEW_TIMEOUT_MS = 10_000;

/** A review that does not answer in time is a failure, whether or not the client honours the signal. */
function withTimeout<T>(p: Promise<T>, ms = REVIEW_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('review timed out'), { name: 'TimeoutError' })), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
