/**
 * The authentication transport alone, with a fake registry below it (a Send that answers from a
 * script and records what it was sent) and a fake token service, as go-containerregistry's
 * bearer_test does: the challenge ping, the Authorization per scheme, 401 replay, scope
 * widening, challenge re-learning and its trust rule, and the refusals.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { describe, expect, it } from 'vitest';
import type { Credentials } from '../../src/connectors/model.ts';
import { Authenticator } from '../../src/upstream/auth.ts';
import { RealmNotTrusted, TokenServerError, UnsupportedChallenge, UpstreamRefused, UpstreamUnhealthy } from '../../src/upstream/errors.ts';
import type { TokenRequest, TokenService } from '../../src/upstream/token.ts';
import type { Send, UpstreamRequest, UpstreamResponse } from '../../src/upstream/types.ts';
import { connectorFor } from '../helpers/connectors.ts';

const CREDS: Credentials = { username: 'robot', password: 'Pa55word' };
const ORIGIN = 'https://registry.example.com';
const REALM = 'https://registry.example.com/token';
const BEARER = `Bearer realm="${REALM}",service="registry"`;

type Reply = { status: number; headers?: Record<string, string>; body?: string };

function answer(r: Reply): UpstreamResponse {
  return { statusCode: r.status, headers: r.headers ?? {}, body: Readable.from([Buffer.from(r.body ?? '')], { objectMode: false }) };
}

/** A registry below the layer: answers each request with `script`, records requests with their Authorization. */
function registry(script: (req: UpstreamRequest, n: number) => Reply) {
  const sent: { path: string; authorization: string | undefined }[] = [];
  const send: Send = async (req) => {
    const i = req.headers.findIndex((h, k) => k % 2 === 0 && h.toLowerCase() === 'authorization');
    sent.push({ path: req.path, authorization: i === -1 ? undefined : req.headers[i + 1] });
    return answer(script(req, sent.length));
  };
  return { send, sent };
}

/** Tokens `t1`, `t2`, … per exchange; `fail` makes an exchange throw; the requests are kept. */
function tokens(fail?: (r: TokenRequest) => Error | undefined) {
  const asked: { realm: string; scopes: readonly string[]; rejected: string | undefined }[] = [];
  let n = 0;
  const service = {
    async get(r: TokenRequest, _d: Dispatcher, rejected?: string) {
      asked.push({ realm: r.realm, scopes: r.scopes, rejected });
      const err = fail?.(r);
      if (err) throw err;
      return { value: `t${++n}`, expiresAt: Date.now() + 300_000 };
    },
  };
  return { service: service as unknown as TokenService, asked };
}

function auth(inner: Send, t = tokens().service, c = connectorFor(ORIGIN, { namespace: 'ns', name: 'c', credentials: CREDS })): Authenticator {
  return new Authenticator({ connector: c, key: 'ns/c', tokens: t, dispatcher: {} as Dispatcher, allowedRealmHosts: [], inner });
}

const get = (path: string, scopes: string[] = ['repository:a:pull']): UpstreamRequest => ({ method: 'GET', path, headers: [], body: null, scopes, traffic: 'small' });

async function refusal(p: Promise<unknown>): Promise<UpstreamRefused> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamRefused);
  return err as UpstreamRefused;
}

describe('the challenge', () => {
  it('an open registry: one ping, then requests without Authorization', async () => {
    const r = registry(() => ({ status: 200 }));
    const a = auth(r.send);
    await a.send(get('/v2/a/manifests/1'));
    await a.send(get('/v2/a/manifests/2'));
    expect(r.sent).toEqual([
      { path: '/v2/', authorization: undefined },
      { path: '/v2/a/manifests/1', authorization: undefined },
      { path: '/v2/a/manifests/2', authorization: undefined },
    ]);
  });

  it('concurrent first requests share one ping', async () => {
    const r = registry((req) => (req.path === '/v2/' ? { status: 401, headers: { 'www-authenticate': BEARER } } : { status: 200 }));
    const a = auth(r.send);
    await Promise.all([a.send(get('/v2/a/manifests/1')), a.send(get('/v2/a/manifests/2')), a.ready()]);
    expect(r.sent.filter((s) => s.path === '/v2/')).toHaveLength(1);
  });

  it('a ping answered 5xx, or with a scheme the proxy lacks, is a typed failure, and the next request pings again', async () => {
    let status = 503;
    const r = registry(() => (status === 503 ? { status } : { status: 401, headers: { 'www-authenticate': 'Negotiate abc' } }));
    const a = auth(r.send);
    await expect(a.send(get('/v2/a/manifests/1'))).rejects.toBeInstanceOf(UpstreamUnhealthy);
    status = 401;
    await expect(a.send(get('/v2/a/manifests/1'))).rejects.toBeInstanceOf(UnsupportedChallenge);
    expect(r.sent.map((s) => s.path)).toEqual(['/v2/', '/v2/']);
  });

  it("Bearer: a token for the request's scopes; Basic: the credentials", async () => {
    const t = tokens();
    const bearer = registry((req) => (req.path === '/v2/' ? { status: 401, headers: { 'www-authenticate': BEARER } } : { status: 200 }));
    await auth(bearer.send, t.service).send(get('/v2/a/manifests/1', ['repository:a:pull']));
    expect(bearer.sent.at(-1)!.authorization).toBe('Bearer t1');
    expect(t.asked).toEqual([{ realm: REALM, scopes: ['repository:a:pull'], rejected: undefined }]);
    const basic = registry((req) => (req.path === '/v2/' ? { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } } : { status: 200 }));
    await auth(basic.send).send(get('/v2/a/manifests/1'));
    expect(basic.sent.at(-1)!.authorization).toBe(`Basic ${Buffer.from('robot:Pa55word').toString('base64')}`);
  });

  it('an anonymous connector asks the realm without credentials and sends no Basic header', async () => {
    const basic = registry((req) => (req.path === '/v2/' ? { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } } : { status: 200 }));
    await auth(basic.send, tokens().service, connectorFor(ORIGIN, { namespace: 'ns', name: 'c' })).send(get('/v2/a/manifests/1'));
    expect(basic.sent.at(-1)!.authorization).toBeUndefined();
  });
});

describe('401 and replay', () => {
  const once401 =
    (extra = '') =>
    (req: UpstreamRequest, n: number): Reply =>
      req.path === '/v2/' ? { status: 401, headers: { 'www-authenticate': BEARER } } : n === 2 ? { status: 401, headers: { 'www-authenticate': BEARER + extra } } : { status: 200 };

  it('a request without a body gets a fresh token (the refused one named) and one retry', async () => {
    const t = tokens();
    const r = registry(once401(',error="invalid_token"'));
    const res = await auth(r.send, t.service).send(get('/v2/a/manifests/1'));
    expect(res.statusCode).toBe(200);
    expect(r.sent.slice(1).map((s) => s.authorization)).toEqual(['Bearer t1', 'Bearer t2']);
    expect(t.asked.map((a) => a.rejected)).toEqual([undefined, 't1']);
  });

  it('a body held in memory is sent again; a streamed one is not: the client gets the refusal, and its retry a fresh token', async () => {
    const buffered = registry(once401());
    const put = { ...get('/v2/a/manifests/v1', ['repository:a:pull,push']), method: 'PUT', body: Buffer.from('{}') };
    expect((await auth(buffered.send).send(put)).statusCode).toBe(200);
    const t = tokens();
    const streamed = registry(once401());
    const patch = { ...get('/v2/a/blobs/uploads/u', ['repository:a:pull,push']), method: 'PATCH', body: Readable.from([Buffer.from('x')]), traffic: 'bulk' as const };
    const a = auth(streamed.send, t.service);
    const err = await refusal(a.send(patch));
    expect(err.status).toBe(401);
    expect(streamed.sent.filter((s) => s.path.includes('uploads'))).toHaveLength(1);
    expect(t.asked.map((x) => x.rejected)).toEqual([undefined, 't1']); // the fresh token is ready for the retry
  });

  it('insufficient_scope widens the scopes with what the challenge asks, and remembers it for the next such request', async () => {
    const t = tokens();
    const r = registry((req, n) =>
      req.path === '/v2/'
        ? { status: 401, headers: { 'www-authenticate': BEARER } }
        : n === 2
          ? { status: 401, headers: { 'www-authenticate': `${BEARER},error="insufficient_scope",scope="repository:a:pull repository:b:pull"` } }
          : { status: 200 },
    );
    const a = auth(r.send, t.service);
    await a.send(get('/v2/a/manifests/1'));
    await a.send(get('/v2/a/manifests/2'));
    expect(t.asked.map((x) => x.scopes)).toEqual([['repository:a:pull'], ['repository:a:pull', 'repository:b:pull'], ['repository:a:pull', 'repository:b:pull']]);
  });

  it("refused again after the retry: UpstreamRefused with the scopes and the registry's own message; 403 at once without a retry", async () => {
    const r = registry((req) =>
      req.path === '/v2/'
        ? { status: 401, headers: { 'www-authenticate': BEARER } }
        : { status: 401, headers: { 'www-authenticate': BEARER }, body: '{"errors":[{"code":"DENIED","message":"no way"}]}' },
    );
    const err = await refusal(auth(r.send).send(get('/v2/a/manifests/1')));
    expect([err.status, err.scopes, err.said, err.insufficientScope]).toEqual([401, ['repository:a:pull'], 'DENIED: no way', false]);
    const forbidden = registry((req) => (req.path === '/v2/' ? { status: 200 } : { status: 403 }));
    expect((await refusal(auth(forbidden.send).send(get('/v2/a/manifests/1')))).status).toBe(403);
    expect(forbidden.sent).toHaveLength(2);
  });

  it('valid credentials whose token lacks push: insufficient_scope after the retry, naming the action the token does not grant', async () => {
    const jwt = (access: unknown): string => ['e30', Buffer.from(JSON.stringify({ access })).toString('base64url'), 'sig'].join('.');
    const service = { get: async () => ({ value: jwt([{ type: 'repository', name: 'a', actions: ['pull'] }]), expiresAt: Date.now() + 300_000 }) } as unknown as TokenService;
    const scope = 'repository:a:pull,push';
    const r = registry((req) =>
      req.path === '/v2/'
        ? { status: 401, headers: { 'www-authenticate': BEARER } }
        : { status: 401, headers: { 'www-authenticate': `${BEARER},error="insufficient_scope",scope="${scope}"` } },
    );
    const err = await refusal(auth(r.send, service).send({ ...get('/v2/a/blobs/uploads/', [scope]), method: 'POST' }));
    expect([err.insufficientScope, err.missing]).toEqual([true, ['push on a']]);
  });
});

describe('re-learning the challenge', () => {
  const switching =
    (realm: () => string) =>
    (req: UpstreamRequest): Reply => {
      if (req.path === '/v2/') return { status: 401, headers: { 'www-authenticate': BEARER } };
      const auth = req.headers[req.headers.indexOf('authorization') + 1];
      return auth === 'Bearer ok' ? { status: 200 } : { status: 401, headers: { 'www-authenticate': `Bearer realm="${realm()}",service="registry"` } };
    };
  /** Tokens are `ok` from the realm that works, `stale` from any other. */
  function realmTokens(good: string, fail?: string) {
    const asked: string[] = [];
    const service = {
      async get(r: TokenRequest) {
        asked.push(r.realm);
        if (r.realm === fail) throw new TokenServerError('network', new URL(r.realm).host, 'could not be reached', { anonymous: false });
        return { value: r.realm === good ? 'ok' : 'stale', expiresAt: Date.now() + 300_000 };
      },
    };
    return { service: service as unknown as TokenService, asked };
  }

  it('a new realm the trust rule allows is adopted once its exchange succeeds', async () => {
    const moved = 'https://auth.example.com/token';
    const t = realmTokens(moved);
    const r = registry(switching(() => moved));
    const a = auth(r.send, t.service);
    expect((await a.send(get('/v2/a/manifests/1'))).statusCode).toBe(200);
    await a.send(get('/v2/a/manifests/2'));
    expect(t.asked).toEqual([REALM, moved, moved]);
  });

  it('a foreign realm after a good one: RealmNotTrusted, nothing sent there, and the good challenge keeps working', async () => {
    const foreign = 'https://evil.example.net/token';
    const asked: string[] = [];
    let issued = 0;
    const service = {
      async get(r: TokenRequest) {
        asked.push(r.realm);
        return { value: ++issued === 1 ? 'ok' : 'stale', expiresAt: Date.now() + 300_000 };
      },
    } as unknown as TokenService;
    let evil = false;
    const r = registry((req) => {
      if (req.path === '/v2/') return { status: 401, headers: { 'www-authenticate': BEARER } };
      if (evil) return { status: 401, headers: { 'www-authenticate': `Bearer realm="${foreign}",service="x"` } };
      return { status: 200 };
    });
    const a = auth(r.send, service);
    expect((await a.send(get('/v2/a/manifests/1'))).statusCode).toBe(200);
    evil = true;
    await expect(a.send(get('/v2/a/manifests/1'))).rejects.toBeInstanceOf(RealmNotTrusted);
    evil = false;
    expect((await a.send(get('/v2/a/manifests/1'))).statusCode).toBe(200);
    expect(asked.every((x) => x === REALM)).toBe(true);
  });

  it('a new realm whose exchange fails is not adopted: the next request still uses the known one', async () => {
    const moved = 'https://auth.example.com/token';
    const t = realmTokens(REALM, moved);
    let realm = moved;
    const r = registry((req) => {
      if (req.path === '/v2/') return { status: 401, headers: { 'www-authenticate': BEARER } };
      const sent = req.headers[req.headers.indexOf('authorization') + 1];
      return realm === moved && sent === 'Bearer ok' && req.path.endsWith('/1')
        ? { status: 401, headers: { 'www-authenticate': `Bearer realm="${moved}",service="registry"` } }
        : { status: 200 };
    });
    const a = auth(r.send, t.service);
    await expect(a.send(get('/v2/a/manifests/1'))).rejects.toBeInstanceOf(TokenServerError);
    realm = REALM;
    expect((await a.send(get('/v2/a/manifests/2'))).statusCode).toBe(200);
    expect(t.asked).toEqual([REALM, moved, REALM]);
  });
});
