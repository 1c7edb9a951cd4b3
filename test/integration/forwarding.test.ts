/**
 * Forwarding details the real registry cannot show on demand, against a scripted upstream:
 * headers both ways, absolute Location/Link rewriting, failures, and aborts in both directions.
 */
import { Readable } from 'node:stream';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { http, ociCode, rawRequest } from '../helpers/http.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { startProxy, type RunningProxy } from '../helpers/proxy.ts';
import { startScriptedUpstream, type Script, type ScriptedUpstream } from '../helpers/scripted-upstream.ts';
import { freePort, waitFor } from '../helpers/ports.ts';
import type { ServerOptions } from '../../src/server.ts';

const DIGEST = 'sha256:' + 'c'.repeat(64);
let upstream: ScriptedUpstream | undefined;
let proxy: RunningProxy | undefined;
const extraServers: Server[] = [];

afterEach(async () => {
  await proxy?.stop();
  await upstream?.stop();
  for (const s of extraServers.splice(0)) s.close();
  proxy = upstream = undefined;
});

async function setup(script: Script, extra: Partial<ServerOptions> = {}): Promise<{ up: ScriptedUpstream; px: RunningProxy }> {
  upstream = await startScriptedUpstream(script);
  proxy = await startProxy([connectorFor(upstream.url)], extra);
  return { up: upstream, px: proxy };
}

describe('headers', () => {
  it('forwards end-to-end request headers exactly and drops hop-by-hop ones and the client credentials', async () => {
    const { up, px } = await setup((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json;q=0.5,  */*;q=0.1';
    await http(`${px.url}/v2/a/b/manifests/v1`, {
      headers: {
        accept,
        'user-agent': 'test-agent/1.0',
        authorization: 'Basic c2VjcmV0OnNlY3JldA==',
        cookie: 'session=1',
        'proxy-authorization': 'Basic eHg=',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'https',
        'ratelimit-policy': 'kept',
      },
    });
    const seen = up.seen[0]!;
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/v2/a/b/manifests/v1');
    expect(seen.headers['host']).toBe(`127.0.0.1:${up.port}`);
    expect(seen.headers['accept']).toBe(accept);
    expect(seen.headers['user-agent']).toBe('test-agent/1.0');
    expect(seen.headers['ratelimit-policy']).toBe('kept');
    for (const h of ['authorization', 'cookie', 'proxy-authorization', 'x-forwarded-host', 'x-forwarded-proto']) {
      expect([h, seen.headers[h]]).toEqual([h, undefined]);
    }

    // headers named in Connection are hop-by-hop too (raw bytes: HTTP clients refuse to send this)
    const raw = await rawRequest(Number(new URL(px.url).port), 'GET /v2/a/b/manifests/v2 HTTP/1.1\r\nHost: x\r\nConnection: close, x-hop\r\nX-Hop: gone\r\nX-Kept: yes\r\n\r\n');
    expect(raw.startsWith('HTTP/1.1 200')).toBe(true);
    expect(up.seen[1]!.headers['x-hop']).toBeUndefined();
    expect(up.seen[1]!.headers['x-kept']).toBe('yes');
  });

  it('forwards upload headers (Content-Range, Content-Type, Content-Length) and the query re-encoded from its parsed values', async () => {
    const { up, px } = await setup((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(202, { range: '0-9', 'content-length': '0' }).end());
    });
    const query = '?_state=abc%2Bdef%3D%3D&x=%20y';
    const res = await http(`${px.url}/v2/a/blobs/uploads/u-1${query}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-range': '0-9', 'content-length': '10' },
      body: Buffer.alloc(10, 1),
    });
    expect(res.status).toBe(202);
    const seen = up.seen[0]!;
    // the same parameters, as form encoding writes them (a space as +)
    expect(seen.url).toBe('/v2/a/blobs/uploads/u-1?_state=abc%2Bdef%3D%3D&x=+y');
    expect(Object.fromEntries(new URL(seen.url, 'http://x').searchParams)).toEqual(Object.fromEntries(new URLSearchParams(query)));
    expect(seen.headers['content-range']).toBe('0-9');
    expect(seen.headers['content-type']).toBe('application/octet-stream');
    expect(seen.headers['content-length']).toBe('10');
    expect(seen.bodyLength).toBe(10);
  });

  it('passes registry response headers back and drops hop-by-hop ones', async () => {
    const { px } = await setup((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
        'docker-content-digest': DIGEST,
        'oci-subject': DIGEST,
        'oci-chunk-min-length': '5242880',
        'docker-upload-uuid': 'u-1',
        'ratelimit-limit': '100;w=21600',
        'ratelimit-remaining': '99;w=21600',
        'retry-after': '10',
        warning: '299 - "deprecated"',
        etag: `"${DIGEST}"`,
        'keep-alive': 'timeout=5',
        'proxy-authenticate': 'Basic realm="x"',
        connection: 'x-private',
        'x-private': 'hidden',
        'set-cookie': 'a=b',
      });
      res.end('{"schemaVersion":2}');
    });
    const res = await http(`${px.url}/v2/a/manifests/${DIGEST}`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('{"schemaVersion":2}');
    const h = res.headers;
    expect(h['docker-content-digest']).toBe(DIGEST);
    expect(h['oci-subject']).toBe(DIGEST);
    expect(h['oci-chunk-min-length']).toBe('5242880');
    expect(h['docker-upload-uuid']).toBe('u-1');
    expect(h['ratelimit-limit']).toBe('100;w=21600');
    expect(h['ratelimit-remaining']).toBe('99;w=21600');
    expect(h['retry-after']).toBe('10');
    expect(h['warning']).toBe('299 - "deprecated"');
    expect(h['etag']).toBe(`"${DIGEST}"`);
    expect(h['content-type']).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(h['proxy-authenticate']).toBeUndefined();
    expect(h['x-private']).toBeUndefined();
    expect(h['set-cookie']).toBeUndefined();
  });

  it('keeps HEAD a HEAD and its Content-Length', async () => {
    const { up, px } = await setup((_req, res) => res.writeHead(200, { 'content-length': '12345', 'docker-content-digest': DIGEST }).end());
    const res = await http(`${px.url}/v2/a/blobs/${DIGEST}`, { method: 'HEAD' });
    expect(up.seen[0]!.method).toBe('HEAD');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('12345');
  });

  it('passes 429 with Retry-After through', async () => {
    const { px } = await setup((_req, res) =>
      res.writeHead(429, { 'retry-after': '30', 'content-type': 'application/json' }).end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'),
    );
    const res = await http(`${px.url}/v2/a/manifests/latest`);
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('30');
    expect(ociCode(res)).toBe('TOOMANYREQUESTS');
  });
});

describe('rewriting', () => {
  it('rewrites absolute upstream Locations to the address the client used, query byte for byte; other hosts untouched', async () => {
    let n = 0;
    const { px } = await setup((req, res) => {
      n++;
      const self = `http://${req.headers.host}`;
      const location = n === 1 ? `${self}/v2/a/blobs/uploads/u-1?_state=q%2Bw%3D%3D&n=1` : 'https://storage.example/bucket/blob?X-Sig=abc%2F';
      res.writeHead(n === 1 ? 202 : 307, { location, 'content-length': '0' }).end();
    });
    const first = await http(`${px.url}/v2/a/blobs/uploads/`, { method: 'POST' });
    expect(first.headers['location']).toBe(`${px.url}/v2/a/blobs/uploads/u-1?_state=q%2Bw%3D%3D&n=1`);
    // the client's own Host header is the address it used
    const viaName = await request(`${px.url}/v2/a/blobs/uploads/`, { method: 'POST', headers: { host: 'proxy.internal:5000' } });
    await viaName.body.dump();
    expect(viaName.headers['location']).toBe('https://storage.example/bucket/blob?X-Sig=abc%2F');
  });

  it('uses the client Host header for rewritten Locations', async () => {
    const { px } = await setup((req, res) => res.writeHead(202, { location: `http://${req.headers.host}/v2/a/blobs/uploads/u-2`, 'content-length': '0' }).end());
    const res = await request(`${px.url}/v2/a/blobs/uploads/`, { method: 'POST', headers: { host: 'proxy.internal:5000' } });
    await res.body.dump();
    expect(res.headers['location']).toBe('http://proxy.internal:5000/v2/a/blobs/uploads/u-2');
  });

  it('pages through tags with absolute Link headers rewritten to the proxy', async () => {
    const tags = ['t1', 't2', 't3', 't4', 't5'];
    const { px } = await setup((req, res) => {
      const u = new URL(req.url!, 'http://x');
      const n = Number(u.searchParams.get('n') ?? 100);
      const last = u.searchParams.get('last');
      const from = last ? tags.indexOf(last) + 1 : 0;
      const page = tags.slice(from, from + n);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (from + n < tags.length) headers['link'] = `<http://${req.headers.host}/v2/a/tags/list?n=${n}&last=${page.at(-1)}>; rel="next"`;
      res.writeHead(200, headers).end(JSON.stringify({ name: 'a', tags: page }));
    });
    const seen: string[] = [];
    let next: string | undefined = `${px.url}/v2/a/tags/list?n=2`;
    while (next) {
      const res = await http(next);
      seen.push(...(res.json() as { tags: string[] }).tags);
      const link = res.headers['link'] as string | undefined;
      next = link ? /^<([^>]+)>/.exec(link)![1] : undefined;
      if (next) expect(next.startsWith(`${px.url}/v2/a/tags/list?n=2&last=`)).toBe(true);
    }
    expect(seen).toEqual(tags);
  });
});

describe('tag lists in path mode', () => {
  const prefixed = '/v2/namespaces/default/connectors/upstream/a/tags/list';

  it.each([
    ['name first', (tags: string[]) => JSON.stringify({ name: 'a', tags })],
    ['name last', (tags: string[]) => JSON.stringify({ tags, name: 'a' })],
  ])('rewrites a list of any size streamed (%s), byte-identical but for the name', async (_what, make) => {
    const tags = Array.from({ length: 500_000 }, (_, i) => `tag-${i}-padding`);
    const body = make(tags); // about 10 MiB, sent chunked: no length to decide on
    expect(Buffer.byteLength(body)).toBeGreaterThan(8 * 1024 * 1024);
    const { px } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < body.length; i += 1 << 20) res.write(body.slice(i, i + (1 << 20)));
      res.end();
    });
    const res = await http(px.url + prefixed);
    expect(res.status).toBe(200);
    const name = 'namespaces/default/connectors/upstream/a';
    expect(res.body.toString()).toBe(body.replace('"name":"a"', `"name":"${name}"`));
    expect((res.json() as { tags: string[] }).tags).toEqual(tags);
  });

  it('an upstream that breaks off in the middle of a list fails the client read (never a short list that looks whole), and the proxy keeps serving', async () => {
    const { px } = await setup((req, res) => {
      if (req.url!.includes('/b/')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"b","tags":["x"]}');
      if (req.url!.includes('/c/')) return void res.destroy();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"name":"a","tags":["x",');
      setTimeout(() => res.destroy(), 20);
    });
    await expect(http(px.url + prefixed)).rejects.toThrow();
    // A break before any byte of the list is still an OCI error.
    const res = await http(px.url + '/v2/namespaces/default/connectors/upstream/c/tags/list');
    expect(res.status).toBe(502);
    expect(ociCode(res)).toBe('UNAVAILABLE');
    const ok = await http(px.url + '/v2/namespaces/default/connectors/upstream/b/tags/list');
    expect(ok.json()).toEqual({ name: 'namespaces/default/connectors/upstream/b', tags: ['x'] });
  });
});

describe('upstream failures', () => {
  it('connection refused → 502 naming the connector and the upstream host', async () => {
    const port = await freePort();
    proxy = await startProxy([connectorFor(`http://127.0.0.1:${port}`)]);
    const res = await http(`${proxy.url}/v2/a/manifests/latest`);
    expect(res.status).toBe(502);
    expect(ociCode(res)).toBe('UNAVAILABLE');
    const msg = (res.json() as { errors: { message: string }[] }).errors[0]!.message;
    expect(msg).toBe(`connector default/upstream: upstream 127.0.0.1:${port} refused the connection (ECONNREFUSED)`);
  });

  it('an upstream that accepts and never answers → 504 after the header timeout', async () => {
    const silent = createServer(() => {});
    extraServers.push(silent);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as { port: number };
    proxy = await startProxy([connectorFor(`http://127.0.0.1:${port}`)], { upstream: { headersTimeout: 300 } });
    const t0 = Date.now();
    const res = await http(`${proxy.url}/v2/a/manifests/latest`);
    expect(res.status).toBe(504);
    expect(ociCode(res)).toBe('UNAVAILABLE');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it.each([
    ['with a Content-Length', { 'content-length': String(1024 * 1024) }],
    ['chunked', { 'content-type': 'application/octet-stream' }],
  ])('an upstream body (%s) failing mid-body ends the client response as failed, never as a short complete body', async (_what, headers) => {
    const { px } = await setup((_req, res) => {
      res.writeHead(200, headers);
      res.write(Buffer.alloc(100_000));
      setTimeout(() => res.destroy(), 50);
    });
    const res = await request(`${px.url}/v2/a/blobs/${DIGEST}`);
    expect(res.statusCode).toBe(200);
    await expect(res.body.arrayBuffer()).rejects.toThrow();
  });
});

describe('aborts', () => {
  it('a client that goes away mid-download aborts the upstream request at once', async () => {
    let upstreamClosed = 0;
    const { px } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': String(1024 * 1024 * 1024) });
      const timer = setInterval(() => res.write(Buffer.alloc(64 * 1024)), 5);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed = Date.now();
      });
    });
    const ac = new AbortController();
    const res = await request(`${px.url}/v2/a/blobs/${DIGEST}`, { signal: ac.signal });
    for await (const _ of res.body) break;
    const t0 = Date.now();
    ac.abort();
    await waitFor('upstream response to be closed', async () => upstreamClosed > 0, 3_000);
    expect(upstreamClosed - t0).toBeLessThan(2_000);
  });

  it('a client that goes away mid-upload aborts the upstream request at once', async () => {
    const { up, px } = await setup((req) => req.resume());
    const ac = new AbortController();
    async function* slow(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(64 * 1024);
      // Mid-upload: the upstream has bytes of the body, and the rest never comes.
      await waitFor('the first chunk to reach the upstream', async () => (up.seen[0]?.bodyLength ?? 0) > 0, 3_000);
      ac.abort();
      await new Promise((r) => setTimeout(r, 10_000));
    }
    await request(`${px.url}/v2/a/blobs/uploads/u-1`, { method: 'PATCH', body: Readable.from(slow()), signal: ac.signal }).catch(() => {});
    await waitFor('upstream to see the aborted upload', async () => up.seen[0]?.aborted === true, 3_000);
    expect(up.seen[0]!.bodyLength).toBeGreaterThan(0);
  });
});

describe('logging', () => {
  it('writes one line per request with connector, endpoint, status and bytes, and never the Authorization header', async () => {
    const { px } = await setup((_req, res) => res.writeHead(200, { 'content-length': '5' }).end('hello'));
    await http(`${px.url}/v2/team/app/blobs/${DIGEST}`, { headers: { authorization: 'Bearer sekret-client-token' } });
    const lines = px.logs.filter((l) => l.includes('"msg":"request"'));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ method: 'GET', connector: 'default/upstream', repository: 'team/app', endpoint: 'blob', status: 200, complete: true });
    expect(line.bytesOut).toBeGreaterThan(5);
    // a 1000-byte upload on the same kept-alive connection counts its head and its body
    await http(`${px.url}/v2/team/app/blobs/uploads/u-1`, { method: 'PATCH', headers: { 'content-length': '1000' }, body: Buffer.alloc(1000) });
    const patch = JSON.parse(px.logs.filter((l) => l.includes('"msg":"request"'))[1]!);
    expect(patch.method).toBe('PATCH');
    expect(patch.bytesIn).toBeGreaterThan(1000);
    expect(patch.bytesIn).toBeLessThan(1400);
    expect(px.logs.join('\n')).not.toContain('sekret-client-token');
  });
});

describe('GET /v2/', () => {
  it('is forwarded until the upstream has answered, then answered by the proxy itself', async () => {
    upstream = await startScriptedUpstream((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), false);
    proxy = await startProxy([connectorFor(upstream.url)]);
    const pings = () => upstream!.seen.filter((s) => s.url === '/v2/').length;
    expect((await http(`${proxy.url}/v2/`)).status).toBe(200);
    const afterFirst = pings();
    expect(afterFirst).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 10; i++) {
      const res = await http(`${proxy.url}/v2/`);
      expect(res.status).toBe(200);
      expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
      expect(res.json()).toEqual({});
    }
    expect(pings()).toBe(afterFirst);
  });
});
