/**
 * The authentication layer's rules, against a scripted upstream that challenges with the real
 * token-server fixture's realm: replay on 401 only when the body can be replayed, scopes widened
 * on insufficient_scope and remembered, redirects followed without credentials, manifest bound.
 */
import { Readable } from 'node:stream';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { http, ociCode } from '../helpers/http.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { startProxy, type RunningProxy } from '../helpers/proxy.ts';
import { startScriptedUpstream, type Script, type ScriptedUpstream } from '../helpers/scripted-upstream.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

const USER = { username: 'layer-user', password: 'layer-Pa55word!' };
const DIGEST = 'sha256:' + 'd'.repeat(64);
let ts: TokenServer;
let upstream: ScriptedUpstream | undefined;
let proxy: RunningProxy | undefined;
const servers: Server[] = [];

beforeAll(async () => {
  ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } } });
});
afterAll(async () => ts?.stop());
afterEach(async () => {
  await proxy?.stop();
  await upstream?.stop();
  for (const s of servers.splice(0)) s.close();
  proxy = upstream = undefined;
});

/** Tokens the scripted upstream no longer accepts. */
const revoked = new Set<string>();
const challenge = (extra = ''): string => `Bearer realm="${ts.realm}",service="${ts.service}"${extra}`;
function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers['authorization'];
  return h?.startsWith('Bearer ') ? h.slice(7) : undefined;
}
function authorized(req: IncomingMessage): boolean {
  const t = bearer(req);
  return t !== undefined && ts.tokens.includes(t) && !revoked.has(t);
}

async function setup(script: Script, params: Record<string, string> = {}, extra: Parameters<typeof startProxy>[1] = {}): Promise<{ up: ScriptedUpstream; px: RunningProxy }> {
  upstream = await startScriptedUpstream((req, res, seen) => {
    if (req.method === 'GET' && req.url === '/v2/' && !authorized(req)) {
      res.writeHead(401, { 'www-authenticate': challenge(), 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"x"}]}');
      return;
    }
    script(req, res, seen);
  }, false);
  proxy = await startProxy([connectorFor(upstream.url, { credentials: USER, params })], extra);
  return { up: upstream, px: proxy };
}

describe('401 and replay', () => {
  it('a GET whose token the upstream rejects gets one fresh token and one retry', async () => {
    let first: string | undefined;
    const { up, px } = await setup((req, res) => {
      if (!authorized(req)) {
        res.writeHead(401, { 'www-authenticate': challenge(',error="invalid_token"') }).end();
        return;
      }
      first ??= bearer(req);
      if (bearer(req) === first && !revoked.has(first!)) {
        revoked.add(first!); // the next request with this token fails
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"a","tags":[]}');
    });
    expect((await http(`${px.url}/v2/a/tags/list`)).status).toBe(200);
    const res = await http(`${px.url}/v2/a/tags/list`);
    expect(res.status).toBe(200);
    const gets = up.seen.filter((s) => s.url === '/v2/a/tags/list');
    expect(gets.map((s) => s.headers['authorization'] === `Bearer ${first}`)).toEqual([true, true, false]);
    expect(px.server.tokens.stats.exchanges).toBe(2); // pull, then a fresh pull (the /v2/ ping needs none)
  });

  it('replays a manifest PUT body byte for byte after a 401', async () => {
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [], pad: 'x'.repeat(100_000) }));
    let rejectOnce = true;
    const bodies: Buffer[] = [];
    const { px } = await setup((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks));
        if (!authorized(req) || rejectOnce) {
          rejectOnce = false;
          res.writeHead(401, { 'www-authenticate': challenge(',error="invalid_token"') }).end();
          return;
        }
        res.writeHead(201, { location: `/v2/a/manifests/${DIGEST}`, 'docker-content-digest': DIGEST, 'content-length': '0' }).end();
      });
    });
    const res = await http(`${px.url}/v2/a/manifests/v1`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest });
    expect(res.status, res.body.toString()).toBe(201);
    expect(bodies).toHaveLength(2);
    expect(bodies[0]!.equals(manifest)).toBe(true);
    expect(bodies[1]!.equals(manifest)).toBe(true);
  });

  it('never replays a streamed upload body: the client gets UNAUTHORIZED, and its retry a fresh token', async () => {
    let rejectNext = true;
    const { up, px } = await setup((req, res) => {
      req.resume();
      req.on('end', () => {
        if (!authorized(req) || rejectNext) {
          rejectNext = false;
          res.writeHead(401, { 'www-authenticate': challenge(',error="invalid_token"') }).end();
          return;
        }
        res.writeHead(202, { range: '0-9', 'content-length': '0' }).end();
      });
    });
    async function* body(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(10, 7);
    }
    const first = await request(`${px.url}/v2/a/blobs/uploads/u1`, { method: 'PATCH', body: Readable.from(body()) });
    const text = await first.body.text();
    expect(first.statusCode).toBe(401);
    expect(JSON.parse(text).errors[0].code).toBe('UNAUTHORIZED');
    const patches = up.seen.filter((s) => s.method === 'PATCH');
    expect(patches).toHaveLength(1); // not replayed
    const retry = await request(`${px.url}/v2/a/blobs/uploads/u1`, { method: 'PATCH', body: Readable.from(body()) });
    await retry.body.dump();
    expect(retry.statusCode).toBe(202);
    const tokens = up.seen.filter((s) => s.method === 'PATCH').map((s) => s.headers['authorization']);
    expect(tokens[0]).not.toBe(tokens[1]);
  });

  it('widens the scopes when the upstream says insufficient_scope, and remembers it', async () => {
    const { px } = await setup((req, res) => {
      const t = bearer(req);
      const granted = t ? ts.requests.find((r) => r.status === 200 && r.scopes.includes('repository:a:pull,push') && r.scopes.includes('repository:shared/base:pull')) : undefined;
      if (!authorized(req) || !granted) {
        res.writeHead(401, { 'www-authenticate': challenge(',scope="repository:a:push,pull repository:shared/base:pull",error="insufficient_scope"') }).end();
        return;
      }
      res.writeHead(202, { location: '/v2/a/blobs/uploads/u9', 'content-length': '0' }).end();
    });
    ts.resetCounts();
    expect((await http(`${px.url}/v2/a/blobs/uploads/`, { method: 'POST' })).status).toBe(202);
    expect((await http(`${px.url}/v2/a/blobs/uploads/`, { method: 'POST' })).status).toBe(202);
    const scopeSets = ts.requests.map((r) => r.scopes.join(' '));
    expect(scopeSets).toEqual(['repository:a:pull,push', 'repository:a:pull,push repository:shared/base:pull']);
  });
});

describe('redirects', () => {
  async function storage(): Promise<{ url: string; auth: (string | undefined)[] }> {
    const auth: (string | undefined)[] = [];
    const srv = createServer((req, res) => {
      auth.push(req.headers['authorization']);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '11' }).end('blob-bytes!');
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.2', r));
    return { url: `http://127.0.0.2:${(srv.address() as { port: number }).port}`, auth };
  }

  it('follows a blob redirect to another host itself, without Authorization (default)', async () => {
    const store = await storage();
    const { px } = await setup((req, res) => {
      if (!authorized(req)) return void res.writeHead(401, { 'www-authenticate': challenge() }).end();
      res.writeHead(307, { location: `${store.url}/bucket/blob?X-Amz-Signature=abc%2F` }).end();
    });
    const res = await http(`${px.url}/v2/a/blobs/${DIGEST}`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('blob-bytes!');
    expect(store.auth).toEqual([undefined]);
  });

  it('passes the redirect to the client with redirects: pass', async () => {
    const store = await storage();
    const { px } = await setup(
      (req, res) => {
        if (!authorized(req)) return void res.writeHead(401, { 'www-authenticate': challenge() }).end();
        res.writeHead(307, { location: `${store.url}/bucket/blob` }).end();
      },
      { redirects: 'pass' },
    );
    const res = await http(`${px.url}/v2/a/blobs/${DIGEST}`);
    expect(res.status).toBe(307);
    expect(res.headers['location']).toBe(`${store.url}/bucket/blob`);
    expect(store.auth).toEqual([]);
  });
});

describe('manifest bound', () => {
  it('refuses a manifest over the bound with 413, without forwarding it', async () => {
    const { up, px } = await setup(
      (req, res) => {
        req.resume();
        res.writeHead(201).end();
      },
      {},
      { manifestMaxBytes: 1024 },
    );
    const res = await http(`${px.url}/v2/a/manifests/v1`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(2048, 32) });
    expect(res.status).toBe(413);
    expect(ociCode(res)).toBe('MANIFEST_INVALID');
    expect(up.seen.filter((s) => s.method === 'PUT')).toHaveLength(0);
  });
});

describe('Docker Hub conventions', () => {
  it('puts one-component names under library/ in the path and in the token scope, and passes rate-limit headers', async () => {
    upstream = await startScriptedUpstream((req, res) => {
      if (!authorized(req)) return void res.writeHead(401, { 'www-authenticate': challenge() }).end();
      res
        .writeHead(200, { 'content-type': 'application/json', 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600', 'docker-ratelimit-source': '10.0.0.1' })
        .end('{}');
    }, false);
    // As the proxy builds it for address https://index.docker.io, pointed at the scripted upstream.
    proxy = await startProxy([connectorFor(upstream.url, { name: 'dockerhub', dockerHub: true })]);
    ts.resetCounts();
    const res = await http(`${proxy.url}/v2/ubuntu/manifests/22.04`);
    expect(res.status).toBe(200);
    expect(res.headers['ratelimit-remaining']).toBe('76;w=21600');
    // the challenge probe, then the request with its token
    expect(upstream.seen.map((s) => s.url)).toEqual(['/v2/', '/v2/library/ubuntu/manifests/22.04']);
    expect(ts.requests.map((r) => r.scopes)).toEqual([['repository:library/ubuntu:pull']]);
    expect(ts.requests[0]!.user).toBeNull(); // anonymous, as Docker Hub allows for public images
  });
});
