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
import { type AccessMode, ownAccessMode } from '../connectors/params.ts';
import { type Connector, connectorKey } from '../connectors/model.ts';
import { RegistryError } from '../distribution/errors.ts';
import type { PresentedCredential } from './credential.ts';
import { KubernetesReviews, type TokenReviewer, type User } from './reviews.ts';
import { type AccessToken, findToken, tokenAllows } from './tokens.ts';

export { ACCESS_MODES, type AccessMode } from '../connectors/params.ts';
export { KUBERNETES_CACHE_MAX, KUBERNETES_CACHE_TTL_MS, KUBERNETES_NEGATIVE_TTL_MS, type TokenReviewer } from './reviews.ts';
export { ACCESS_TOKEN_MIN_LENGTH, ACCESS_TOKEN_SECRET_TYPE, type AccessToken, hashToken, tokenAllows } from './tokens.ts';

type CallerCredential = Extract<PresentedCredential, { kind: 'caller' }>;

export const REALM = 'oci-connector-proxy';

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
  private readonly reviews: KubernetesReviews | undefined;

  constructor(options: AccessOptions) {
    this.mode = options.mode;
    this.reviews = options.reviewer ? new KubernetesReviews(options.reviewer, options.now ?? Date.now) : undefined;
    this.setTokens(options.tokens ?? []);
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
    return ownAccessMode(c) ?? this.mode;
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
      if (this.modeFor(c) === 'kubernetes' && !this.reviews) {
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
    if (findToken(this.tokens, credential.caller.token)) return true;
    if (!this.reviews) return false;
    return (await this.reviews.user(credential.caller.token).catch(() => null)) !== null;
  }

  private decideStatic(credential: CallerCredential, c: Connector): Decision {
    const key = connectorKey(c);
    const t = findToken(this.tokens, credential.caller.token);
    if (!t) return { allowed: false, error: notAuthenticated(credential) };
    if (!tokenAllows(t.connectors, c)) {
      return { allowed: false, error: new RegistryError(403, 'DENIED', `proxy token ${t.id} may not use connector ${key}`, { connector: key }) };
    }
    return { allowed: true, subject: `token:${t.id}` };
  }

  private decideKubernetes(credential: CallerCredential, c: Connector): Decision | Promise<Decision> {
    const key = connectorKey(c);
    const reviews = this.reviews;
    if (!reviews) return { allowed: false, error: new RegistryError(503, 'UNAVAILABLE', `connector ${key}: access mode kubernetes is not available in this process`) };
    const token = credential.caller.token;
    const cached = reviews.cachedSubject(token, c);
    if (cached !== undefined) return { allowed: true, subject: cached };
    return this.review(reviews, credential, c);
  }

  private async review(reviews: KubernetesReviews, credential: CallerCredential, c: Connector): Promise<Decision> {
    const key = connectorKey(c);
    const token = credential.caller.token;
    let user: User | null;
    try {
      user = await reviews.user(token);
    } catch (err) {
      return { allowed: false, error: new RegistryError(503, 'UNAVAILABLE', `connector ${key}: token review failed${apiStatus(err)}`) };
    }
    if (!user) return { allowed: false, error: notAuthenticated(credential) };
    let subject: string | undefined;
    try {
      subject = await reviews.subject(token, user, c);
    } catch (err) {
      return { allowed: false, error: new RegistryError(503, 'UNAVAILABLE', `connector ${key}: access review failed${apiStatus(err)}`) };
    }
    if (subject === undefined) return { allowed: false, error: new RegistryError(403, 'DENIED', `${user.username} may not get connector ${key}`, { connector: key }) };
    return { allowed: true, subject };
  }
}
