/**
 * Hostile input: oversized heads and manifests, invalid upload ranges, requests that try to make
 * the proxy talk to a host that is not a configured upstream (absolute-form targets, CONNECT,
 * Host tricks, `ns=`, upstream redirects, token realms elsewhere), and attempts to get past
 * static access control. Foreign hosts live on 127.0.0.2 and record every contact. At the end
 * every answer and log line is scanned for the upstream password, the proxy tokens and the
 * tokens the token server issued.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessControl, hashToken } from '../../src/access/control.ts';
import { Exposure, header, isOciErrorBody, jsonOf, ociCodeOf, type RawAnswer, rawExchange } from '../helpers/fault-tools.ts';
import { basic, http } from '../helpers/http.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { type RunningProxy, startProxy } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';
import { startScriptedUpstream, type ScriptedUpstream } from '../helpers/scripted-upstream.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

const USER = { username: 'hostile-robot', password: 'hostile-upstream-Pa55word' };
const BASIC_UPSTREAM = 'Basic ' + Buffer.from(`${USER.username}:${USER.password}`).toString('base64');
const TOKEN_OPEN = 'tok-open-hostile-0123456789abcdef';
const TOKEN_SECURE = 'tok-secure-hostile-0123456789abcdef';
const DIGEST = 'sha256:' + 'e'.repeat(64);
const STORAGE_BODY = 'bytes-from-storage';
const MANIFEST_MAX = 1024;

const exposure = new Exposure();

/** A server on a foreign host (127.0.0.2) that records every connection and request. */
interface Recorder {
  url: string;
  port: number;
  connections: number;
  requests: { method: string; url: string; authorization: string | undefined; headers: IncomingMessage['headers'] }[];
  server: Server;
}

async function startRecorder(answer: (req: IncomingMessage) => { status: number; headers?: Record<string, string>; body: string }): Promise<Recorder> {
  const rec: Recorder = { url: '', port: 0, connections: 0, requests: [], server: createHttpServer() };
  rec.server.on('connection', () => rec.connections++);
  rec.server.on('request', (req: IncomingMessage, res) => {
    rec.requests.push({ method: req.method!, url: req.url!, authorization: req.headers['authorization'], headers: req.headers });
    req.resume();
    const a = answer(req);
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers }).end(a.body);
  });
  // Answer CONNECT too, so that a proxy that tunnelled would visibly succeed.
  rec.server.on('connect', (_req, socket) => socket.end('HTTP/1.1 200 Connection Established\r\n\r\n'));
  await new Promise<void>((r) => rec.server.listen(0, '127.0.0.2', r));
  rec.port = (rec.server.address() as { port: number }).port;
  rec.url = `http://127.0.0.2:${rec.port}`;
  return rec;
}

let other: Recorder; // a host nothing should reach
let storage: Recorder; // object storage an upstream redirects blob GETs to
let foreignRealm: Recorder; // a token realm on a host the connector does not trust
let ts: TokenServer;
let openUp: ScriptedUpstream;
let secureUp: ScriptedUpstream;
let redirUp: ScriptedUpstream;
let foreignUp: ScriptedUpstream;
let relearnUp: ScriptedUpstream;
let relearnForeign = false;
let px: RunningProxy; // access none
let acl: RunningProxy; // static access
const portOf = (p: RunningProxy): number => Number(p.host.split(':')[1]);

const ok = (res: import('node:http').ServerResponse): void => void res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' }).end('{}');

beforeAll(async () => {
  [other, storage, foreignRealm, ts] = await Promise.all([
    startRecorder(() => ({ status: 200, body: '{}' })),
    startRecorder(() => ({ status: 200, headers: { 'content-type': 'application/octet-stream' }, body: STORAGE_BODY })),
    startRecorder(() => ({ status: 200, body: JSON.stringify({ token: 'foreign-realm-token-0123456789', expires_in: 300 }) })),
    startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } } }),
  ]);
  openUp = await startScriptedUpstream((req, res) => {
    req.resume();
    req.on('end', () => ok(res));
  });
  // An upstream that takes the connector's Basic credentials and nothing else.
  const basicOnly = (next: (req: IncomingMessage, res: import('node:http').ServerResponse) => void) => (req: IncomingMessage, res: import('node:http').ServerResponse) => {
    req.resume();
    if (req.headers['authorization'] !== BASIC_UPSTREAM) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="upstream"', 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}');
      return;
    }
    next(req, res);
  };
  secureUp = await startScriptedUpstream(
    basicOnly((_req, res) => ok(res)),
    false,
  );
  redirUp = await startScriptedUpstream(
    basicOnly((req, res) => {
      if (req.url === '/v2/') return ok(res);
      const where = req.url!.includes('/userinfo/') ? `http://someone:secret-in-url@127.0.0.2:${storage.port}/bucket/blob?sig=a%2Fb` : `${storage.url}/bucket/blob?sig=a%2Fb`;
      res.writeHead(307, { location: where, 'content-length': '0' }).end();
    }),
    false,
  );
  foreignUp = await startScriptedUpstream((req, res) => {
    req.resume();
    res
      .writeHead(401, { 'www-authenticate': `Bearer realm="${foreignRealm.url}/token",service="foreign"`, 'content-type': 'application/json' })
      .end('{"errors":[{"code":"UNAUTHORIZED","message":"x"}]}');
  }, false);
  // Challenges with the trusted token server's realm; later with the foreign one.
  relearnUp = await startScriptedUpstream((req, res) => {
    req.resume();
    const auth = req.headers['authorization'];
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (relearnForeign && req.url !== '/v2/') {
      res
        .writeHead(401, { 'www-authenticate': `Bearer realm="${foreignRealm.url}/token",service="foreign",scope="repository:app:pull"`, 'content-type': 'application/json' })
        .end('{}');
      return;
    }
    if (token === undefined || !ts.tokens.includes(token)) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${ts.realm}",service="${ts.service}"`, 'content-type': 'application/json' }).end('{}');
      return;
    }
    ok(res);
  }, false);

  px = await startProxy(
    [
      connectorFor(openUp.url, { name: 'open' }),
      connectorFor(redirUp.url, { name: 'follow', credentials: USER }),
      connectorFor(redirUp.url, { name: 'pass', credentials: USER, params: { redirects: 'pass' } }),
      connectorFor(foreignUp.url, { name: 'foreign', credentials: USER }),
      connectorFor(foreignUp.url, { name: 'foreign-anon' }),
      connectorFor(relearnUp.url, { name: 'relearn', credentials: USER }),
    ],
    { defaultConnector: 'default/open', manifestMaxBytes: MANIFEST_MAX },
  );
  acl = await startProxy([connectorFor(openUp.url, { name: 'open' }), connectorFor(secureUp.url, { name: 'secure', namespace: 'team-a', credentials: USER })], {
    defaultConnector: 'default/open',
    access: new AccessControl({
      mode: 'static',
      tokens: [
        { id: 'ci/open', sha256: hashToken(TOKEN_OPEN), connectors: ['default/open'] },
        { id: 'ci/secure', sha256: hashToken(TOKEN_SECURE), connectors: ['team-a/*'] },
      ],
    }),
  });
  exposure.watch(() => px.logs.join('\n'));
  exposure.watch(() => acl.logs.join('\n'));
});

afterAll(async () => {
  await Promise.all([px?.stop(), acl?.stop()]);
  await Promise.all([openUp, secureUp, redirUp, foreignUp, relearnUp].map((u) => u?.stop()));
  for (const r of [other, storage, foreignRealm]) {
    r?.server.closeAllConnections();
    r?.server.close();
  }
  await ts?.stop();
});

/** A raw request to a proxy, recorded for the leak scan. */
async function raw(p: RunningProxy, text: string, head = false): Promise<RawAnswer | null> {
  const a = await rawExchange(portOf(p), text, { head, timeoutMs: 5_000 });
  if (a) exposure.add(a.raw);
  return a;
}

function get(p: RunningProxy, path: string, headers: Record<string, string> = {}): Promise<RawAnswer | null> {
  const lines = Object.entries({ host: p.host, connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
  return raw(p, `GET ${path} HTTP/1.1\r\n${lines.join('')}\r\n`);
}

describe('oversized and malformed input', () => {
  it('request headers over the limit are 431, and the proxy keeps serving', async () => {
    const a = await raw(px, `GET /v2/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'x'.repeat(20_000)}\r\nConnection: close\r\n\r\n`);
    expect(a?.status).toBe(431);
    // many small headers adding up over the limit, too
    const many = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'y'.repeat(60)}\r\n`).join('');
    expect((await raw(px, `GET /v2/app/manifests/v1 HTTP/1.1\r\nHost: x\r\n${many}Connection: close\r\n\r\n`))?.status).toBe(431);
    expect(openUp.seen).toHaveLength(0);
    expect((await get(px, '/healthz'))?.status).toBe(200);
  });

  // Requests refused before they are routed (headers over the limit, a malformed request line, no
  // Host, an Expect other than 100-continue) get OCI error bodies like every other error the
  // proxy answers, never the bodies of Fastify's default clientError handler or Node's empty
  // ones: src/http/app.ts writes them (a clientError handler, a checkExpectation listener), and
  // the forwarder (src/proxy/forward.ts) refuses a request without Host itself.
  it('those errors (431, a malformed request line, no Host, an unknown Expect) are OCI error bodies too', async () => {
    const cases = [
      `GET /v2/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'x'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
      'get /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /v2/ HTTP/1.1\r\nConnection: close\r\n\r\n',
      'GET /v2/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nExpect: something\r\nConnection: close\r\n\r\n',
    ];
    const answers = await Promise.all(cases.map((c) => raw(px, c)));
    const seen = answers.map((a) => [a?.status, a?.body.toString().slice(0, 80)]);
    expect(seen.map(([s]) => s)).toEqual([431, 400, 400, 417]);
    for (const a of answers) expect([a?.status, isOciErrorBody(jsonOf(a!))]).toEqual([a?.status, true]);
  });

  it('a manifest over the bound is 413 MANIFEST_INVALID and never forwarded, declared or chunked', async () => {
    const before = openUp.seen.length;
    const declared = await raw(
      px,
      `PUT /v2/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: ${MANIFEST_MAX + 1}\r\n\r\n${'{'.padEnd(MANIFEST_MAX + 1, ' ')}`,
    );
    expect(declared?.status).toBe(413);
    expect(ociCodeOf(declared!)).toBe('MANIFEST_INVALID');
    expect(header(declared!, 'connection')).toBe('close');
    // Chunked, no length: the bound is found while reading, in the middle of the second chunk.
    const chunk = 'x'.repeat(800);
    const chunked = await raw(
      px,
      `PUT /v2/app/manifests/v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n${chunk}\r\n320\r\n${chunk}\r\n320\r\n${chunk}\r\n0\r\n\r\n`,
    );
    expect(chunked?.status).toBe(413);
    expect(ociCodeOf(chunked!)).toBe('MANIFEST_INVALID');
    // A huge declared length is refused before any byte of it is read.
    const huge = await raw(px, `PUT /v2/app/manifests/v3 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{}`);
    expect(huge?.status).toBe(413);
    expect(openUp.seen.slice(before).filter((s) => s.method === 'PUT')).toEqual([]);
    // At the bound exactly: forwarded whole.
    const fits = await http(`${px.url}/v2/app/manifests/v4`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(MANIFEST_MAX, 32) });
    expect(fits.status).toBe(200);
    expect(openUp.seen.at(-1)).toMatchObject({ method: 'PUT', url: '/v2/app/manifests/v4', bodyLength: MANIFEST_MAX });
  });

  describe('an invalid Content-Range on PATCH', () => {
    let registry: Registry;
    let toRegistry: RunningProxy;
    beforeAll(async () => {
      registry = await startRegistry();
      toRegistry = await startProxy([connectorFor(registry.url)]);
      exposure.watch(() => toRegistry.logs.join('\n'));
    });
    afterAll(async () => {
      await toRegistry?.stop();
      await registry?.stop();
    });

    it('is refused before it is forwarded (400 malformed, 416 out of order or not the chunk length); the registry alone would take it', async () => {
      // distribution 2.8 ignores Content-Range (202, bytes appended at the session's offset).
      const cases: [range: string, proxy: number, code: string | undefined][] = [
        ['garbage', 400, 'BLOB_UPLOAD_INVALID'],
        ['bytes 0-9/10', 400, 'BLOB_UPLOAD_INVALID'],
        ['5-9', 416, 'BLOB_UPLOAD_INVALID'],
        ['9-0', 416, 'BLOB_UPLOAD_INVALID'],
        ['0-99', 416, 'BLOB_UPLOAD_INVALID'],
        ['0-9', 202, undefined],
      ];
      const results: Record<string, [number, number]> = {};
      for (const [range, expected, code] of cases) {
        const statuses: number[] = [];
        for (const base of [toRegistry.url, registry.url]) {
          const start = await http(`${base}/v2/team/ranges/blobs/uploads/`, { method: 'POST' });
          const location = new URL(start.headers['location'] as string, base).toString();
          const res = await http(location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'content-range': range }, body: Buffer.alloc(10, 1) });
          exposure.add(res.body);
          statuses.push(res.status);
          if (base === toRegistry.url && code) expect([range, (res.json() as { errors: { code: string }[] }).errors[0]!.code]).toEqual([range, code]);
        }
        results[range] = [statuses[0]!, statuses[1]!];
        expect([range, statuses[0]]).toEqual([range, expected]);
        expect([range, statuses[1]]).toEqual([range, 202]);
      }
      console.log(`Content-Range on PATCH → [through the proxy, directly]: ${JSON.stringify(results)}`);
      // refused ones never reach the upstream; a good one does, byte for byte
      const before = openUp.seen.length;
      await http(`${px.url}/v2/app/blobs/uploads/u-1`, {
        method: 'PATCH',
        headers: { 'content-range': 'garbage', 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(10),
      });
      expect(openUp.seen.length).toBe(before);
      await http(`${px.url}/v2/app/blobs/uploads/u-1`, {
        method: 'PATCH',
        headers: { 'content-range': '0-9', 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(10),
      });
      expect(openUp.seen[before]).toMatchObject({ method: 'PATCH', url: '/v2/app/blobs/uploads/u-1' });
      expect(openUp.seen[before]!.headers['content-range']).toBe('0-9');
    });
  });
});

describe('nothing reaches a host that is not a configured upstream or its trusted realm', () => {
  it('absolute-form request targets are 404 and go nowhere', async () => {
    const before = openUp.seen.length;
    for (const target of [`${other.url}/v2/`, `${other.url}/v2/app/manifests/v1`, 'http://other.example/v2/app/blobs/' + DIGEST, `https://127.0.0.2:${other.port}/v2/_catalog`]) {
      const a = await raw(px, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.2:${other.port}\r\nConnection: close\r\n\r\n`);
      expect([target, a?.status, ociCodeOf(a!)]).toEqual([target, 404, 'UNSUPPORTED']);
    }
    expect(openUp.seen.length).toBe(before);
    expect(other.connections).toBe(0);
  });

  it('CONNECT is refused without a tunnel', async () => {
    for (const target of [`127.0.0.2:${other.port}`, 'other.example:443']) {
      const a = await raw(px, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      // Node drops a CONNECT nobody handles: the connection closes with no answer at all.
      expect(a === null || a.status >= 400).toBe(true);
    }
    expect((await get(px, '/healthz'))?.status).toBe(200);
    expect(other.connections).toBe(0);
  });

  it('Host header tricks pick nothing but the configured upstream', async () => {
    const hosts = [
      [`127.0.0.2:${other.port}`],
      [`someone@127.0.0.2:${other.port}`],
      [`127.0.0.1:${openUp.port}@127.0.0.2:${other.port}`],
      [`127.0.0.1:${openUp.port}`], // the upstream's own host
      [`127.0.0.2:${other.port}`, 'a'], // duplicate Host
      ['a', `127.0.0.2:${other.port}`],
    ];
    for (const values of hosts) {
      const before = openUp.seen.length;
      const head = values.map((h) => `Host: ${h}\r\n`).join('');
      const a = await raw(px, `GET /v2/app/manifests/v1 HTTP/1.1\r\n${head}Connection: close\r\n\r\n`);
      // Served by the default connector's upstream (or refused): never elsewhere.
      expect([values, a?.status === 200 || (a !== null && a.status >= 400 && a.status < 500)]).toEqual([values, true]);
      if (a?.status === 200) {
        expect(openUp.seen.length).toBe(before + 1);
        expect(openUp.seen.at(-1)!.headers['host']).toBe(`127.0.0.1:${openUp.port}`);
      }
    }
    expect(other.connections).toBe(0);
  });

  it('ns only chooses among the configured connectors: a registry none serves is a fast 404, nothing is dialled by it, and it never goes upstream', async () => {
    const before = openUp.seen.length;
    for (const ns of ['docker.io', `127.0.0.2:${other.port}`, 'quay.io']) {
      const a = await get(px, `/v2/app/manifests/v1?ns=${ns}`);
      expect([ns, a?.status, ociCodeOf(a!)]).toEqual([ns, 404, 'NAME_UNKNOWN']);
    }
    for (const ns of ['quay.io%2Fevil', 'http://127.0.0.2/', '']) expect((await get(px, `/v2/app/manifests/v1?ns=${ns}`))?.status).toBe(400);
    expect(openUp.seen.length).toBe(before);
    // The open connector's own registry, named by ns, picks it; ns itself stays here.
    const own = await get(px, `/v2/app/manifests/v1?ns=127.0.0.1:${openUp.port}&x=1`);
    expect(own?.status).toBe(200);
    expect(openUp.seen.at(-1)!.url).toBe('/v2/app/manifests/v1?x=1');
    expect(other.connections).toBe(0);
  });

  it('an upstream redirect of a blob GET is followed without Authorization (redirects: follow)', async () => {
    const before = { storage: storage.requests.length, upstream: redirUp.seen.length };
    const res = await http(`${px.url}/v2/namespaces/default/connectors/follow/app/blobs/${DIGEST}`, { headers: { authorization: 'Bearer client-token-xyz', cookie: 'c=1' } });
    exposure.addAnswer(res);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(STORAGE_BODY);
    const upstreamSaw = redirUp.seen.slice(before.upstream).filter((s) => s.url.includes('/blobs/'));
    expect(upstreamSaw.map((s) => s.headers['authorization'])).toContain(BASIC_UPSTREAM);
    const storageSaw = storage.requests.slice(before.storage);
    expect(storageSaw).toHaveLength(1);
    expect(storageSaw[0]).toMatchObject({ method: 'GET', url: '/bucket/blob?sig=a%2Fb', authorization: undefined });
    expect(storageSaw[0]!.headers['cookie']).toBeUndefined();
    // A Location with credentials in it: followed, and those are not sent either.
    const withUserinfo = await http(`${px.url}/v2/namespaces/default/connectors/follow/userinfo/blobs/${DIGEST}`);
    expect(withUserinfo.status).toBe(200);
    expect(storage.requests.at(-1)!.authorization).toBeUndefined();
  });

  it('with redirects: pass, the redirect goes to the client unchanged and the proxy contacts nothing', async () => {
    const before = storage.requests.length;
    const res = await http(`${px.url}/v2/namespaces/default/connectors/pass/app/blobs/${DIGEST}`);
    exposure.addAnswer(res);
    expect(res.status).toBe(307);
    expect(res.headers['location']).toBe(`${storage.url}/bucket/blob?sig=a%2Fb`);
    expect(storage.requests.length).toBe(before);
  });

  it('a token realm on a foreign host is refused with 502 and never contacted with credentials', async () => {
    const res = await http(`${px.url}/v2/namespaces/default/connectors/foreign/app/manifests/v1`);
    exposure.addAnswer(res);
    expect(res.status).toBe(502);
    expect(ociCodeOf(res)).toBe('UNAVAILABLE');
    expect(res.body.toString()).toContain('refusing to send credentials: token realm host 127.0.0.2 is not');
    expect(foreignRealm.requests).toEqual([]);
    // An anonymous connector has nothing to protect: it may ask that realm, with no credentials.
    const anon = await http(`${px.url}/v2/namespaces/default/connectors/foreign-anon/app/manifests/v1`);
    exposure.addAnswer(anon);
    expect(anon.status).toBe(401);
    expect(foreignRealm.requests.length).toBeGreaterThan(0);
    expect(foreignRealm.requests.map((r) => r.authorization)).toEqual(foreignRealm.requests.map(() => undefined));
    expect(foreignRealm.requests.map((r) => r.url).join(' ')).not.toContain(USER.username);
  });

  it('an upstream that switches its challenge to a foreign realm mid-session gets no credentials there', async () => {
    const realmBefore = foreignRealm.requests.length;
    const good = await http(`${px.url}/v2/namespaces/default/connectors/relearn/app/manifests/v1`);
    expect(good.status).toBe(200);
    relearnForeign = true;
    try {
      const res = await http(`${px.url}/v2/namespaces/default/connectors/relearn/app/manifests/v2`);
      exposure.addAnswer(res);
      expect(res.status).toBe(502);
      expect(res.body.toString()).toContain('refusing to send credentials');
    } finally {
      relearnForeign = false;
    }
    expect(foreignRealm.requests.length).toBe(realmBefore);
  });

  it('the foreign host was never contacted, and the storage host only by the followed redirects', () => {
    expect(other.connections).toBe(0);
    expect(other.requests).toEqual([]);
    expect(storage.requests.every((r) => r.url.startsWith('/bucket/blob') && r.authorization === undefined)).toBe(true);
  });
});

describe('static access control cannot be bypassed', () => {
  const secure = '/v2/namespaces/team-a/connectors/secure';
  const attempts: [string, string, Record<string, string>][] = [
    ['an encoded slash in the prefix', '/v2/namespaces/team-a%2Fconnectors/secure/app/manifests/v1', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['an encoded slash after the prefix', `${secure}%2Fapp/manifests/v1`, { authorization: basic('anyone', TOKEN_OPEN) }],
    ['encoded letters in the namespace', '/v2/namespaces/%74eam-a/connectors/secure/app/manifests/v1', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['dot segments', '/v2/namespaces/./connectors/../namespaces/team-a/connectors/secure/app/manifests/v1', { authorization: basic('anyone', TOKEN_OPEN) }],
    [
      'dot segments out of the open connector',
      '/v2/namespaces/default/connectors/open/../../team-a/connectors/secure/app/manifests/v1',
      { authorization: basic('anyone', TOKEN_OPEN) },
    ],
    ['an encoded dot segment', '/v2/namespaces/default/connectors/open/%2e%2e/%2e%2e/team-a/connectors/secure/app/manifests/v1', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['upper case', '/v2/namespaces/TEAM-A/connectors/SECURE/app/manifests/v1', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['mixed case', '/v2/namespaces/team-a/connectors/Secure/app/manifests/v1', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['an upper-case V2', '/V2/namespaces/team-a/connectors/secure/app/manifests/v1', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['a doubled slash', '//v2/namespaces/team-a/connectors/secure/app/manifests/v1', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['a backslash', '/v2/namespaces\\team-a/connectors/secure/app/manifests/v1', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['a token for the other connector', `${secure}/app/manifests/v1`, { authorization: basic('anyone', TOKEN_OPEN) }],
    ['a token for the other connector, as Bearer', `${secure}/app/manifests/v1`, { authorization: `Bearer ${TOKEN_OPEN}` }],
    ['a token for the other connector, on the catalog', `${secure}/_catalog`, { authorization: basic('anyone', TOKEN_OPEN) }],
    ['no token at all', `${secure}/app/manifests/v1`, {}],
    ['the token as the Basic username, empty password', `${secure}/app/manifests/v1`, { authorization: basic(TOKEN_SECURE, '') }],
    ['the token as the Basic username, another password', `${secure}/app/manifests/v1`, { authorization: basic(TOKEN_SECURE, 'x') }],
    ['the token with no colon at all', `${secure}/app/manifests/v1`, { authorization: `Basic ${Buffer.from(TOKEN_SECURE).toString('base64')}` }],
    ['Bearer with trailing garbage', `${secure}/app/manifests/v1`, { authorization: `Bearer ${TOKEN_SECURE} x` }],
    ['another scheme', `${secure}/app/manifests/v1`, { authorization: `Token ${TOKEN_SECURE}` }],
    ['the token in the query', `${secure}/app/manifests/v1?access_token=${TOKEN_SECURE}`, {}],
    ['the host name of the secure connector', '/v2/app/manifests/v1', { host: 'c-secure.team-a', authorization: basic('anyone', TOKEN_OPEN) }],
    ['its host name in upper case', '/v2/app/manifests/v1', { host: 'C-SECURE.TEAM-A.SVC.CLUSTER.LOCAL:5000', authorization: basic('anyone', TOKEN_OPEN) }],
    ['the open host name with the secure path', `${secure}/app/manifests/v1`, { host: 'c-open.default', authorization: basic('anyone', TOKEN_OPEN) }],
    ['X-Forwarded-Host naming the secure connector', '/v2/app/manifests/v1', { 'x-forwarded-host': 'c-secure.team-a' }],
    ['an absolute-form target on the secure host', 'http://c-secure.team-a/v2/app/manifests/v1', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['its management view', '/connectors/team-a/secure', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['its configuration file', '/connectors/team-a/secure/configurations/config.json', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['its configuration file, name percent-encoded', '/connectors/team-a/%73ecure/configurations/config.json', { authorization: basic('anyone', TOKEN_OPEN) }],
    ['its configuration file, upper case', '/connectors/TEAM-A/SECURE/configurations/config.json', { authorization: basic('anyone', TOKEN_OPEN) }],
  ];

  it.each(attempts)('%s: refused, and the secure upstream sees nothing', async (_what, path, headers) => {
    const before = secureUp.seen.length;
    const a = await get(acl, path, headers);
    expect(a).not.toBeNull();
    expect(a!.status).toBeGreaterThanOrEqual(400);
    expect(a!.status).toBeLessThan(500);
    expect(isOciErrorBody(jsonOf(a!))).toBe(true);
    expect(a!.body.toString()).not.toContain(TOKEN_SECURE);
    expect(secureUp.seen.length).toBe(before);
  });

  it('host names of the open connector (and unknown ones) with the open token reach only the open upstream', async () => {
    for (const host of ['c-open.default', 'c-secure.team-a.', 'c-secure.team-a.svc.cluster.local.evil', `127.0.0.1:${secureUp.port}`]) {
      const before = { open: openUp.seen.length, secure: secureUp.seen.length };
      const a = await get(acl, '/v2/app/manifests/v1', { host, authorization: basic('anyone', TOKEN_OPEN) });
      expect([host, a?.status]).toEqual([host, 200]);
      expect(openUp.seen.length).toBe(before.open + 1);
      expect(secureUp.seen.length).toBe(before.secure);
    }
  });

  const duplicates: [what: string, n1: string, v1: string, n2: string, v2: string][] = [
    ['the secure token, then the open one', 'Authorization', basic('anyone', TOKEN_SECURE), 'authorization', basic('anyone', TOKEN_OPEN)],
    ['the open token, then the secure one', 'authorization', basic('anyone', TOKEN_OPEN), 'Authorization', basic('anyone', TOKEN_SECURE)],
    ['the same Bearer token twice', 'Authorization', `Bearer ${TOKEN_SECURE}`, 'AUTHORIZATION', `Bearer ${TOKEN_SECURE}`],
    ['an empty Basic pair, then the secure token', 'Authorization', 'Basic Og==', 'Authorization', basic('anyone', TOKEN_SECURE)],
  ];
  it.each(duplicates)('duplicate Authorization headers are 401 even when both are valid, in any order or case: %s', async (_what, n1, v1, n2, v2) => {
    const before = secureUp.seen.length;
    const a = await raw(acl, `GET /v2/namespaces/team-a/connectors/secure/app/manifests/v1 HTTP/1.1\r\nHost: x\r\n${n1}: ${v1}\r\n${n2}: ${v2}\r\nConnection: close\r\n\r\n`);
    expect(a?.status).toBe(401);
    expect(a!.body.toString()).toContain('more than one Authorization header');
    expect(secureUp.seen.length).toBe(before);
  });

  it('the right token gets through, and the upstream sees the connector credentials, never the proxy token', async () => {
    const a = await get(acl, '/v2/namespaces/team-a/connectors/secure/app/manifests/v1', { authorization: basic('ci', TOKEN_SECURE) });
    expect(a?.status).toBe(200);
    const seen = secureUp.seen.filter((s) => s.url === '/v2/app/manifests/v1');
    expect(seen.length).toBeGreaterThan(0);
    for (const s of seen) {
      expect(s.headers['authorization']).toBe(BASIC_UPSTREAM);
      expect(JSON.stringify(s.rawHeaders)).not.toContain(TOKEN_SECURE);
    }
    // The secure connector's configuration file holds the caller's own token, never another one
    // or the upstream password (it is not added to the scan, since it must hold the caller's token).
    const file = await get(acl, '/connectors/team-a/secure/configurations/config.json', { authorization: basic('ci', TOKEN_SECURE) });
    expect(file?.status).toBe(200);
    expect(file!.body.toString()).toContain(Buffer.from(`ci:${TOKEN_SECURE}`).toString('base64'));
    expect(file!.body.toString()).not.toContain(TOKEN_OPEN);
    expect(file!.body.toString()).not.toContain(USER.password);
  });
});

describe('secrets', () => {
  it('no answer or log line holds the upstream password, a proxy token, or a token the token server issued', () => {
    const secrets = [USER.password, BASIC_UPSTREAM.slice(6), TOKEN_OPEN, TOKEN_SECURE, ...ts.secrets(), 'secret-in-url', 'foreign-realm-token-0123456789'];
    expect(ts.tokens.length).toBeGreaterThan(0);
    console.log(`leak scan: ${secrets.length} secrets over ${exposure.size()} characters of answers and logs`);
    expect(exposure.find(secrets)).toEqual([]);
  });
});
