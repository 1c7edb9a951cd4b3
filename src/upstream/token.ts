/**
 * Token exchange with a registry's token server (CNCF distribution token auth), and the shared
 * token cache: keyed by connector, credentials, realm, service and scope set; entries expire a
 * safety margin before the token does; concurrent requests for the same token share one
 * exchange (lru-cache's fetch: single flight with a TTL per entry). Failures are
 * TokenServerErrors; tokens and credentials never appear in them or in logs.
 */
import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import type { Dispatcher } from 'undici';
import { type Credentials, credentialsFingerprint } from '../connectors/model.ts';

export { credentialsFingerprint } from '../connectors/model.ts';
import { basicAuthorization } from '../util/basic.ts';
import { isTimeout, TokenServerError } from './errors.ts';
import { discard } from './types.ts';

export interface Token {
  value: string;
  /** ms since epoch when the token server says it expires. */
  expiresAt: number;
}

export interface TokenRequest {
  /** Connector key, e.g. `default/harbor`: tokens are never shared between connectors. */
  connector: string;
  credentials: Credentials | undefined;
  /** credentialsFingerprint(credentials), when the caller has it already (it is a hash: keep it off the hot path). */
  fingerprint?: string;
  realm: string;
  service: string | undefined;
  /** Normalised scope strings; empty for a scope-less token (the /v2/ check). */
  scopes: readonly string[];
}

export interface TokenServiceOptions {
  /** Most tokens kept (across all connectors). */
  max: number;
  /** Timeout for one exchange, ms. */
  timeout: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface TokenStats {
  exchanges: number;
  hits: number;
  failures: number;
}

/** What the service emits as `stat` events, with the connector's key (metrics subscribe). */
export type TokenEvent = keyof TokenStats;

const CLIENT_ID = 'oci-connector-proxy';
const MIN_EXPIRES_IN = 60; // seconds: the spec's default and floor
const MAX_TOKEN_BODY = 1024 * 1024;

/** Cache lifetime: the token's, less a margin of 10% (at least 5 s, at most 60 s). */
export function cacheTtl(lifetimeMs: number): number {
  const margin = Math.min(60_000, Math.max(5_000, lifetimeMs * 0.1));
  return Math.max(1_000, lifetimeMs - margin);
}

interface TokenBody {
  token?: unknown;
  access_token?: unknown;
  expires_in?: unknown;
  issued_at?: unknown;
  refresh_token?: unknown;
}

export function parseTokenBody(text: string, now: number): { token: Token; refreshToken: string | undefined } | string {
  let body: TokenBody;
  try {
    body = JSON.parse(text) as TokenBody;
  } catch {
    return 'answered with a body that is not JSON';
  }
  if (typeof body !== 'object' || body === null) return 'answered with a body that is not a JSON object';
  const value = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token;
  if (typeof value !== 'string' || value === '') return 'answered without a token';
  let expiresIn = typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) ? body.expires_in : MIN_EXPIRES_IN;
  if (expiresIn < MIN_EXPIRES_IN) expiresIn = MIN_EXPIRES_IN;
  let issued = now;
  if (typeof body.issued_at === 'string') {
    const t = Date.parse(body.issued_at);
    // A token server clock ahead of ours must not lengthen the token's life.
    if (Number.isFinite(t) && t < now) issued = t;
  }
  const refreshToken = typeof body.refresh_token === 'string' && body.refresh_token !== '' ? body.refresh_token : undefined;
  return { token: { value, expiresAt: issued + expiresIn * 1000 }, refreshToken };
}

export class TokenService extends EventEmitter<{ stat: [event: TokenEvent, connector: string] }> {
  readonly stats: TokenStats = { exchanges: 0, hits: 0, failures: 0 };
  /** Tokens, each until a margin before it expires (our clock); fetch() shares one exchange per key. */
  private readonly cache: LRUCache<string, Token, { request: TokenRequest; dispatcher: Dispatcher }>;
  /** Refresh tokens by connector, credentials, realm and service. */
  private readonly refreshTokens: LRUCache<string, string>;
  /** Realms whose token server does not take the OAuth2 POST: use GET. */
  private readonly getOnly = new Set<string>();
  private readonly options: TokenServiceOptions;
  private readonly now: () => number;

  constructor(options: TokenServiceOptions) {
    super();
    this.options = options;
    this.now = options.now ?? Date.now;
    this.cache = new LRUCache({
      max: options.max,
      ttlAutopurge: false,
      ttlResolution: 0,
      // Expiry follows the injected clock (tests move it forward), offset by 1: lru-cache takes
      // an entry stored at time 0 for one that never expires.
      perf: { now: () => this.now() + 1 },
      fetchMethod: async (_key, _stale, { options: entry, context }) => {
        const token = await this.exchange(context.request, context.dispatcher);
        entry.ttl = cacheTtl(token.expiresAt - this.now());
        return token;
      },
    });
    this.refreshTokens = new LRUCache({ max: options.max });
  }

  private static key(r: TokenRequest): string {
    return [r.connector, r.fingerprint ?? credentialsFingerprint(r.credentials), r.realm, r.service ?? '', r.scopes.join(' ')].join('\0');
  }

  private count(event: TokenEvent, connector: string): void {
    this.stats[event]++;
    this.emit('stat', event, connector);
  }

  /**
   * A valid token for the request: from the cache, from an exchange already under way, or new.
   * `rejected`: a token the upstream just refused; a cached copy of it is not handed out again.
   */
  async get(r: TokenRequest, dispatcher: Dispatcher, rejected?: string): Promise<Token> {
    const key = TokenService.key(r);
    const forceRefresh = rejected !== undefined && this.cache.peek(key)?.value === rejected;
    const status: LRUCache.Status<string, Token, { request: TokenRequest; dispatcher: Dispatcher }> = {};
    const token = await this.cache.fetch(key, { context: { request: r, dispatcher }, forceRefresh, status });
    if (status.fetch === 'hit' || status.fetch === 'inflight') this.count('hits', r.connector);
    return token!;
  }

  /** Forgets every token and refresh token of a connector (its Secret changed or it is gone). */
  forgetConnector(connector: string): void {
    const prefix = connector + '\0';
    for (const k of this.cache.keys()) if (k.startsWith(prefix)) this.cache.delete(k);
    for (const k of this.refreshTokens.keys()) if (k.startsWith(prefix)) this.refreshTokens.delete(k);
  }

  get size(): number {
    return this.cache.size;
  }

  private async exchange(r: TokenRequest, dispatcher: Dispatcher): Promise<Token> {
    this.count('exchanges', r.connector);
    try {
      const realm = new URL(r.realm);
      if (r.credentials && !this.getOnly.has(r.realm)) {
        const viaPost = await this.post(r, realm, dispatcher);
        if (viaPost) return viaPost;
      }
      return await this.viaGet(r, realm, dispatcher);
    } catch (err) {
      this.count('failures', r.connector);
      throw err;
    }
  }

  private refreshKey(r: TokenRequest): string {
    return [r.connector, r.fingerprint ?? credentialsFingerprint(r.credentials), r.realm, r.service ?? ''].join('\0');
  }

  /** OAuth2 POST; undefined means "use GET instead". */
  private async post(r: TokenRequest, realm: URL, dispatcher: Dispatcher): Promise<Token | undefined> {
    const creds = r.credentials!;
    const rkey = this.refreshKey(r);
    for (const grant of this.refreshTokens.has(rkey) ? (['refresh_token', 'password'] as const) : (['password'] as const)) {
      const form = new URLSearchParams({ grant_type: grant, client_id: CLIENT_ID, access_type: 'offline' });
      if (r.service) form.set('service', r.service);
      if (r.scopes.length) form.set('scope', r.scopes.join(' '));
      if (grant === 'refresh_token') form.set('refresh_token', this.refreshTokens.get(rkey)!);
      else {
        form.set('username', creds.username);
        form.set('password', creds.password);
      }
      const { status, text } = await this.call(
        r,
        realm,
        'POST',
        realm.pathname + realm.search,
        { 'content-type': 'application/x-www-form-urlencoded' },
        form.toString(),
        dispatcher,
      );
      if (status === 200) {
        const parsed = parseTokenBody(text, this.now());
        if (typeof parsed === 'string') throw new TokenServerError('answer', realm.host, parsed, { anonymous: !r.credentials });
        if (parsed.refreshToken) this.refreshTokens.set(rkey, parsed.refreshToken);
        return parsed.token;
      }
      if (grant === 'refresh_token' && status >= 400 && status < 500) {
        this.refreshTokens.delete(rkey); // expired or revoked: fall back to the password grant
        continue;
      }
      if (status === 404 || status === 405) {
        this.getOnly.add(r.realm);
        return undefined;
      }
      if (status === 400 || status === 401 || status === 403) return undefined; // try GET; it decides
      throw new TokenServerError('answer', realm.host, `answered ${status}`, { status, anonymous: !r.credentials });
    }
    return undefined;
  }

  private async viaGet(r: TokenRequest, realm: URL, dispatcher: Dispatcher): Promise<Token> {
    const url = new URL(realm);
    if (r.service) url.searchParams.set('service', r.service);
    for (const s of r.scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (r.credentials) {
      url.searchParams.set('account', r.credentials.username);
      headers['authorization'] = basicAuthorization(r.credentials);
    }
    const { status, text } = await this.call(r, realm, 'GET', url.pathname + url.search, headers, undefined, dispatcher);
    if (status === 200) {
      const parsed = parseTokenBody(text, this.now());
      if (typeof parsed === 'string') throw new TokenServerError('answer', realm.host, parsed, { anonymous: !r.credentials });
      return parsed.token;
    }
    if (status === 401 || status === 403) throw new TokenServerError('refused', realm.host, `refused (${status})`, { status, anonymous: !r.credentials });
    throw new TokenServerError('answer', realm.host, `answered ${status}`, { status, anonymous: !r.credentials });
  }

  /** One exchange with the token server, its body read up to a bound; network failures and timeouts are TokenServerErrors. */
  private async call(
    r: TokenRequest,
    realm: URL,
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    dispatcher: Dispatcher,
  ): Promise<{ status: number; text: string }> {
    try {
      const res = await dispatcher.request({
        origin: realm.origin,
        path,
        method,
        headers: { accept: 'application/json', ...headers },
        body,
        headersTimeout: this.options.timeout,
        bodyTimeout: this.options.timeout,
        signal: AbortSignal.timeout(this.options.timeout),
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_TOKEN_BODY) {
          discard(res.body);
          return { status: 502, text: '' };
        }
        chunks.push(chunk as Buffer);
      }
      return { status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') };
    } catch (err) {
      const cause = isTimeout(err) ? Object.assign(new Error('timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' }) : err;
      throw new TokenServerError('network', realm.host, 'could not be reached', { anonymous: !r.credentials, cause });
    }
  }
}
