/**
 * What the upstream chain can fail with, as data: each layer throws one of these (or a network
 * error from undici), and `upstreamFailure` (failures.ts) words them for the client and the
 * health conditions, in one place. Messages here are for logs of the proxy itself; none quotes
 * a credential or a token.
 */

/** Every failure of the chain's own (network errors from undici are not). */
export abstract class UpstreamError extends Error {}

/** The upstream refused the request after the proxy's own authentication attempt. */
export class UpstreamRefused extends UpstreamError {
  override readonly name = 'UpstreamRefused';
  readonly status: 401 | 403;
  /** The scopes the proxy asked for (after any widening). */
  readonly scopes: readonly string[];
  /** The registry's own error message, scrubbed of secrets, if it sent one. */
  readonly said: string | undefined;
  /** The registry answered `error="insufficient_scope"`: the credentials are valid, the action is not allowed. */
  readonly insufficientScope: boolean;
  /** The actions the token did not grant (`push on team/app`), when the token says what it grants. */
  readonly missing: readonly string[] | undefined;

  constructor(status: 401 | 403, scopes: readonly string[], said: string | undefined, insufficientScope: boolean, missing?: readonly string[]) {
    super(`upstream refused (${status})`);
    this.status = status;
    this.scopes = scopes;
    this.said = said;
    this.insufficientScope = insufficientScope;
    this.missing = missing;
  }
}

/** The challenge asks the proxy to send credentials where the trust rule forbids (trust.ts). */
export class RealmNotTrusted extends UpstreamError {
  override readonly name = 'RealmNotTrusted';
  readonly problem: string;

  constructor(problem: string) {
    super(`refusing to send credentials: ${problem}`);
    this.problem = problem;
  }
}

/** The upstream asks for an authentication scheme the proxy does not speak. */
export class UnsupportedChallenge extends UpstreamError {
  override readonly name = 'UnsupportedChallenge';
  readonly schemes: readonly string[];

  constructor(schemes: readonly string[]) {
    super('unsupported authentication scheme');
    this.schemes = schemes;
  }
}

/** The upstream answered its own `GET /v2/` with a server error. */
export class UpstreamUnhealthy extends UpstreamError {
  override readonly name = 'UpstreamUnhealthy';
  readonly status: number;

  constructor(status: number) {
    super(`GET /v2/ answered ${status}`);
    this.status = status;
  }
}

/** A token server refused the credentials, failed, or answered something that is not a token. */
export class TokenServerError extends UpstreamError {
  override readonly name = 'TokenServerError';
  /** `refused`: 401/403 to the credentials; `answer`: a bad answer; `network`: no answer (see cause). */
  readonly kind: 'refused' | 'answer' | 'network';
  readonly realmHost: string;
  /** What was wrong: `answered 503`, `answered without a token`, … (never the body). */
  readonly what: string;
  readonly status: number | undefined;
  /** The exchange carried no credentials. */
  readonly anonymous: boolean;

  constructor(kind: 'refused' | 'answer' | 'network', realmHost: string, what: string, o: { status?: number; anonymous: boolean; cause?: unknown }) {
    super(`token server ${realmHost} ${what}`, { cause: o.cause });
    this.kind = kind;
    this.realmHost = realmHost;
    this.what = what;
    this.status = o.status;
    this.anonymous = o.anonymous;
  }
}

/** Every upstream connection of this kind is busy and none came free within the wait bound. */
export class Saturated extends UpstreamError {
  override readonly name = 'Saturated';
  readonly traffic: 'bulk' | 'small';
  readonly slots: number;
  readonly waitedMs: number;

  constructor(traffic: 'bulk' | 'small', slots: number, waitedMs: number) {
    super(`all ${slots} upstream connections for ${traffic} requests are busy`);
    this.traffic = traffic;
    this.slots = slots;
    this.waitedMs = waitedMs;
  }
}

/** A redirect target (object storage, a CDN) refused the request the proxy followed for the client. */
export class StorageRefused extends UpstreamError {
  override readonly name = 'StorageRefused';
  readonly host: string;
  readonly status: number;

  constructor(host: string, status: number) {
    super(`redirect target ${host} answered ${status}`);
    this.host = host;
    this.status = status;
  }
}

/** A redirect target (object storage, a CDN) could not be reached: the network or TLS error is the cause. */
export class StorageUnreachable extends UpstreamError {
  override readonly name = 'StorageUnreachable';
  readonly host: string;

  constructor(host: string, cause: unknown) {
    super(`redirect target ${host} could not be reached`, { cause });
    this.host = host;
  }
}

/** The `reason` a TLS error gives along the cause chain (which names a certificate's names). */
export function errorReason(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const reason = (e as { reason?: unknown }).reason;
    if (typeof reason === 'string') return reason;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The first error code found along an error's cause chain (undici wraps socket errors). */
export function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
    e = (e as { cause?: unknown }).cause;
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The messages and codes along an error's cause chain, each once: `connect ECONNREFUSED 127.0.0.1:1`. */
export function causeChain(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && message && !parts.includes(message)) parts.push(message);
    if (typeof code === 'string' && !parts.some((p) => p.includes(code))) parts.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(': ') || 'unknown error';
}

/** A deadline or an abort, rather than a network failure. */
export function isTimeout(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}
