/**
 * The authentication layer of a connector's upstream client. It learns the upstream's
 * challenge once (GET /v2/, single flight) and re-learns it when a 401 names another; computes
 * the scopes a request needs before sending it; attaches a Bearer token (exchanged and cached by
 * the TokenService) or Basic credentials; on a 401 it retries once with a fresh token if the
 * body can be replayed. What the client sees is never an upstream challenge: a refusal after
 * the proxy's own attempt becomes an UNAUTHORIZED / DENIED error naming the scope.
 */
import { LRUCache } from 'lru-cache';
import type { Dispatcher } from 'undici';
import type { Connector } from '../connectors/model.ts';
import { RegistryError } from '../distribution/errors.ts';
import { type Challenge, parseChallenges, supportedChallenge } from './challenge.ts';
import { normalizeScopes, parseScopes, scopesFor } from './scope.ts';
import { credentialsFingerprint, type TokenService } from './token.ts';
import { realmProblem } from './trust.ts';
import { discard, type Send, type UpstreamRequest, type UpstreamResponse } from './types.ts';

/** What the upstream asks for: nothing (open registry), or one challenge. */
type Known = { kind: 'open' } | { kind: 'challenge'; challenge: Challenge };

const MAX_ERROR_BODY = 64 * 1024;

export interface AuthContext {
  connector: Connector;
  key: string;
  host: string;
  tokens: TokenService;
  dispatcher: Dispatcher;
  /** Token-realm hosts the connector trusts beyond its own host and domain. */
  allowedRealmHosts: readonly string[];
}

export function isReplayable(req: UpstreamRequest): boolean {
  return req.body === null || Buffer.isBuffer(req.body);
}

/** Reads (a bounded part of) an answer the client will not get; returns the registry's error message, if any. */
async function drain(res: UpstreamResponse): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_ERROR_BODY) break;
      chunks.push(chunk as Buffer);
    }
  } catch {
    // the answer is discarded either way
  } finally {
    discard(res.body);
  }
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
    const e = body.errors?.[0];
    if (e && typeof e.message === 'string') return `${typeof e.code === 'string' ? e.code + ': ' : ''}${e.message.slice(0, 300)}`;
  } catch {
    // not an OCI error body
  }
  return undefined;
}

export class Authenticator {
  private known: Known | undefined;
  private learning: Promise<Known> | undefined;
  /**
   * Scope sets the upstream asked for beyond ours (insufficient_scope), by our scope set.
   * Bounded: clients choose repository names, and some registries answer every unknown one so.
   */
  private readonly scopeOverrides = new LRUCache<string, string[]>({ max: 1000 });
  private readonly ctx: AuthContext;
  private readonly fingerprint: string;

  constructor(ctx: AuthContext) {
    this.ctx = ctx;
    this.fingerprint = credentialsFingerprint(ctx.connector.credentials);
  }

  private below: Send | undefined;

  /**
   * Learns the upstream's challenge (one GET /v2/ for all concurrent callers) if it is not
   * known yet; rejects when the upstream cannot be reached or wants a scheme we lack.
   */
  async ready(signal?: AbortSignal): Promise<void> {
    if (this.known) return;
    if (!this.below) throw new Error('Authenticator.ready before layer');
    await this.learn(this.below, signal);
  }

  /** Wraps `next` (the layer below) with authentication. */
  layer(next: Send): Send {
    this.below = next;
    return async (req) => {
      const ours = normalizeScopes(scopesFor(req.method, req.route, req.repository, req.mountFrom));
      const ourKey = ours.join(' ');
      let known = await this.learn(next, req.signal);
      let scopes = this.scopeOverrides.get(ourKey) ?? ours;
      let authorization = await this.authorization(known, scopes);
      let res = await next(withAuthorization(req, authorization?.header));
      if (res.statusCode !== 401 && res.statusCode !== 403) return res;

      let said: string | undefined;
      if (res.statusCode === 401) {
        const offered = supportedChallenge(parseChallenges(res.headers['www-authenticate']));
        said = await drain(res);
        if (offered) {
          known = this.relearn(offered);
          if (offered.params['error'] === 'insufficient_scope' && offered.params['scope']) {
            const widened = normalizeScopes([...parseScopes(scopes.join(' ')), ...parseScopes(offered.params['scope'])]);
            if (widened.join(' ') !== scopes.join(' ')) {
              scopes = widened;
              this.scopeOverrides.set(ourKey, scopes);
            }
          }
        }
        if (offered && isReplayable(req)) {
          authorization = await this.authorization(known, scopes, authorization?.token);
          res = await next(withAuthorization(req, authorization?.header));
          if (res.statusCode !== 401 && res.statusCode !== 403) return res;
          said = await drain(res);
        } else if (authorization?.token) {
          // Not replayable (a streamed upload): let the client's retry get a fresh token.
          await this.authorization(known, scopes, authorization.token).catch(() => undefined);
        }
      } else {
        said = await drain(res);
      }
      throw this.refusal(res.statusCode, scopes, said);
    };
  }

  private refusal(status: number, scopes: string[], upstreamSaid: string | undefined): RegistryError {
    const { key, host, connector } = this.ctx;
    const what = scopes.length ? scopes.join(' ') : 'the registry';
    const who = connector.credentials ? "the connector's credentials" : 'anonymous access (the connector has no Secret)';
    const hint = connector.credentials ? "check the connector's Secret and its rights" : 'give the connector a Secret with credentials';
    const said = upstreamSaid ? ` (the registry said: ${upstreamSaid})` : '';
    const message = `connector ${key}: upstream ${host} refused ${who} for ${what} (${status}); ${hint}, or check that the repository exists${said}`;
    const detail = { connector: key, upstream: host, scopes };
    return status === 403 ? new RegistryError(403, 'DENIED', message, detail) : new RegistryError(401, 'UNAUTHORIZED', message, detail);
  }

  /** The Authorization header for a request, fetching a token when needed. */
  private async authorization(known: Known, scopes: string[], rejected?: string): Promise<{ header: string; token?: string } | undefined> {
    if (known.kind === 'open') return undefined;
    const { challenge } = known;
    const creds = this.ctx.connector.credentials;
    if (challenge.scheme === 'basic') {
      if (!creds) return undefined;
      return { header: 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
    }
    const realm = challenge.params['realm']!;
    if (creds) {
      const problem = realmProblem(realm, this.ctx.connector.upstreamOrigin, this.ctx.allowedRealmHosts);
      if (problem) {
        throw new RegistryError(502, 'UNAVAILABLE', `connector ${this.ctx.key}: refusing to send credentials: ${problem}`, { connector: this.ctx.key });
      }
    }
    const token = await this.ctx.tokens.get(
      { connector: this.ctx.key, credentials: creds, fingerprint: this.fingerprint, realm, service: challenge.params['service'], scopes },
      this.ctx.dispatcher,
      rejected,
    );
    return { header: `Bearer ${token.value}`, token: token.value };
  }

  /** The upstream's challenge, learned once with GET /v2/ (concurrent callers share the ping). */
  private async learn(next: Send, signal: AbortSignal | undefined): Promise<Known> {
    if (this.known) return this.known;
    this.learning ??= this.ping(next).finally(() => {
      this.learning = undefined;
    });
    const known = await (signal ? raceAbort(this.learning, signal) : this.learning);
    return known;
  }

  private async ping(next: Send): Promise<Known> {
    const res = await next({ method: 'GET', path: '/v2/', headers: [], body: null, route: BASE_ROUTE, repository: undefined, mountFrom: undefined });
    const offered = res.statusCode === 401 ? supportedChallenge(parseChallenges(res.headers['www-authenticate'])) : undefined;
    await drain(res);
    if (res.statusCode === 401 && !offered) {
      throw new RegistryError(502, 'UNAVAILABLE', `connector ${this.ctx.key}: upstream ${this.ctx.host} asks for an authentication scheme the proxy does not support`, {
        connector: this.ctx.key,
        scheme: parseChallenges(res.headers['www-authenticate']).map((c) => c.scheme),
      });
    }
    if (res.statusCode >= 500) {
      throw new RegistryError(502, 'UNAVAILABLE', `connector ${this.ctx.key}: upstream ${this.ctx.host} answered ${res.statusCode} to GET /v2/`, { connector: this.ctx.key });
    }
    this.known = offered ? { kind: 'challenge', challenge: essential(offered) } : { kind: 'open' };
    return this.known;
  }

  private relearn(offered: Challenge): Known {
    const k = this.known;
    const c = essential(offered);
    const same = k?.kind === 'challenge' && k.challenge.scheme === c.scheme && k.challenge.params['realm'] === c.params['realm'] && k.challenge.params['service'] === c.params['service'];
    if (!same) this.known = { kind: 'challenge', challenge: c };
    return this.known!;
  }
}

/** The part of a challenge that identifies the token server: scheme, realm, service. */
function essential(c: Challenge): Challenge {
  const params: Record<string, string> = {};
  if (c.params['realm'] !== undefined) params['realm'] = c.params['realm'];
  if (c.params['service'] !== undefined) params['service'] = c.params['service'];
  return { scheme: c.scheme, params };
}

const BASE_ROUTE = {
  endpoint: 'base',
  selector: undefined,
  repository: undefined,
  reference: undefined,
  uploadId: undefined,
  tail: '/',
  query: '',
  mountFrom: undefined,
} as const;

function withAuthorization(req: UpstreamRequest, header: string | undefined): UpstreamRequest {
  if (header === undefined) return req;
  return { ...req, headers: [...req.headers, 'authorization', header] };
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
