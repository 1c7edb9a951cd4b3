/**
 * Token exchange and cache: token body parsing, cache lifetimes, credential fingerprints, and the
 * TokenService against a small token server in this process (node:http on 127.0.0.1, port 0).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Credentials } from '../../src/connectors/model.ts';
import type { RegistryError } from '../../src/distribution/errors.ts';
import { TokenServerError } from '../../src/upstream/errors.ts';
import { upstreamFailure } from '../../src/upstream/failures.ts';
import { cacheTtl, credentialsFingerprint, parseTokenBody, type TokenRequest, TokenService } from '../../src/upstream/token.ts';

const NOW = Date.parse('2025-06-01T12:00:00.000Z');

describe('parseTokenBody', () => {
  type Parsed = ReturnType<typeof parseTokenBody>;
  const ok = (value: string, expiresAt: number, refreshToken?: string): Parsed => ({ token: { value, expiresAt }, refreshToken });
  const cases: [what: string, body: string, expected: Parsed][] = [
    ['token', '{"token":"t1","expires_in":300}', ok('t1', NOW + 300_000)],
    ['access_token', '{"access_token":"a1","expires_in":300}', ok('a1', NOW + 300_000)],
    ['token preferred over access_token', '{"token":"t1","access_token":"a1","expires_in":300}', ok('t1', NOW + 300_000)],
    ['empty token falls back to access_token', '{"token":"","access_token":"a1","expires_in":300}', ok('a1', NOW + 300_000)],
    ['non-string token falls back to access_token', '{"token":42,"access_token":"a1"}', ok('a1', NOW + 60_000)],
    ['expires_in missing: 60 s', '{"token":"t1"}', ok('t1', NOW + 60_000)],
    ['expires_in below 60: 60 s', '{"token":"t1","expires_in":30}', ok('t1', NOW + 60_000)],
    ['expires_in 0: 60 s', '{"token":"t1","expires_in":0}', ok('t1', NOW + 60_000)],
    ['expires_in negative: 60 s', '{"token":"t1","expires_in":-100}', ok('t1', NOW + 60_000)],
    ['expires_in exactly 60', '{"token":"t1","expires_in":60}', ok('t1', NOW + 60_000)],
    ['expires_in 61', '{"token":"t1","expires_in":61}', ok('t1', NOW + 61_000)],
    ['expires_in fractional', '{"token":"t1","expires_in":90.5}', ok('t1', NOW + 90_500)],
    ['expires_in as a string: default', '{"token":"t1","expires_in":"300"}', ok('t1', NOW + 60_000)],
    ['expires_in null: default', '{"token":"t1","expires_in":null}', ok('t1', NOW + 60_000)],
    ['expires_in one hour', '{"token":"t1","expires_in":3600}', ok('t1', NOW + 3_600_000)],
    ['issued_at in the past: expiry counts from it', '{"token":"t1","expires_in":300,"issued_at":"2025-06-01T11:58:00Z"}', ok('t1', NOW - 120_000 + 300_000)],
    ['issued_at with fractional seconds and offset', '{"token":"t1","expires_in":300,"issued_at":"2025-06-01T13:59:30.500+02:00"}', ok('t1', NOW - 29_500 + 300_000)],
    ['issued_at in the future: ignored', '{"token":"t1","expires_in":300,"issued_at":"2025-06-01T12:10:00Z"}', ok('t1', NOW + 300_000)],
    ['issued_at equal to now', '{"token":"t1","expires_in":300,"issued_at":"2025-06-01T12:00:00Z"}', ok('t1', NOW + 300_000)],
    ['issued_at not a date: ignored', '{"token":"t1","expires_in":300,"issued_at":"yesterday-ish"}', ok('t1', NOW + 300_000)],
    ['issued_at as a number: ignored', '{"token":"t1","expires_in":300,"issued_at":1}', ok('t1', NOW + 300_000)],
    ['issued_at past with default expires_in', '{"token":"t1","issued_at":"2025-06-01T11:59:30Z"}', ok('t1', NOW + 30_000)],
    ['refresh_token', '{"token":"t1","expires_in":300,"refresh_token":"r1"}', ok('t1', NOW + 300_000, 'r1')],
    ['empty refresh_token', '{"token":"t1","expires_in":300,"refresh_token":""}', ok('t1', NOW + 300_000)],
    ['non-string refresh_token', '{"token":"t1","expires_in":300,"refresh_token":7}', ok('t1', NOW + 300_000)],
    ['unknown fields ignored', '{"token":"t1","expires_in":300,"scope":"repository:x:pull","extra":{"a":1}}', ok('t1', NOW + 300_000)],
    // failures
    ['empty token', '{"token":"","expires_in":300}', 'answered without a token'],
    ['empty token and access_token', '{"token":"","access_token":""}', 'answered without a token'],
    ['no token field', '{"expires_in":300}', 'answered without a token'],
    ['non-string token and no access_token', '{"token":42}', 'answered without a token'],
    ['empty object', '{}', 'answered without a token'],
    ['array', '[]', 'answered without a token'],
    ['not JSON', '<html>502 Bad Gateway</html>', 'answered with a body that is not JSON'],
    ['empty body', '', 'answered with a body that is not JSON'],
    ['truncated JSON', '{"token":"t1"', 'answered with a body that is not JSON'],
    ['JSON null', 'null', 'answered with a body that is not a JSON object'],
    ['JSON string', '"t1"', 'answered with a body that is not a JSON object'],
    ['JSON number', '42', 'answered with a body that is not a JSON object'],
    ['JSON true', 'true', 'answered with a body that is not a JSON object'],
  ];
  it.each(cases)('%s', (_what, body, expected) => {
    expect(parseTokenBody(body, NOW)).toEqual(expected);
  });

  it('never quotes the body in its complaint', () => {
    const secret = 'tok-very-secret';
    for (const body of [`not json ${secret}`, `{"token":"","secret":"${secret}"}`, `"${secret}"`]) {
      const r = parseTokenBody(body, NOW);
      expect(typeof r).toBe('string');
      expect(r).not.toContain(secret);
    }
  });
});

describe('cacheTtl', () => {
  const cases: [lifetimeMs: number, expected: number][] = [
    // 10% margin between 50 s and 600 s
    [60_000, 54_000],
    [100_000, 90_000],
    [300_000, 270_000],
    [600_000, 540_000],
    // at least 5 s
    [50_000, 45_000],
    [40_000, 35_000],
    [10_000, 5_000],
    // at most 60 s
    [601_000, 541_000],
    [3_600_000, 3_540_000],
    [86_400_000, 86_340_000],
    // never below 1 s
    [6_000, 1_000],
    [5_000, 1_000],
    [0, 1_000],
    [-10_000, 1_000],
  ];
  it.each(cases)('%i ms → %i ms', (lifetime, expected) => {
    expect(cacheTtl(lifetime)).toBe(expected);
  });
});

describe('credentialsFingerprint', () => {
  const alice: Credentials = { username: 'alice', password: 'hunter2' };

  it('is "anonymous" without credentials', () => {
    expect(credentialsFingerprint(undefined)).toBe('anonymous');
  });

  it('is 16 hex digits', () => {
    expect(credentialsFingerprint(alice)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('is stable', () => {
    expect(credentialsFingerprint(alice)).toBe(credentialsFingerprint({ username: 'alice', password: 'hunter2' }));
  });

  const different: [what: string, one: Credentials, other: Credentials][] = [
    ['the password changes', { username: 'alice', password: 'hunter3' }, alice],
    ['the user name changes', { username: 'bob', password: 'hunter2' }, alice],
    ['the user name ends elsewhere (ab:c and a:bc: it does not confuse where the password begins)', { username: 'ab', password: 'c' }, { username: 'a', password: 'bc' }],
  ];
  it.each(different)('differs when %s', (_what, one, other) => {
    expect(credentialsFingerprint(one)).not.toBe(credentialsFingerprint(other));
  });

  it('contains neither the user name nor the password', () => {
    const fp = credentialsFingerprint({ username: 'abc123', password: 'abc123' });
    expect(fp).not.toContain('abc123');
  });
});

// ---------------------------------------------------------------------------------------------
// TokenService against a token server in this process

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body as a form, for POST. */
  form: URLSearchParams;
}

type Reply = { status: number; body: string } | 'hang';
type Handler = (req: Seen, n: number) => Reply;

interface TokenServer {
  realm: string;
  host: string;
  seen: Seen[];
  handler: Handler;
  close(): Promise<void>;
}

const USER = 'robot$ci';
const PASSWORD = 'pa55:W0rd/with%chars&=';
const CREDS: Credentials = { username: USER, password: PASSWORD };

const json = (status: number, body: unknown): Reply => ({ status, body: JSON.stringify(body) });
/** Tokens numbered by request, so every exchange yields a new one. */
const issue =
  (extra: Record<string, unknown> = {}): Handler =>
  (_req, n) =>
    json(200, { token: `tok-${n}`, expires_in: 300, ...extra });

const servers: TokenServer[] = [];
let agent: Agent;

async function tokenServer(handler: Handler): Promise<TokenServer> {
  const seen: Seen[] = [];
  const ts = { seen, handler } as TokenServer;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = Buffer.concat(chunks).toString('utf8');
      const s: Seen = { method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body, form: new URLSearchParams(body) };
      seen.push(s);
      const reply = ts.handler(s, seen.length);
      if (reply === 'hang') return;
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  ts.host = `127.0.0.1:${port}`;
  ts.realm = `http://127.0.0.1:${port}/token`;
  ts.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  servers.push(ts);
  return ts;
}

function request(ts: TokenServer, fields: Partial<TokenRequest> = {}): TokenRequest {
  return { connector: 'default/reg', credentials: undefined, realm: ts.realm, service: 'reg.example', scopes: ['repository:foo:pull'], ...fields };
}

function service(now?: () => number, timeout = 5_000): TokenService {
  return new TokenService({ max: 100, timeout, ...(now ? { now } : {}) });
}

/** The OCI error a client gets for what a promise rejects with (a TokenServerError, worded by upstreamFailure). */
async function failure(p: Promise<unknown>): Promise<RegistryError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TokenServerError);
    return upstreamFailure(err, { key: 'default/reg', host: 'registry.invalid', anonymous: false });
  }
  throw new Error('expected a rejection');
}

/** Everything an error could show a client or a log. */
function exposed(err: RegistryError): string {
  return [err.message, err.body(), JSON.stringify(err.detail), JSON.stringify(err.headers), String(err.stack)].join('\n');
}

beforeEach(() => {
  agent = new Agent();
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await agent.destroy();
});

describe('TokenService: cache', () => {
  it('exchanges once, then answers from the cache', async () => {
    const ts = await tokenServer(issue());
    const svc = service();
    const a = await svc.get(request(ts), agent);
    const b = await svc.get(request(ts), agent);
    expect(a.value).toBe('tok-1');
    expect(b).toBe(a);
    expect(ts.seen).toHaveLength(1);
    expect(svc.stats).toEqual({ exchanges: 1, hits: 1, failures: 0 });
    expect(svc.size).toBe(1);
  });

  it('keys the cache by connector, credentials, realm, service and scopes', async () => {
    const ts = await tokenServer(issue());
    const other = await tokenServer((_req, n) => json(200, { token: `other-${n}`, expires_in: 300 }));
    const svc = service();
    const variants: TokenRequest[] = [
      request(ts),
      request(ts, { connector: 'default/other' }),
      request(ts, { credentials: CREDS }),
      request(ts, { credentials: { username: USER, password: 'rotated' } }),
      request(ts, { service: 'other.example' }),
      request(ts, { service: undefined }),
      request(ts, { scopes: ['repository:foo:pull,push'] }),
      request(ts, { scopes: ['repository:bar:pull', 'repository:foo:pull'] }),
      request(ts, { scopes: [] }),
      request(other),
    ];
    const values = new Set<string>();
    for (const v of variants) values.add((await svc.get(v, agent)).value);
    expect(values.size).toBe(variants.length);
    expect(svc.stats.exchanges).toBe(variants.length);
    expect(svc.stats.hits).toBe(0);
    // and each is now cached
    for (const v of variants) await svc.get(v, agent);
    expect(svc.stats).toEqual({ exchanges: variants.length, hits: variants.length, failures: 0 });
  });

  it('single flight: 20 concurrent gets share one exchange', async () => {
    const ts = await tokenServer(issue());
    const svc = service();
    const tokens = await Promise.all(Array.from({ length: 20 }, () => svc.get(request(ts), agent)));
    expect(ts.seen).toHaveLength(1);
    expect(new Set(tokens.map((t) => t.value))).toEqual(new Set(['tok-1']));
    expect(svc.stats).toEqual({ exchanges: 1, hits: 19, failures: 0 });
  });

  it('single flight: 20 concurrent gets share one failure, and the next get tries again', async () => {
    const ts = await tokenServer(() => json(503, { error: 'down' }));
    const svc = service();
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => svc.get(request(ts), agent)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    const reasons = new Set(results.map((r) => (r as PromiseRejectedResult).reason as unknown));
    expect(reasons.size).toBe(1);
    expect(ts.seen).toHaveLength(1);
    expect(svc.stats.exchanges).toBe(1);
    ts.handler = issue();
    expect((await svc.get(request(ts), agent)).value).toBe('tok-2');
    expect(ts.seen).toHaveLength(2);
    expect(svc.stats.exchanges).toBe(2);
  });

  it('a rejected token forces a new exchange; another token is not rejected', async () => {
    const ts = await tokenServer(issue());
    const svc = service();
    const first = await svc.get(request(ts), agent);
    expect((await svc.get(request(ts), agent, 'some-other-token')).value).toBe('tok-1');
    const second = await svc.get(request(ts), agent, first.value);
    expect(second.value).toBe('tok-2');
    expect(ts.seen).toHaveLength(2);
    // the new token is cached; rejecting the old one again does not exchange again
    expect((await svc.get(request(ts), agent, first.value)).value).toBe('tok-2');
    expect(ts.seen).toHaveLength(2);
  });

  it('forgetConnector drops that connector’s tokens only', async () => {
    const ts = await tokenServer(issue());
    const svc = service();
    await svc.get(request(ts, { connector: 'default/harbor' }), agent);
    await svc.get(request(ts, { connector: 'default/harbor', scopes: ['repository:bar:pull'] }), agent);
    await svc.get(request(ts, { connector: 'default/harbor2' }), agent);
    await svc.get(request(ts, { connector: 'other/harbor' }), agent);
    expect(svc.size).toBe(4);
    svc.forgetConnector('default/harbor');
    expect(svc.size).toBe(2);
    expect((await svc.get(request(ts, { connector: 'default/harbor' }), agent)).value).toBe('tok-5');
    expect((await svc.get(request(ts, { connector: 'default/harbor2' }), agent)).value).toBe('tok-3');
    expect((await svc.get(request(ts, { connector: 'other/harbor' }), agent)).value).toBe('tok-4');
    expect(ts.seen).toHaveLength(5);
  });

  it('forgetConnector drops the connector’s refresh token too', async () => {
    const ts = await tokenServer(issue({ refresh_token: 'rt-1' }));
    const svc = service();
    await svc.get(request(ts, { credentials: CREDS }), agent);
    svc.forgetConnector('default/reg');
    await svc.get(request(ts, { credentials: CREDS }), agent);
    expect(ts.seen.map((s) => s.form.get('grant_type'))).toEqual(['password', 'password']);
  });

  it('a token past its expiry (injected clock) is exchanged again', async () => {
    let now = NOW;
    const ts = await tokenServer(issue());
    const svc = service(() => now);
    expect((await svc.get(request(ts), agent)).value).toBe('tok-1');
    expect((await svc.get(request(ts), agent)).expiresAt).toBe(NOW + 300_000);
    now = NOW + 200_000;
    expect((await svc.get(request(ts), agent)).value).toBe('tok-1');
    now = NOW + 301_000;
    const renewed = await svc.get(request(ts), agent);
    expect(renewed.value).toBe('tok-2');
    expect(renewed.expiresAt).toBe(NOW + 301_000 + 300_000);
    expect(ts.seen).toHaveLength(2);
  });

  it('a token within the safety margin of its expiry (injected clock) is exchanged again', async () => {
    // 300 s token: cached for 270 s (10% margin); at 280 s it must not be used any more
    let now = NOW;
    const ts = await tokenServer(issue());
    const svc = service(() => now);
    await svc.get(request(ts), agent);
    now = NOW + 269_000;
    expect((await svc.get(request(ts), agent)).value).toBe('tok-1');
    now = NOW + 280_000;
    expect((await svc.get(request(ts), agent)).value).toBe('tok-2');
  });

  it('expiry counts from issued_at (injected clock)', async () => {
    let now = NOW;
    const ts = await tokenServer((_req, n) => json(200, { token: `tok-${n}`, expires_in: 120, issued_at: new Date(now - 100_000).toISOString() }));
    const svc = service(() => now);
    const t = await svc.get(request(ts), agent);
    expect(t.expiresAt).toBe(NOW + 20_000);
    now = NOW + 21_000;
    expect((await svc.get(request(ts), agent)).value).toBe('tok-2');
  });
});

describe('TokenService: exchange protocol', () => {
  it('POSTs the OAuth2 password grant first when there are credentials', async () => {
    const ts = await tokenServer(issue());
    const svc = service();
    const t = await svc.get(request(ts, { credentials: CREDS, scopes: ['repository:a:pull', 'repository:b:pull,push'] }), agent);
    expect(t.value).toBe('tok-1');
    expect(ts.seen).toHaveLength(1);
    const post = ts.seen[0]!;
    expect(post.method).toBe('POST');
    expect(post.path).toBe('/token');
    expect(post.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(post.headers['authorization']).toBeUndefined();
    expect(Object.fromEntries(post.form)).toEqual({
      grant_type: 'password',
      client_id: 'oci-connector-proxy',
      access_type: 'offline',
      service: 'reg.example',
      scope: 'repository:a:pull repository:b:pull,push',
      username: USER,
      password: PASSWORD,
    });
    expect(post.form.getAll('scope')).toEqual(['repository:a:pull repository:b:pull,push']);
  });

  it('POST without scopes or service sends neither field', async () => {
    const ts = await tokenServer(issue());
    await service().get(request(ts, { credentials: CREDS, scopes: [], service: undefined }), agent);
    expect(Object.fromEntries(ts.seen[0]!.form)).toEqual({
      grant_type: 'password',
      client_id: 'oci-connector-proxy',
      access_type: 'offline',
      username: USER,
      password: PASSWORD,
    });
  });

  it('keeps the realm’s own query string on POST and GET', async () => {
    const ts = await tokenServer((req, n) => (req.method === 'POST' ? json(404, {}) : json(200, { token: `tok-${n}` })));
    await service().get(request(ts, { credentials: CREDS, realm: ts.realm + '?tenant=t1' }), agent);
    expect(ts.seen.map((s) => [s.method, s.query.get('tenant')])).toEqual([
      ['POST', 't1'],
      ['GET', 't1'],
    ]);
  });

  it('uses the refresh_token grant on the next exchange once a refresh token was issued', async () => {
    const ts = await tokenServer((_req, n) => json(200, { token: `tok-${n}`, expires_in: 300, refresh_token: `rt-${n}` }));
    const svc = service();
    await svc.get(request(ts, { credentials: CREDS }), agent);
    await svc.get(request(ts, { credentials: CREDS, scopes: ['repository:bar:pull'] }), agent);
    expect(ts.seen).toHaveLength(2);
    expect(Object.fromEntries(ts.seen[1]!.form)).toEqual({
      grant_type: 'refresh_token',
      client_id: 'oci-connector-proxy',
      access_type: 'offline',
      service: 'reg.example',
      scope: 'repository:bar:pull',
      refresh_token: 'rt-1',
    });
    // the newest refresh token replaces the old one
    await svc.get(request(ts, { credentials: CREDS, scopes: ['repository:baz:pull'] }), agent);
    expect(ts.seen[2]!.form.get('refresh_token')).toBe('rt-2');
  });

  it('does not share a refresh token with other credentials or another connector', async () => {
    const ts = await tokenServer((_req, n) => json(200, { token: `tok-${n}`, refresh_token: `rt-${n}` }));
    const svc = service();
    await svc.get(request(ts, { credentials: CREDS }), agent);
    await svc.get(request(ts, { credentials: { username: USER, password: 'rotated' }, scopes: ['repository:x:pull'] }), agent);
    await svc.get(request(ts, { connector: 'default/other', credentials: CREDS, scopes: ['repository:y:pull'] }), agent);
    expect(ts.seen.map((s) => s.form.get('grant_type'))).toEqual(['password', 'password', 'password']);
  });

  it('falls back to the password grant when the refresh token is refused', async () => {
    const ts = await tokenServer((req, n) =>
      req.form.get('grant_type') === 'refresh_token' ? json(400, { error: 'invalid_grant' }) : json(200, { token: `tok-${n}`, refresh_token: `rt-${n}` }),
    );
    const svc = service();
    await svc.get(request(ts, { credentials: CREDS }), agent);
    const t = await svc.get(request(ts, { credentials: CREDS, scopes: ['repository:bar:pull'] }), agent);
    expect(t.value).toBe('tok-3');
    expect(ts.seen.map((s) => s.form.get('grant_type'))).toEqual(['password', 'refresh_token', 'password']);
    expect(ts.seen[2]!.form.get('password')).toBe(PASSWORD);
  });

  it.each([404, 405])('falls back to GET when the POST answers %i, and remembers it for the realm', async (status) => {
    const ts = await tokenServer((req, n) => (req.method === 'POST' ? json(status, {}) : json(200, { token: `tok-${n}` })));
    const svc = service();
    expect((await svc.get(request(ts, { credentials: CREDS }), agent)).value).toBe('tok-2');
    expect((await svc.get(request(ts, { credentials: CREDS, scopes: ['repository:bar:pull'] }), agent)).value).toBe('tok-3');
    expect(ts.seen.map((s) => s.method)).toEqual(['POST', 'GET', 'GET']);
    expect(svc.stats.exchanges).toBe(2);
  });

  it('tries GET after a POST 401 without remembering it', async () => {
    const ts = await tokenServer((req, n) => (req.method === 'POST' ? json(401, {}) : json(200, { token: `tok-${n}` })));
    const svc = service();
    await svc.get(request(ts, { credentials: CREDS }), agent);
    await svc.get(request(ts, { credentials: CREDS, scopes: ['repository:bar:pull'] }), agent);
    expect(ts.seen.map((s) => s.method)).toEqual(['POST', 'GET', 'POST', 'GET']);
  });

  it('GET carries one scope parameter per scope, service, account and Basic auth', async () => {
    const ts = await tokenServer((req, n) => (req.method === 'POST' ? json(404, {}) : json(200, { token: `tok-${n}` })));
    await service().get(request(ts, { credentials: CREDS, scopes: ['repository:a:pull', 'repository:b:pull,push', 'registry:catalog:*'] }), agent);
    const get = ts.seen[1]!;
    expect(get.method).toBe('GET');
    expect(get.path).toBe('/token');
    expect(get.query.getAll('scope')).toEqual(['repository:a:pull', 'repository:b:pull,push', 'registry:catalog:*']);
    expect(get.query.getAll('service')).toEqual(['reg.example']);
    expect(get.query.getAll('account')).toEqual([USER]);
    expect(get.headers['authorization']).toBe('Basic ' + Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
    expect(get.query.toString()).not.toContain(encodeURIComponent(PASSWORD));
    expect(get.body).toBe('');
  });

  it('anonymous: GET only, without Authorization or account', async () => {
    const ts = await tokenServer(issue());
    const svc = service();
    const t = await svc.get(request(ts, { scopes: ['repository:library/ubuntu:pull'] }), agent);
    expect(t.value).toBe('tok-1');
    expect(ts.seen).toHaveLength(1);
    const get = ts.seen[0]!;
    expect(get.method).toBe('GET');
    expect(get.headers['authorization']).toBeUndefined();
    expect(get.query.has('account')).toBe(false);
    expect(get.query.getAll('scope')).toEqual(['repository:library/ubuntu:pull']);
    expect(get.query.get('service')).toBe('reg.example');
  });

  it('anonymous without scopes or service: a bare GET of the realm', async () => {
    const ts = await tokenServer(issue());
    await service().get(request(ts, { scopes: [], service: undefined }), agent);
    expect(ts.seen[0]!.query.toString()).toBe('');
  });

  it('accepts access_token from the token server', async () => {
    const ts = await tokenServer(() => json(200, { access_token: 'oauth-token', expires_in: 600 }));
    expect((await service().get(request(ts), agent)).value).toBe('oauth-token');
  });
});

describe('TokenService: failures', () => {
  it('401 with credentials → RegistryError 401 UNAUTHORIZED, without the password', async () => {
    const ts = await tokenServer(() => json(401, { details: 'incorrect username or password' }));
    const svc = service();
    const err = await failure(svc.get(request(ts, { credentials: CREDS }), agent));
    expect(err.status).toBe(401);
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.message).toBe(`connector default/reg: token server ${ts.host} refused the connector's credentials (401); check the connector's Secret`);
    expect(err.detail).toEqual({ connector: 'default/reg', realm: ts.host, status: 401 });
    expect(exposed(err)).not.toContain(PASSWORD);
    expect(ts.seen.map((s) => s.method)).toEqual(['POST', 'GET']);
    expect(svc.stats).toEqual({ exchanges: 1, hits: 0, failures: 1 });
    expect(svc.size).toBe(0);
  });

  it('403 with credentials → 401 UNAUTHORIZED naming the status', async () => {
    const ts = await tokenServer(() => json(403, {}));
    const err = await failure(service().get(request(ts, { credentials: CREDS }), agent));
    expect([err.status, err.code]).toEqual([401, 'UNAUTHORIZED']);
    expect(err.message).toBe(`connector default/reg: token server ${ts.host} refused the connector's credentials (403); check the connector's Secret`);
  });

  it('401 anonymous → 401 UNAUTHORIZED asking for credentials', async () => {
    const ts = await tokenServer(() => json(401, {}));
    const err = await failure(service().get(request(ts), agent));
    expect([err.status, err.code]).toEqual([401, 'UNAUTHORIZED']);
    expect(err.message).toBe(`connector default/reg: token server ${ts.host} refused anonymous access (401); the connector needs a Secret with credentials`);
  });

  const bad: [what: string, reply: Reply, tail: string][] = [
    ['503', { status: 503, body: 'upstream down' }, 'answered 503'],
    ['500', json(500, { error: 'boom' }), 'answered 500'],
    ['unexpected 302', { status: 302, body: '' }, 'answered 302'],
    ['a body that is not JSON', { status: 200, body: '<html>oops</html>' }, 'answered with a body that is not JSON'],
    ['JSON that is not an object', { status: 200, body: '"tok-secret"' }, 'answered with a body that is not a JSON object'],
    ['an empty token', json(200, { token: '', access_token: '', expires_in: 300 }), 'answered without a token'],
    ['an empty body', { status: 200, body: '' }, 'answered with a body that is not JSON'],
  ];

  it.each(bad)('anonymous GET answering %s → 502 naming the realm host', async (_what, reply, tail) => {
    const ts = await tokenServer(() => reply);
    const svc = service();
    const err = await failure(svc.get(request(ts), agent));
    expect(err.status).toBe(502);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe(`connector default/reg: token server ${ts.host} ${tail}`);
    expect(err.detail).toEqual({ connector: 'default/reg', realm: ts.host });
    expect(svc.stats).toEqual({ exchanges: 1, hits: 0, failures: 1 });
  });

  it.each(bad)('credentialed POST answering %s → 502 naming the realm host, no GET', async (_what, reply, tail) => {
    const ts = await tokenServer(() => reply);
    const err = await failure(service().get(request(ts, { credentials: CREDS }), agent));
    expect(err.status).toBe(502);
    expect(err.message).toBe(`connector default/reg: token server ${ts.host} ${tail}`);
    expect(exposed(err)).not.toContain(PASSWORD);
    expect(ts.seen.map((s) => s.method)).toEqual(['POST']);
  });

  it('a token body over 1 MiB → 502', async () => {
    const ts = await tokenServer(() => json(200, { token: 'x'.repeat(2 * 1024 * 1024) }));
    const err = await failure(service().get(request(ts), agent));
    expect(err.status).toBe(502);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(`token server ${ts.host}`);
  });

  it('a token server that never answers → 504 after the timeout', async () => {
    const ts = await tokenServer(() => 'hang');
    const svc = service(undefined, 300);
    const started = Date.now();
    const err = await failure(svc.get(request(ts, { credentials: CREDS }), agent));
    const took = Date.now() - started;
    expect(err.status).toBe(504);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe(`connector default/reg: token server ${ts.host} did not answer in time (UND_ERR_HEADERS_TIMEOUT)`);
    expect(exposed(err)).not.toContain(PASSWORD);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(5_000);
    expect(svc.stats).toEqual({ exchanges: 1, hits: 0, failures: 1 });
  });

  it('a token server that is not listening → 502 refused', async () => {
    const ts = await tokenServer(issue());
    const realm = ts.realm;
    const host = ts.host;
    await ts.close();
    const err = await failure(service().get({ connector: 'default/reg', credentials: undefined, realm, service: 's', scopes: [] }, agent));
    expect(err.status).toBe(502);
    expect(err.message).toBe(`connector default/reg: token server ${host} refused the connection (ECONNREFUSED)`);
  });

  it('no error message or stats ever contains the password, a token or a refresh token', async () => {
    const TOKEN = 'tok-SECRET-0001';
    const REFRESH = 'rt-SECRET-0002';
    let mode = 'ok';
    const ts = await tokenServer(() => {
      switch (mode) {
        case 'ok':
          return json(200, { token: TOKEN, expires_in: 300, refresh_token: REFRESH });
        case '500':
          return { status: 500, body: `error for ${PASSWORD} ${TOKEN} ${REFRESH}` };
        case 'garbage':
          return { status: 200, body: `${TOKEN} ${REFRESH} ${PASSWORD}` };
        case 'object':
          return json(200, { token: '', password: PASSWORD, refresh_token: REFRESH, hint: TOKEN });
        case '401':
          return { status: 401, body: `bad password ${PASSWORD}` };
        default:
          return 'hang';
      }
    });
    const svc = service(undefined, 300);
    await svc.get(request(ts, { credentials: CREDS }), agent);
    const errors: RegistryError[] = [];
    let i = 0;
    for (const m of ['500', 'garbage', 'object', '401', 'hang']) {
      mode = m;
      errors.push(await failure(svc.get(request(ts, { credentials: CREDS, scopes: [`repository:r${i++}:pull`] }), agent)));
    }
    expect(errors.map((e) => e.status)).toEqual([502, 502, 502, 401, 504]);
    for (const e of errors) {
      const text = exposed(e);
      for (const secret of [PASSWORD, TOKEN, REFRESH, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')]) expect(text).not.toContain(secret);
    }
    const stats = JSON.stringify(svc.stats);
    for (const secret of [PASSWORD, TOKEN, REFRESH]) expect(stats).not.toContain(secret);
    expect(svc.stats).toEqual({ exchanges: 6, hits: 0, failures: 5 });
  });
});
