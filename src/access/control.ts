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
import type { Caller, PresentedCredential } from './credential.ts';

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

export type Decision = { allowed: true; subject: string | undefined } | { allowed: false; error: RegistryError };

const ALLOWED_ANONYMOUS: Decision = { allowed: true, subject: undefined };

export function unauthorized(message: string, detail?: unknown): RegistryError {
  return new RegistryError(401, 'UNAUTHORIZED', message, detail, { 'www-authenticate': `Basic realm="${REALM}"` });
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

  /** The mode that applies to a connector: its own `access` parameter, else the process's. */
  modeFor(c: Connector): AccessMode {
    const own = c.params['access'];
    return own === 'none' || own === 'static' || own === 'kubernetes' ? own : this.mode;
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
  decide(credential: PresentedCredential, c: Connector): Decision | Promise<Decision> {
    const mode = this.modeFor(c);
    if (mode === 'none') return ALLOWED_ANONYMOUS;
    const key = connectorKey(c);
    if (credential.kind === 'none') {
      return { allowed: false, error: unauthorized(`authentication required: connector ${key} needs a proxy token, sent as the Basic password or as a Bearer token`, { connector: key }) };
    }
    if (credential.kind === 'invalid') return { allowed: false, error: unauthorized(`invalid credentials: ${credential.problem}`, { connector: key }) };
    if (mode === 'static') return this.decideStatic(credential.caller, c);
    return this.decideKubernetes(credential.caller, c);
  }

  /** Is this a credential the proxy knows at all (for answering GET /v2/ without a connector)? */
  async authenticated(credential: PresentedCredential): Promise<boolean> {
    if (credential.kind !== 'caller') return false;
    if (this.findToken(credential.caller.token)) return true;
    if (!this.reviewer) return false;
    try {
      return (await this.reviewer.authenticate(credential.caller.token, AbortSignal.timeout(10_000))) !== undefined;
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

  private decideStatic(caller: Caller, c: Connector): Decision {
    const key = connectorKey(c);
    const t = this.findToken(caller.token);
    if (!t) return { allowed: false, error: unauthorized(`the proxy token is not valid`, { connector: key }) };
    if (!tokenAllows(t.connectors, c)) {
      return { allowed: false, error: new RegistryError(403, 'DENIED', `proxy token ${t.id} may not use connector ${key}`, { connector: key }) };
    }
    return { allowed: true, subject: `token:${t.id}` };
  }

  private decideKubernetes(caller: Caller, c: Connector): Decision | Promise<Decision> {
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
      const signal = AbortSignal.timeout(10_000);
      let user: Awaited<ReturnType<TokenReviewer['authenticate']>>;
      try {
        user = await reviewer.authenticate(caller.token, signal);
      } catch (err) {
        return { allowed: false, error: new RegistryError(503, 'UNAVAILABLE', `connector ${key}: token review failed: ${(err as Error).message}`) };
      }
      if (!user) return { allowed: false, error: unauthorized('the ServiceAccount token is not valid', { connector: key }) };
      let allowed: boolean;
      try {
        allowed = await reviewer.authorize(user, c, signal);
      } catch (err) {
        return { allowed: false, error: new RegistryError(503, 'UNAVAILABLE', `connector ${key}: access review failed: ${(err as Error).message}`) };
      }
      if (!allowed) return { allowed: false, error: new RegistryError(403, 'DENIED', `${user.username} may not get connector ${key}`, { connector: key }) };
      this.reviewed.set(cacheKey, { subject: user.username, expires: this.now() + KUBERNETES_CACHE_TTL_MS });
      return { allowed: true, subject: user.username };
    })().finally(() => this.inflight.delete(cacheKey));
    this.inflight.set(cacheKey, review);
    return review;
  }
}
