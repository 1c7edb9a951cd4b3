/**
 * The authentication transport of a connector (go-containerregistry's bearer transport): it
 * learns the registry's challenge once (GET /v2/, single flight), attaches a Bearer token (from
 * the TokenService) or Basic credentials for the scopes the request carries, and on a 401 takes
 * a fresh token and retries once when the body can be replayed. `error="insufficient_scope"`
 * widens the scopes (remembered for the next such request).
 *
 * A challenge is learned only from the registry's own answers (redirect targets never reach
 * this layer: see redirect.ts), and a changed one is adopted only once its realm passed the
 * trust rule and a token exchange with it succeeded; until then the previous one stays, so a
 * bad answer cannot break the connector. Refusals are UpstreamRefused; what the client sees is
 * worded in failures.ts, never the upstream's challenge.
 */
import { LRUCache } from 'lru-cache';
import type { Dispatcher } from 'undici';
import type { Connector } from '../connectors/model.ts';
import { grantedScopes, missingActions, normalizeScopes, parseScopes } from '../distribution/scope.ts';
import { untilAborted } from '../util/abort.ts';
import { basicAuthorization } from '../util/basic.ts';
import { type Challenge, parseChallenges, supportedChallenge } from './challenge.ts';
import { RealmNotTrusted, UnsupportedChallenge, UpstreamRefused, UpstreamUnhealthy } from './errors.ts';
import { MAX_ERROR_BODY } from './scrub.ts';
import { credentialsFingerprint, type TokenService } from './token.ts';
import { realmProblem } from './trust.ts';
import { discard, isReplayable, type Send, type UpstreamRequest, type UpstreamResponse } from './types.ts';

/** What the upstream asks for: nothing (open registry), or one challenge. */
type Known = { kind: 'open' } | { kind: 'challenge'; challenge: Challenge };

/** The Authorization a request was sent with, and the token in it (to refuse it next time). */
type Sent = { header: string; token?: string } | undefined;

export interface AuthContext {
  connector: Connector;
  key: string;
  tokens: TokenService;
  /** Where token exchanges go. */
  dispatcher: Dispatcher;
  /** Token-realm hosts the connector trusts beyond its own host and domain. */
  allowedRealmHosts: readonly string[];
  /** The layers below: the exchange with the registry. */
  inner: Send;
}

/** Most widened scope sets remembered per connector. */
const SCOPE_OVERRIDES = 1000;

const PING: UpstreamRequest = { method: 'GET', path: '/v2/', headers: [], body: null, scopes: [], traffic: 'small' };

export class Authenticator {
  private known: Known | undefined;
  private learning: Promise<Known> | undefined;
  /**
   * Scope sets the upstream asked for beyond ours (insufficient_scope), by our scope set.
   * Bounded: clients choose repository names, and some registries answer every unknown one so.
   * Made on the first such answer: an LRUCache allocates its arrays for `max` entries up front
   * (about 21 KiB at 1000), and most connectors never need one.
   */
  private scopeOverrides: LRUCache<string, string[]> | undefined;
  private readonly ctx: AuthContext;
  private readonly fingerprint: string;
  /** The trust verdict on the last realm seen (a connector's realm rarely changes). */
  private trust: { realm: string; problem: string | null } | undefined;

  constructor(ctx: AuthContext) {
    this.ctx = ctx;
    this.fingerprint = credentialsFingerprint(ctx.connector.credentials);
  }

  /**
   * Learns the upstream's challenge (one GET /v2/ for all concurrent callers) if it is not
   * known yet; rejects when the upstream cannot be reached or wants a scheme we lack.
   */
  async ready(signal?: AbortSignal): Promise<void> {
    await this.learn(signal);
  }

  readonly send: Send = async (req) => {
    const ours = req.scopes.join(' ');
    const known = await this.learn(req.signal);
    let scopes: readonly string[] = this.scopeOverrides?.get(ours) ?? req.scopes;
    const sent = await this.authorization(known, scopes);
    const res = await this.ctx.inner(withAuthorization(req, sent?.header));
    if (res.statusCode === 403) throw new UpstreamRefused(403, scopes, await errorMessage(res), false);
    if (res.statusCode !== 401) return res;

    const offered = supportedChallenge(parseChallenges(res.headers['www-authenticate']));
    const said = await errorMessage(res);
    if (!offered) throw new UpstreamRefused(401, scopes, said, false);
    if (offered.params['error'] === 'insufficient_scope' && offered.params['scope']) {
      const widened = normalizeScopes([...parseScopes(scopes.join(' ')), ...parseScopes(offered.params['scope'])]);
      if (widened.join(' ') !== scopes.join(' ')) {
        scopes = widened;
        this.scopeOverrides ??= new LRUCache({ max: SCOPE_OVERRIDES });
        this.scopeOverrides.set(ours, widened);
      }
    }
    const candidate = this.candidate(offered);
    if (!isReplayable(req)) {
      // A streamed upload is not sent twice: the client's retry gets the fresh token.
      await this.authorization(candidate, scopes, sent?.token).then(
        () => this.adopt(candidate),
        () => undefined,
      );
      throw this.refused(res, offered, scopes, said, sent);
    }
    const fresh = await this.authorization(candidate, scopes, sent?.token);
    this.adopt(candidate);
    const again = await this.ctx.inner(withAuthorization(req, fresh?.header));
    if (again.statusCode !== 401 && again.statusCode !== 403) return again;
    const last = supportedChallenge(parseChallenges(again.headers['www-authenticate']));
    throw this.refused(again, last, scopes, await errorMessage(again), fresh);
  };

  private refused(res: UpstreamResponse, challenge: Challenge | undefined, scopes: readonly string[], said: string | undefined, sent: Sent): UpstreamRefused {
    const insufficient = res.statusCode === 401 && challenge?.params['error'] === 'insufficient_scope';
    const granted = insufficient && sent?.token ? grantedScopes(sent.token) : undefined;
    return new UpstreamRefused(res.statusCode as 401 | 403, scopes, said, insufficient, granted && missingActions(scopes, granted));
  }

  /** The Authorization header for a request under `known`, fetching a token when needed. */
  private async authorization(known: Known, scopes: readonly string[], rejected?: string): Promise<Sent> {
    if (known.kind === 'open') return undefined;
    const { challenge } = known;
    const creds = this.ctx.connector.credentials;
    if (challenge.scheme === 'basic') return creds ? { header: basicAuthorization(creds) } : undefined;
    const realm = challenge.params['realm']!;
    if (creds) {
      const problem = await this.realmProblem(realm);
      if (problem) throw new RealmNotTrusted(problem);
    }
    const token = await this.ctx.tokens.get(
      { connector: this.ctx.key, credentials: creds, fingerprint: this.fingerprint, realm, service: challenge.params['service'], scopes },
      this.ctx.dispatcher,
      rejected,
    );
    return { header: `Bearer ${token.value}`, token: token.value };
  }

  /** Why credentials must not go to `realm`, or null; judged once per realm, not per request. */
  private async realmProblem(realm: string): Promise<string | null> {
    if (this.trust?.realm === realm) return this.trust.problem;
    const problem = await realmProblem(realm, this.ctx.connector.upstreamOrigin, this.ctx.allowedRealmHosts);
    this.trust = { realm, problem };
    return problem;
  }

  /** The upstream's challenge, learned once with GET /v2/ (concurrent callers share the ping). */
  private async learn(signal: AbortSignal | undefined): Promise<Known> {
    if (this.known) return this.known;
    this.learning ??= this.ping().finally(() => {
      this.learning = undefined;
    });
    return untilAborted(this.learning, signal);
  }

  private async ping(): Promise<Known> {
    const res = await this.ctx.inner(PING);
    const offered = res.statusCode === 401 ? supportedChallenge(parseChallenges(res.headers['www-authenticate'])) : undefined;
    discard(res.body);
    if (res.statusCode === 401 && !offered) throw new UnsupportedChallenge(parseChallenges(res.headers['www-authenticate']).map((c) => c.scheme));
    if (res.statusCode >= 500) throw new UpstreamUnhealthy(res.statusCode);
    this.known = offered ? { kind: 'challenge', challenge: essential(offered) } : { kind: 'open' };
    return this.known;
  }

  /** The challenge a 401 offers, as the one to use: the known one when it names the same token server. */
  private candidate(offered: Challenge): Known {
    const c = essential(offered);
    const k = this.known;
    const same =
      k?.kind === 'challenge' && k.challenge.scheme === c.scheme && k.challenge.params['realm'] === c.params['realm'] && k.challenge.params['service'] === c.params['service'];
    return same ? k : { kind: 'challenge', challenge: c };
  }

  private adopt(candidate: Known): void {
    this.known = candidate;
  }
}

/** The part of a challenge that identifies the token server: scheme, realm, service. */
function essential(c: Challenge): Challenge {
  const params: Record<string, string> = {};
  if (c.params['realm'] !== undefined) params['realm'] = c.params['realm'];
  if (c.params['service'] !== undefined) params['service'] = c.params['service'];
  return { scheme: c.scheme, params };
}

function withAuthorization(req: UpstreamRequest, header: string | undefined): UpstreamRequest {
  if (header === undefined) return req;
  return { ...req, headers: [...req.headers, 'authorization', header] };
}

/** Reads (a bounded part of) an answer the client will not get; the registry's error message, if any. */
async function errorMessage(res: UpstreamResponse): Promise<string | undefined> {
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
