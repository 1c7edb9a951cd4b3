/**
 * The token-auth fixture against the real distribution 2.8 registry: the registry trusts the
 * fixture's tokens, enforces what they grant, and the htpasswd helper makes a Basic-auth registry.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic } from '../helpers/http.ts';
import { startRegistry, type Registry } from '../helpers/registry.ts';
import { basicAuthRegistryConfig, startTokenServer, type ResourceActions, type TokenServer } from '../helpers/token-server.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function claims(token: string): { iss: string; sub: string; aud: string; exp: number; nbf: number; iat: number; jti: string; access: ResourceActions[] } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}
function jwtHeader(token: string): { alg: string; typ: string; kid?: string; x5c?: string[] } {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'));
}

/** Parses `Bearer k="v",k="v"` (no escaped quotes in what distribution sends). */
function challenge(header: string | null): { scheme: string; params: Record<string, string> } {
  expect(header).not.toBeNull();
  const [scheme, rest = ''] = header!.split(/ (.*)/s, 2);
  const params: Record<string, string> = {};
  for (const m of rest.matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return { scheme: scheme!, params };
}
/** A scope's action set, order-free: distribution 2.8 lists the actions of a challenge scope in map order. */
function scopeActions(scope: string): { resource: string; actions: string[] } {
  const last = scope.lastIndexOf(':');
  return {
    resource: scope.slice(0, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .sort(),
  };
}

async function getToken(ts: TokenServer, scopes: string[], auth?: { user: string; password: string }, extra: Record<string, string> = {}) {
  const q = new URLSearchParams({ service: ts.service });
  for (const s of scopes) q.append('scope', s);
  if (auth) q.set('account', auth.user);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  const res = await fetch(`${ts.realm}?${q}`, { headers: auth ? { authorization: basic(auth.user, auth.password) } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
async function postToken(ts: TokenServer, form: Record<string, string>) {
  const res = await fetch(ts.realm, { method: 'POST', body: new URLSearchParams(form) });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: res.status, text, body };
}

const ALICE = { user: 'alice', password: 'alice-secret-pw' };
const BOB = { user: 'bob', password: 'bob-secret-pw' };
const blob = Buffer.from('hello through a bearer token\n');
const blobDigest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;

describe('token server fixture with distribution 2.8 (token auth)', () => {
  let ts: TokenServer;
  let registry: Registry;

  beforeAll(async () => {
    ts = await startTokenServer({
      users: {
        [ALICE.user]: { password: ALICE.password, rights: (name) => (name.startsWith('a/') ? ['pull', 'push'] : ['pull']) },
        [BOB.user]: { password: BOB.password, rights: () => ['pull'] },
      },
      anonymousRights: (name) => (name === 'public/x' ? ['pull'] : []),
    });
    registry = await startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401 });
  });
  afterAll(async () => {
    await registry?.stop();
    await ts?.stop();
  });

  it('anonymous GET /v2/ is 401 with a Bearer challenge naming the realm and service', async () => {
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${ts.realm}",service="ocp-test-registry"`);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] });
  });

  it('a GET (Basic) token for repository:a/b:pull,push lets fetch push a blob and read it back', async () => {
    const { status, body } = await getToken(ts, ['repository:a/b:pull,push'], ALICE);
    expect(status).toBe(200);
    expect(body.token).toBe(body.access_token);
    expect(body.expires_in).toBe(300);
    expect(typeof body.issued_at).toBe('string');
    expect(body.refresh_token).toBeUndefined();
    const token = body.token as string;
    expect(jwtHeader(token)).toMatchObject({ alg: 'RS256', typ: 'JWT', kid: ts.keyId });
    expect(jwtHeader(token).x5c).toHaveLength(1);
    expect(ts.keyId).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    const c = claims(token);
    expect(c).toMatchObject({ iss: 'ocp-test-token-server', sub: 'alice', aud: 'ocp-test-registry', access: [{ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }] });
    expect(c.exp - c.iat).toBe(300);

    const start = await fetch(`${registry.url}/v2/a/b/blobs/uploads/`, { method: 'POST', headers: bearer(token) });
    expect(start.status).toBe(202);
    const location = new URL(start.headers.get('location')!, registry.url);
    location.searchParams.set('digest', blobDigest);
    const put = await fetch(location, { method: 'PUT', headers: { ...bearer(token), 'content-type': 'application/octet-stream' }, body: blob });
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(blobDigest);

    const read = await fetch(`${registry.url}/v2/a/b/blobs/${blobDigest}`, { headers: bearer(token) });
    expect(read.status).toBe(200);
    expect(Buffer.from(await read.arrayBuffer())).toEqual(blob);
    // Without the token the same read is challenged with the pull scope.
    const anon = await fetch(`${registry.url}/v2/a/b/blobs/${blobDigest}`);
    expect(anon.status).toBe(401);
    expect(challenge(anon.headers.get('www-authenticate')).params).toEqual({ realm: ts.realm, service: 'ocp-test-registry', scope: 'repository:a/b:pull' });
    await anon.arrayBuffer();
  });

  it("a pull-only user's token is granted pull only; the registry answers a push with 401 insufficient_scope", async () => {
    const { status, body } = await getToken(ts, ['repository:a/b:pull,push'], BOB);
    expect(status).toBe(200);
    const token = body.token as string;
    expect(claims(token).access).toEqual([{ type: 'repository', name: 'a/b', actions: ['pull'] }]);

    const push = await fetch(`${registry.url}/v2/a/b/blobs/uploads/`, { method: 'POST', headers: bearer(token) });
    expect(push.status).toBe(401); // not 403: distribution 2.8 never answers 403 for token auth
    const ch = challenge(push.headers.get('www-authenticate'));
    expect(ch.scheme).toBe('Bearer');
    expect(ch.params).toMatchObject({ realm: ts.realm, service: 'ocp-test-registry', error: 'insufficient_scope' });
    expect(scopeActions(ch.params.scope!)).toEqual({ resource: 'repository:a/b', actions: ['pull', 'push'] });
    expect(await push.json()).toEqual({
      errors: [
        {
          code: 'UNAUTHORIZED',
          message: 'authentication required',
          detail: expect.arrayContaining([
            { Type: 'repository', Class: '', Name: 'a/b', Action: 'pull' },
            { Type: 'repository', Class: '', Name: 'a/b', Action: 'push' },
          ]),
        },
      ],
    });

    // The same token still reads.
    const read = await fetch(`${registry.url}/v2/a/b/blobs/${blobDigest}`, { method: 'HEAD', headers: bearer(token) });
    expect(read.status).toBe(200);
  });

  it('an ungranted scope yields an empty actions list (not an error); anonymous rights apply', async () => {
    const bob = await getToken(ts, ['repository:c/d:push', 'repository:a/b:pull'], BOB);
    expect(bob.status).toBe(200);
    expect(claims(bob.body.token as string).access).toEqual([
      { type: 'repository', name: 'c/d', actions: [] },
      { type: 'repository', name: 'a/b', actions: ['pull'] },
    ]);

    const anon = await getToken(ts, ['repository:a/b:pull', 'repository:public/x:pull,push']);
    expect(anon.status).toBe(200);
    expect(anon.body.refresh_token).toBeUndefined();
    const token = anon.body.token as string;
    expect(claims(token)).toMatchObject({
      sub: '',
      access: [
        { type: 'repository', name: 'a/b', actions: [] },
        { type: 'repository', name: 'public/x', actions: ['pull'] },
      ],
    });
    const denied = await fetch(`${registry.url}/v2/a/b/tags/list`, { headers: bearer(token) });
    expect(denied.status).toBe(401);
    expect(challenge(denied.headers.get('www-authenticate')).params).toEqual({
      realm: ts.realm,
      service: 'ocp-test-registry',
      scope: 'repository:a/b:pull',
      error: 'insufficient_scope',
    });
    await denied.arrayBuffer();
    // Authorized, the repository just does not exist.
    const allowed = await fetch(`${registry.url}/v2/public/x/tags/list`, { headers: bearer(token) });
    expect(allowed.status).toBe(404);
    expect(((await allowed.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('NAME_UNKNOWN');
  });

  it('a wrong password or unknown user is 401 on GET and on POST, and issues nothing', async () => {
    const before = ts.tokens.length;
    const wrong = await getToken(ts, ['repository:a/b:pull'], { user: 'alice', password: 'nope' });
    expect(wrong.status).toBe(401);
    const unknown = await getToken(ts, ['repository:a/b:pull'], { user: 'mallory', password: 'x' });
    expect(unknown.status).toBe(401);
    const post = await postToken(ts, { grant_type: 'password', service: ts.service, client_id: 'ocp-test', scope: 'repository:a/b:pull', username: 'alice', password: 'nope' });
    expect(post.status).toBe(401);
    expect(post.body.error).toBe('invalid_grant');
    const badRefresh = await postToken(ts, {
      grant_type: 'refresh_token',
      service: ts.service,
      client_id: 'ocp-test',
      scope: 'repository:a/b:pull',
      refresh_token: 'not-a-refresh-token',
    });
    expect(badRefresh.status).toBe(401);
    expect(ts.tokens.length).toBe(before);
  });

  it('OAuth2 POST password grant (offline) returns a refresh token; the refresh grant and GET offline_token work', async () => {
    const pw = await postToken(ts, {
      grant_type: 'password',
      service: ts.service,
      client_id: 'ocp-test',
      scope: 'repository:a/b:pull repository:a/c:pull,push',
      username: ALICE.user,
      password: ALICE.password,
      access_type: 'offline',
    });
    expect(pw.status).toBe(200);
    expect(Object.keys(pw.body).sort()).toEqual(['access_token', 'expires_in', 'issued_at', 'refresh_token', 'token']);
    const refresh = pw.body.refresh_token as string;
    expect(ts.refreshTokens).toContain(refresh);
    expect(claims(pw.body.access_token as string).access).toEqual([
      { type: 'repository', name: 'a/b', actions: ['pull'] },
      { type: 'repository', name: 'a/c', actions: ['pull', 'push'] },
    ]);
    const head = await fetch(`${registry.url}/v2/a/b/blobs/${blobDigest}`, { method: 'HEAD', headers: bearer(pw.body.access_token as string) });
    expect(head.status).toBe(200);

    const rt = await postToken(ts, { grant_type: 'refresh_token', service: ts.service, client_id: 'ocp-test', scope: 'repository:a/b:pull,push', refresh_token: refresh });
    expect(rt.status).toBe(200);
    expect(rt.body.refresh_token).toBe(refresh);
    const token = rt.body.access_token as string;
    expect(claims(token)).toMatchObject({ sub: 'alice', access: [{ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }] });
    const start = await fetch(`${registry.url}/v2/a/b/blobs/uploads/`, { method: 'POST', headers: bearer(token) });
    expect(start.status).toBe(202);
    await start.arrayBuffer();

    const noClient = await postToken(ts, { grant_type: 'password', service: ts.service, scope: 'repository:a/b:pull', username: ALICE.user, password: ALICE.password });
    expect(noClient.status).toBe(400);

    const get = await getToken(ts, ['repository:a/b:pull'], ALICE, { offline_token: 'true', client_id: 'ocp-test' });
    expect(get.status).toBe(200);
    expect(typeof get.body.refresh_token).toBe('string');
    expect(ts.refreshTokens).toContain(get.body.refresh_token);
  });

  it('counts GET vs POST and per scope, and lists every token and refresh token issued', async () => {
    ts.resetCounts();
    const issuedBefore = ts.tokens.length;
    const a = await getToken(ts, ['repository:a/b:pull'], ALICE);
    const b = await getToken(ts, ['repository:a/b:pull', 'repository:a/c:push'], BOB);
    const c = await postToken(ts, {
      grant_type: 'password',
      service: ts.service,
      client_id: 'ocp-test',
      scope: 'repository:a/b:pull',
      username: ALICE.user,
      password: ALICE.password,
      access_type: 'offline',
    });
    await getToken(ts, ['repository:a/b:pull'], { user: 'alice', password: 'wrong' });
    expect(ts.counts).toEqual({
      total: 4,
      get: 3,
      post: 1,
      byScope: { 'repository:a/b:pull': 4, 'repository:a/c:push': 1 },
      byMethodScope: { GET: { 'repository:a/b:pull': 3, 'repository:a/c:push': 1 }, POST: { 'repository:a/b:pull': 1 } },
    });
    expect(ts.requests.map((r) => [r.method, r.user, r.status])).toEqual([
      ['GET', 'alice', 200],
      ['GET', 'bob', 200],
      ['POST', 'alice', 200],
      ['GET', null, 401],
    ]);
    expect(ts.tokens.slice(issuedBefore)).toEqual([a.body.token, b.body.token, c.body.token]);
    const secrets = ts.secrets();
    for (const s of [a.body.token, b.body.token, c.body.token, c.body.refresh_token, ALICE.password, BOB.password]) expect(secrets).toContain(s);
  });

  it('POST can be disabled (404, so clients fall back to GET)', async () => {
    ts.settings.postEnabled = false;
    try {
      const post = await postToken(ts, {
        grant_type: 'password',
        service: ts.service,
        client_id: 'ocp-test',
        scope: 'repository:a/b:pull',
        username: ALICE.user,
        password: ALICE.password,
      });
      expect(post.status).toBe(404);
      expect((await getToken(ts, ['repository:a/b:pull'], ALICE)).status).toBe(200);
    } finally {
      ts.settings.postEnabled = true;
    }
  });

  it('fault modes: down5xx, garbage, emptyToken, slow', async () => {
    const url = `${ts.realm}?service=${ts.service}&scope=repository:a/b:pull`;
    try {
      ts.setMode('down5xx');
      const down = await fetch(url);
      expect(down.status).toBe(503);
      await down.arrayBuffer();
      const downPost = await postToken(ts, { grant_type: 'password', client_id: 'x', username: ALICE.user, password: ALICE.password });
      expect(downPost.status).toBe(503);

      ts.setMode('garbage');
      const garbage = await fetch(url);
      expect(garbage.status).toBe(200);
      expect(garbage.headers.get('content-type')).toBe('application/json');
      await expect(garbage.json()).rejects.toThrow();

      ts.setMode('emptyToken');
      const empty = (await (await fetch(url)).json()) as Record<string, unknown>;
      expect(empty).toMatchObject({ token: '', access_token: '', expires_in: 300 });

      ts.settings.slowMs = 400;
      ts.setMode('slow');
      const t0 = Date.now();
      const slow = await fetch(url);
      expect(slow.status).toBe(200);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(380);
      expect(typeof ((await slow.json()) as { token: unknown }).token).toBe('string');
      expect(ts.requests.slice(-5).map((r) => r.mode)).toEqual(['down5xx', 'down5xx', 'garbage', 'emptyToken', 'slow']);
    } finally {
      ts.setMode('ok');
    }
  });

  it('response shape options: token field only, no issued_at, custom expires_in', async () => {
    try {
      ts.settings.tokenField = 'token';
      ts.settings.includeIssuedAt = false;
      ts.settings.expiresIn = 30;
      const { body } = await getToken(ts, ['repository:a/b:pull'], ALICE);
      expect(Object.keys(body).sort()).toEqual(['expires_in', 'token']);
      expect(body.expires_in).toBe(30);
      const c = claims(body.token as string);
      expect(c.exp - c.iat).toBe(30);
    } finally {
      Object.assign(ts.settings, { tokenField: 'both', includeIssuedAt: true, expiresIn: 300 });
    }
  });

  it('x5c alone and a libtrust kid alone are accepted; other keys, kids, audiences, issuers and expired tokens are invalid_token', async () => {
    const access = [{ type: 'repository', name: 'a/b', actions: ['pull'] }];
    const status = async (token: string) => {
      const res = await fetch(`${registry.url}/v2/a/b/blobs/${blobDigest}`, { method: 'HEAD', headers: bearer(token) });
      return { status: res.status, error: res.status === 401 ? challenge(res.headers.get('www-authenticate')).params.error : undefined };
    };
    const x5cOnly = ts.issueToken({ header: 'x5c', access });
    expect(jwtHeader(x5cOnly).kid).toBeUndefined();
    expect(await status(x5cOnly)).toEqual({ status: 200, error: undefined });
    const kidOnly = ts.issueToken({ header: 'kid', access });
    expect(jwtHeader(kidOnly).x5c).toBeUndefined();
    expect(await status(kidOnly)).toEqual({ status: 200, error: undefined });

    // The RFC 7638 JWK thumbprint (what distribution 3 uses as kid) is not a key id 2.8 knows.
    const jwk = createPublicKey(readFileSync(ts.certPath)).export({ format: 'jwk' }) as { e: string; n: string };
    const thumbprint = createHash('sha256')
      .update(JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n }))
      .digest('base64url');
    expect(await status(ts.issueToken({ header: 'kid', kid: thumbprint, access }))).toEqual({ status: 401, error: 'invalid_token' });

    const other = await startTokenServer();
    try {
      expect(await status(other.issueToken({ access }))).toEqual({ status: 401, error: 'invalid_token' });
      expect(await status(other.issueToken({ header: 'kid', access }))).toEqual({ status: 401, error: 'invalid_token' });
    } finally {
      await other.stop();
    }
    expect(await status(ts.issueToken({ audience: 'another-registry', access }))).toEqual({ status: 401, error: 'invalid_token' });
    expect(await status(ts.issueToken({ issuer: 'someone-else', access }))).toEqual({ status: 401, error: 'invalid_token' });
    const now = Math.floor(Date.now() / 1000);
    // distribution 2.8 adds 60 s of leeway to exp: a token 30 s past its exp is still accepted...
    expect(await status(ts.issueToken({ now: now - 100, expiresIn: 70, access }))).toEqual({ status: 200, error: undefined });
    // ...one 90 s past is not.
    expect(await status(ts.issueToken({ now: now - 100, expiresIn: 10, access }))).toEqual({ status: 401, error: 'invalid_token' });
    expect(await status('not-a-jwt')).toEqual({ status: 401, error: 'invalid_token' });
  });
});

describe('htpasswd Basic-auth registry', () => {
  let registry: Registry;
  const CAROL = { user: 'carol', password: 'carol-secret-pw' };

  beforeAll(async () => {
    registry = await startRegistry({ extraConfig: basicAuthRegistryConfig({ [CAROL.user]: CAROL.password, dave: 'dave-pw' }), readyStatus: 401 });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('challenges anonymous requests with Basic realm', async () => {
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Basic realm="ocp-test-registry"');
    expect(await res.json()).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] });
  });

  it('accepts correct credentials (including a push) and refuses wrong ones', async () => {
    const ok = await fetch(`${registry.url}/v2/`, { headers: { authorization: basic(CAROL.user, CAROL.password) } });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    const dave = await fetch(`${registry.url}/v2/`, { headers: { authorization: basic('dave', 'dave-pw') } });
    expect(dave.status).toBe(200);
    await dave.arrayBuffer();

    const start = await fetch(`${registry.url}/v2/c/d/blobs/uploads/`, { method: 'POST', headers: { authorization: basic(CAROL.user, CAROL.password) } });
    expect(start.status).toBe(202);
    const location = new URL(start.headers.get('location')!, registry.url);
    location.searchParams.set('digest', blobDigest);
    const put = await fetch(location, { method: 'PUT', headers: { authorization: basic(CAROL.user, CAROL.password) }, body: blob });
    expect(put.status).toBe(201);

    for (const authorization of [basic(CAROL.user, 'wrong'), basic('mallory', CAROL.password), 'Bearer some-token']) {
      const res = await fetch(`${registry.url}/v2/c/d/blobs/${blobDigest}`, { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="ocp-test-registry"');
      expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNAUTHORIZED');
    }
  });
});
