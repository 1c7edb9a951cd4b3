/**
 * No host can harvest a connector's credentials and no upstream can echo them back: storage
 * hosts that answer a followed redirect with a challenge of their own, a registry that switches
 * its challenge to a foreign realm, registries that quote the Authorization they received (a
 * leak scan over every answer, log line, /connectors and health condition). And the request
 * rules that go with them: queries rebuilt from parsed values, path-mode mounts mounted by the
 * real registry, one 401 for existing and unknown connectors, X-Forwarded-* only when trusted,
 * one challenge ping for concurrent cold requests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessControl, hashToken } from '../../src/access/control.ts';
import type { Connector } from '../../src/connectors/model.ts';
import { basicAuthorization } from '../../src/util/basic.ts';
import { Exposure, ociCodeOf } from '../helpers/fault-tools.ts';
import { type Answer, basic, http } from '../helpers/http.ts';
import { makeImage, pushBlob, writeLayout } from '../helpers/oci.ts';
import { waitFor } from '../helpers/ports.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { type RunningProxy, startProxy } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';
import { type ScriptedUpstream, startScriptedUpstream } from '../helpers/scripted-upstream.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { skopeo } from '../helpers/tools.ts';

const USER = { username: 'trust-robot', password: 'p@ss w0rd/+Trust!' };
const BASIC = basicAuthorization(USER);
const D1 = 'sha256:' + '1'.repeat(64);
const D2 = 'sha256:' + '2'.repeat(64);
const exposure = new Exposure();
const proxies: RunningProxy[] = [];
const upstreams: ScriptedUpstream[] = [];
const servers: Server[] = [];
let ts: TokenServer;

beforeAll(async () => {
  ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } } });
});
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all(upstreams.map((u) => u.stop()));
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await ts?.stop();
});

async function proxy(connectors: Connector[], extra: Parameters<typeof startProxy>[1] = {}): Promise<RunningProxy> {
  const p = await startProxy(connectors, extra);
  proxies.push(p);
  exposure.watch(() => p.logs.join('\n'));
  return p;
}

async function upstream(script: Parameters<typeof startScriptedUpstream>[0], answerPing = false): Promise<ScriptedUpstream> {
  const u = await startScriptedUpstream(script, answerPing);
  upstreams.push(u);
  return u;
}

async function seen(url: string, init: Parameters<typeof http>[1] = {}): Promise<Answer> {
  const a = await http(url, init);
  exposure.addAnswer(a);
  return a;
}

/** A server on `host` that records every request and answers with `answer`. */
async function recorder(
  host: string,
  answer: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; host: string; requests: { url: string; authorization: string | undefined }[] }> {
  const requests: { url: string; authorization: string | undefined }[] = [];
  const server = createServer((req, res) => {
    requests.push({ url: req.url!, authorization: req.headers['authorization'] });
    req.resume();
    answer(req, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://${host}:${port}`, host: `${host}:${port}`, requests };
}

const bearerOf = (req: IncomingMessage): string | undefined => (req.headers['authorization']?.startsWith('Bearer ') ? req.headers['authorization'].slice(7) : undefined);

/** A token-auth registry (the real token server's realm) that answers `authorized` requests with `serve`. */
function tokenRegistry(serve: (req: IncomingMessage, res: ServerResponse) => void, challenge = (): string => `Bearer realm="${ts.realm}",service="${ts.service}"`) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    const token = bearerOf(req);
    if (token === undefined || !ts.tokens.includes(token)) {
      res.writeHead(401, { 'www-authenticate': challenge(), 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    serve(req, res);
  };
}

const ok = (res: ServerResponse, body = '{}'): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(body);

describe('a storage host cannot harvest the credentials', () => {
  it('a redirect target answering 401 with its own realm (a foreign host, or the registry host on another port) gets nothing, and the connector keeps working', async () => {
    const realmHits = await recorder('127.0.0.2', (_req, res) => ok(res, JSON.stringify({ token: 'harvest-token-0123456789', expires_in: 300 })));
    const sameHostRealm = await recorder('127.0.0.1', (_req, res) => ok(res, JSON.stringify({ token: 'harvest-token-0123456789', expires_in: 300 })));
    const challengeFrom = (realm: string) => (_req: IncomingMessage, res: ServerResponse) =>
      void res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}/token",service="storage"`, 'content-type': 'application/json' }).end('{}');
    const foreignStorage = await recorder('127.0.0.2', challengeFrom(realmHits.url));
    const localStorage = await recorder('127.0.0.1', challengeFrom(sameHostRealm.url));
    const registry = await upstream(
      tokenRegistry((req, res) => {
        if (req.url!.includes(D1)) return void res.writeHead(307, { location: `${foreignStorage.url}/bucket/1?sig=x`, 'content-length': '0' }).end();
        if (req.url!.includes(D2)) return void res.writeHead(307, { location: `${localStorage.url}/bucket/2?sig=y`, 'content-length': '0' }).end();
        ok(res);
      }),
    );
    const px = await proxy([connectorFor(registry.url, { name: 'harvest', credentials: USER })]);
    expect((await seen(`${px.url}/v2/team/app/manifests/v1`)).status).toBe(200);
    const exchanges = px.server.tokens.stats.exchanges;

    for (const [digest, storage] of [
      [D1, foreignStorage],
      [D2, localStorage],
    ] as const) {
      const res = await seen(`${px.url}/v2/team/app/blobs/${digest}`);
      expect([digest, res.status, ociCodeOf(res)]).toEqual([digest, 502, 'UNAVAILABLE']);
      expect((res.json() as { errors: { message: string }[] }).errors[0]!.message).toContain(`the storage host ${storage.host} that upstream`);
      expect(res.headers['www-authenticate']).toBeUndefined();
      expect(storage.requests.map((r) => r.authorization)).toEqual([undefined]);
    }
    expect(realmHits.requests).toEqual([]);
    expect(sameHostRealm.requests).toEqual([]);
    // The connector still uses the registry's own challenge, and its cached token.
    expect((await seen(`${px.url}/v2/team/app/manifests/v2`)).status).toBe(200);
    expect(px.server.tokens.stats.exchanges).toBe(exchanges);
  });

  it('a registry whose challenge switches to a foreign realm gets no credentials there, and once it switches back the connector works without a restart', async () => {
    const foreignRealm = await recorder('127.0.0.2', (_req, res) => ok(res, JSON.stringify({ token: 'foreign-token-0123456789', expires_in: 300 })));
    let foreign = false;
    const registry = await upstream(
      tokenRegistry((req, res) =>
        foreign && req.url !== '/v2/' ? void res.writeHead(401, { 'www-authenticate': `Bearer realm="${foreignRealm.url}/token",service="x"` }).end() : ok(res),
      ),
    );
    const px = await proxy([connectorFor(registry.url, { name: 'switch', credentials: USER })]);
    expect((await seen(`${px.url}/v2/team/app/manifests/v1`)).status).toBe(200);
    foreign = true;
    const refused = await seen(`${px.url}/v2/team/app/manifests/v1`);
    expect(refused.status).toBe(502);
    expect((refused.json() as { errors: { message: string }[] }).errors[0]!.message).toContain('refusing to send credentials');
    foreign = false;
    expect((await seen(`${px.url}/v2/team/app/manifests/v1`)).status).toBe(200);
    expect(foreignRealm.requests).toEqual([]);
  });
});

describe('credentials echoed back by a registry are scrubbed', () => {
  it('from client error bodies and headers, log lines, /connectors and the health condition', async () => {
    const echo = (auth: string | undefined): string =>
      `rejected ${auth} for user ${USER.username} (password ${USER.password}, ${encodeURIComponent(USER.password)}, ${Buffer.from(USER.password).toString('base64')})`;
    const basicRegistry = await upstream((req, res) => {
      req.resume();
      const auth = req.headers['authorization'];
      const body = JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: echo(auth) }] });
      if (auth !== BASIC) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="echo"', 'content-type': 'application/json' }).end(body);
      // Right credentials, and still the registry quotes them: in a refusal, an error and a header.
      if (req.url!.includes('/tags/list'))
        return void res.writeHead(401, { 'www-authenticate': 'Basic realm="echo"', 'content-type': 'application/json', 'x-echo': auth }).end(body);
      if (req.method === 'PATCH')
        return void res
          .writeHead(400, { 'content-type': 'application/json', 'x-echo': auth })
          .end(JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: echo(auth) }] }));
      res.writeHead(404, { 'content-type': 'application/json', 'x-echo': `seen ${auth}` }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: echo(auth) }] }));
    });
    const bearerRegistry = await upstream(
      tokenRegistry(
        (req, res) =>
          void res
            .writeHead(401, { 'www-authenticate': `Bearer realm="${ts.realm}",service="${ts.service}",error="invalid_token"`, 'content-type': 'application/json' })
            .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: `token ${req.headers['authorization']} rejected` }] })),
      ),
    );
    const connectors = [
      connectorFor(basicRegistry.url, { name: 'echo-basic', credentials: USER, healthRepository: 'team/app' }),
      connectorFor(bearerRegistry.url, { name: 'echo-bearer', credentials: USER, healthRepository: 'team/app' }),
    ];
    const px = await proxy(connectors, { health: { intervalMs: 0, timeoutMs: 5_000 } });
    const P = (name: string): string => `${px.url}/v2/namespaces/default/connectors/${name}`;
    await waitFor('both health checks done', async () => px.server.connectors().connectors.every((c) => px.server.health!.status(`default/${c.name}`)?.checkedAt !== undefined));

    const refusal = await seen(`${P('echo-basic')}/team/app/tags/list`);
    expect(refusal.status).toBe(401);
    expect(refusal.body.toString()).toContain('the registry said: UNAUTHORIZED: rejected [redacted] for user [redacted] (password [redacted], [redacted], [redacted])');
    const error = await seen(`${P('echo-basic')}/team/app/blobs/uploads/u-1`, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(10) });
    expect(error.status).toBe(400);
    expect(error.headers['x-echo']).toBe('[redacted]');
    expect(Number(error.headers['content-length'])).toBe(error.body.length);
    expect((error.json() as { errors: { message: string }[] }).errors[0]!.message).toBe('rejected [redacted] for user [redacted] (password [redacted], [redacted], [redacted])');
    const missing = await seen(`${P('echo-basic')}/team/app/manifests/v1`);
    expect([missing.status, missing.headers['x-echo']]).toEqual([404, 'seen [redacted]']);
    const bearer = await seen(`${P('echo-bearer')}/team/app/manifests/v1`);
    expect(bearer.status).toBe(401);
    expect(bearer.body.toString()).toContain('token [redacted] rejected');

    const listing = await seen(`${px.url}/connectors`);
    const auth = (name: string) =>
      (listing.json() as { items: { metadata: { name: string }; status: { conditions: { type: string; message: string }[] } }[] }).items
        .find((i) => i.metadata.name === name)!
        .status.conditions.find((c) => c.type === 'AuthReady')!;
    expect(auth('echo-basic').message).toContain('rejected [redacted] for user [redacted]');
    expect(auth('echo-bearer').message).toContain('token [redacted] rejected');

    const secrets = [USER.password, encodeURIComponent(USER.password), Buffer.from(USER.password).toString('base64'), BASIC.slice(6), USER.username, ...ts.tokens];
    console.log(`echo leak scan: ${secrets.length} secrets over ${exposure.size()} characters of answers, logs and /connectors`);
    expect(exposure.find(secrets)).toEqual([]);
  });
});

describe('queries are rebuilt from what was parsed', () => {
  it('a repeated mount, from or digest is 400 and reaches nothing; what goes upstream is re-encoded', async () => {
    const up = await upstream((req, res) => {
      req.resume();
      res.writeHead(202, { 'content-length': '0', location: '/v2/a/blobs/uploads/u' }).end();
    }, true);
    const px = await proxy([connectorFor(up.url)]);
    for (const [query, code] of [
      [`?mount=${D1}&from=b&from=..%2F..%2Fc`, 'NAME_INVALID'],
      [`?mount=${D1}&mount=${D2}&from=b`, 'DIGEST_INVALID'],
      [`?digest=${D1}&digest=${D2}`, 'DIGEST_INVALID'],
    ] as const) {
      const res = await seen(`${px.url}/v2/a/blobs/uploads/${query}`, { method: 'POST' });
      expect([query, res.status, ociCodeOf(res)]).toEqual([query, 400, code]);
    }
    expect(up.seen).toEqual([]);
    expect((await seen(`${px.url}/v2/a/blobs/uploads/?from=b&mount=${D1}&x=%7e`, { method: 'POST' })).status).toBe(202);
    expect(up.seen.at(-1)!.url).toBe(`/v2/a/blobs/uploads/?from=b&mount=${encodeURIComponent(D1)}&x=%7E`);
  });
});

describe('path-mode cross-repository mounts', () => {
  let registry: Registry;
  let px: RunningProxy;
  beforeAll(async () => {
    registry = await startRegistry();
    px = await proxy([connectorFor(registry.url, { name: 'x' }), connectorFor(registry.url, { name: 'y' })]);
  });
  afterAll(async () => registry?.stop());

  it('a mount source named with the connector prefix is mounted by the real registry (201); another connector’s is a plain upload (202)', async () => {
    const d = await pushBlob(registry.url, 'team/src', randomBytes(4096));
    const mount = (from: string) => seen(`${px.url}/v2/namespaces/default/connectors/x/team/dst/blobs/uploads/?mount=${d}&from=${from}`, { method: 'POST' });
    const mounted = await mount('namespaces/default/connectors/x/team/src');
    expect(mounted.status, mounted.body.toString()).toBe(201);
    expect(mounted.headers['location']).toContain(`/v2/namespaces/default/connectors/x/team/dst/blobs/${d}`);
    expect((await http(`${registry.url}/v2/team/dst/blobs/${d}`, { method: 'HEAD' })).status).toBe(200);
    // another connector's repository is not on this upstream: the registry starts a plain upload
    const other = await mount('namespaces/default/connectors/y/team/src');
    expect(other.status).toBe(202);
    // a plain name is taken as the upstream's own
    expect((await mount('team/src')).status).toBe(201);
  });

  it('skopeo copies between two repositories of one connector in path mode by mounting', async () => {
    const layout = writeLayout([makeImage('amd64', [50_000])], 'v1');
    const base = `docker://${px.host}/namespaces/default/connectors/x`;
    expect((await skopeo(['copy', '--dest-tls-verify=false', layout.ref, `${base}/team/one:v1`])).code).toBe(0);
    const before = px.logs.length;
    const copy = await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `${base}/team/one:v1`, `${base}/team/two:v1`]);
    expect(copy.code, copy.stderr).toBe(0);
    const starts = px.logs
      .slice(before)
      .map((l) => JSON.parse(l) as { msg: string; endpoint?: string; method?: string; status?: number })
      .filter((l) => l.msg === 'request' && l.endpoint === 'upload-start');
    // The layer is mounted (201); the config blob, which skopeo reads and sends again, is a plain upload.
    expect(starts.map((l) => l.status)).toContain(201);
  });
});

describe('unknown callers learn nothing about which connectors exist', () => {
  it('the 401 for an existing connector and an unknown one is the same, for every kind of missing or wrong credential', async () => {
    const up = await upstream((req, res) => (req.resume(), ok(res)), true);
    const TOKEN = 'trust-proxy-token-0123456789';
    const px = await proxy([connectorFor(up.url, { name: 'secure', namespace: 'team-a' })], {
      access: new AccessControl({ mode: 'static', tokens: [{ id: 'ci/t', sha256: hashToken(TOKEN), connectors: ['*'] }] }),
    });
    const credentials: Record<string, Record<string, string>> = {
      none: {},
      'a wrong token': { authorization: basic('ci', 'wrong-token-0123456789') },
      'a malformed header': { authorization: 'Digest x' },
      'an empty Basic pair': { authorization: 'Basic Og==' },
    };
    for (const [what, headers] of Object.entries(credentials)) {
      for (const [existing, unknown] of [
        ['/v2/namespaces/team-a/connectors/secure/app/manifests/v1', '/v2/namespaces/team-a/connectors/nope/app/manifests/v1'],
        ['/connectors/team-a/secure', '/connectors/team-a/nope'],
      ] as const) {
        const a = await seen(px.url + existing, { headers });
        const b = await seen(px.url + unknown, { headers });
        expect([what, a.status, a.headers['www-authenticate'], a.body.toString()]).toEqual([what, 401, b.headers['www-authenticate'], b.body.toString()]);
        expect(a.body.toString()).not.toContain('secure');
      }
    }
    expect(up.seen).toEqual([]);
  });
});

describe('X-Forwarded-* steers rewritten URLs only behind a trusted proxy', () => {
  it("without --trust-proxy the client's Host is used; with it, the fronting proxy's headers", async () => {
    const up = await upstream((req, res) => {
      req.resume();
      res.writeHead(202, { location: `http://${req.headers.host}/v2/a/blobs/uploads/u-1?x=1`, 'content-length': '0' }).end();
    }, true);
    const forwarded = { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' };
    const plain = await proxy([connectorFor(up.url)]);
    const trusting = await proxy([connectorFor(up.url)], { trustProxy: true });
    const a = await seen(`${plain.url}/v2/a/blobs/uploads/`, { method: 'POST', headers: forwarded });
    expect(a.headers['location']).toBe(`${plain.url}/v2/a/blobs/uploads/u-1?x=1`);
    const b = await seen(`${trusting.url}/v2/a/blobs/uploads/`, { method: 'POST', headers: forwarded });
    expect(b.headers['location']).toBe('https://evil.example/v2/a/blobs/uploads/u-1?x=1');
    // neither sends the headers upstream
    expect(up.seen.every((s) => s.headers['x-forwarded-host'] === undefined)).toBe(true);
  });
});

describe('the challenge ping', () => {
  it('20 concurrent cold requests share one upstream GET /v2/', async () => {
    let pings = 0;
    const up = await upstream((req, res) => {
      req.resume();
      if (req.url === '/v2/') {
        pings++;
        setTimeout(() => ok(res), 100); // slow enough that every request arrives while it runs
        return;
      }
      ok(res);
    });
    const px = await proxy([connectorFor(up.url)]);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => http(`${px.url}/v2/a/manifests/v${i}`)));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(pings).toBe(1);
    expect(up.seen.filter((s) => s.url !== '/v2/')).toHaveLength(20);
  });
});
