/**
 * Secretless access against the real distribution registry in token mode, with the token-server
 * fixture: skopeo holds no credentials; the proxy exchanges, caches and renews tokens; refusals
 * and token-server failures are clear OCI errors; no secret ever reaches a client or a log.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connector } from '../../src/connectors/model.ts';
import { http as rawHttp, ociCode, type Answer } from '../helpers/http.ts';
import { makeImage, sha256, writeLayout } from '../helpers/oci.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { startProxy, type RunningProxy } from '../helpers/proxy.ts';
import { startRegistry, type Registry } from '../helpers/registry.ts';
import { basicAuthRegistryConfig, startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { skopeo, type RunResult } from '../helpers/tools.ts';

const RW = { username: 'ci-writer', password: 'rw-S3cret-pa55' };
const RO = { username: 'ci-reader', password: 'ro-S3cret-pa55' };

let ts: TokenServer;
let registry: Registry;
const proxies: RunningProxy[] = [];
const cleanup: string[] = [];
/** Everything a client saw, for the leak scan. */
const seenByClients: string[] = [];

async function http(url: string, init?: Parameters<typeof rawHttp>[1]): Promise<Answer> {
  const a = await rawHttp(url, init);
  seenByClients.push(JSON.stringify(a.headers), a.body.toString('latin1'));
  return a;
}
async function sk(args: string[]): Promise<RunResult> {
  const r = await skopeo(args);
  seenByClients.push(r.stdout, r.stderr);
  return r;
}
async function proxyFor(c: Connector, extra: Parameters<typeof startProxy>[1] = {}): Promise<RunningProxy> {
  const p = await startProxy([c], extra);
  proxies.push(p);
  return p;
}
const scopeCount = (scope: string): number => ts.counts.byScope[scope] ?? 0;

beforeAll(async () => {
  ts = await startTokenServer({
    users: {
      [RW.username]: { password: RW.password, rights: () => ['*'] },
      [RO.username]: { password: RO.password, rights: (_name, type) => (type === 'repository' ? ['pull'] : []) },
    },
  });
  registry = await startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401 });
});

afterAll(async () => {
  for (const p of proxies) await p.stop();
  await registry?.stop();
  // Leak scan over everything clients saw and every proxy log line.
  const secrets = [RW.password, RO.password, 'wrong-password-123', ...ts.secrets()].filter((s) => s.length >= 8);
  const haystacks = [...seenByClients, ...proxies.flatMap((p) => p.logs)];
  expect(ts.tokens.length).toBeGreaterThan(0);
  for (const secret of secrets) {
    const hit = haystacks.find((h) => h.includes(secret));
    expect(hit === undefined ? undefined : `secret found in: ${hit.slice(0, 200)}`).toBeUndefined();
  }
  await ts?.stop();
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

describe('secretless push and pull', () => {
  it('skopeo pushes and pulls through the proxy holding no credentials; the proxy authenticates', async () => {
    const px = await proxyFor(connectorFor(registry.url, { name: 'rw', credentials: RW }));
    ts.resetCounts();
    const image = makeImage('amd64', [200_000, 50_000]);
    const src = writeLayout([image], 'v1');
    cleanup.push(src.dir);
    const push = await sk(['copy', '--dest-tls-verify=false', src.ref, `docker://${px.host}/team/app:v1`]);
    expect(push.code, push.stderr).toBe(0);
    const afterPush = { ...ts.counts };

    const out = join(src.dir, 'pulled');
    const pull = await sk(['copy', '--src-tls-verify=false', `docker://${px.host}/team/app:v1`, `dir:${out}`]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(sha256(readFileSync(join(out, 'manifest.json')))).toBe(image.manifestDigest);

    // Tokens: pull,push for the upload, pull for its existence checks (HEAD) and the pull, each
    // exchanged once for the whole push and pull. skopeo's GET /v2/ checks are answered by the
    // proxy itself, so none is needed for them.
    expect(ts.requests.map((r) => r.scopes.join(' ')).sort()).toEqual(['repository:team/app:pull', 'repository:team/app:pull,push']);
    expect(afterPush.total).toBe(2);
    console.log(`token exchanges: push ${afterPush.total}, push+pull ${ts.counts.total} (GET ${ts.counts.get}, POST ${ts.counts.post})`);
  });

  it('GET /v2/ answers 200 for a token-auth upstream without any client credentials', async () => {
    const px = await proxyFor(connectorFor(registry.url, { name: 'ping', credentials: RW }));
    const res = await http(`${px.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers['www-authenticate']).toBeUndefined();
    // Once the upstream has answered, pings are the proxy's own: no exchange, no round trip.
    ts.resetCounts();
    for (let i = 0; i < 20; i++) expect((await http(`${px.url}/v2/`)).status).toBe(200);
    expect(ts.counts.total).toBe(0);
    expect(px.logs.filter((l) => l.includes('"endpoint":"base"')).length).toBeGreaterThanOrEqual(21);
  });

  it('costs one token exchange for many sequential and concurrent requests to one repository', async () => {
    const pusher = await proxyFor(connectorFor(registry.url, { name: 'reuse-push', credentials: RW }));
    const image = makeImage('amd64', [1000]);
    const src = writeLayout([image], 'r');
    cleanup.push(src.dir);
    expect((await sk(['copy', '--dest-tls-verify=false', src.ref, `docker://${pusher.host}/team/reuse:r`])).code).toBe(0);
    const px = await proxyFor(connectorFor(registry.url, { name: 'reuse', credentials: RW })); // a fresh token cache
    ts.resetCounts();
    for (let i = 0; i < 30; i++) {
      expect((await http(`${px.url}/v2/team/reuse/manifests/r`, { headers: { accept: image.descriptor.mediaType } })).status).toBe(200);
    }
    const all = await Promise.all(Array.from({ length: 50 }, () => http(`${px.url}/v2/team/reuse/blobs/${sha256(image.layers[0]!)}`, { method: 'HEAD' })));
    expect(all.every((a) => a.status === 200)).toBe(true);
    expect(ts.counts.total).toBe(1);
    expect(scopeCount('repository:team/reuse:pull')).toBe(1);
    expect(px.server.tokens.stats.exchanges).toBe(1);
  });

  it('renews an expired token in the middle of a chunked upload without the client noticing', async () => {
    let skew = 0;
    const px = await proxyFor(connectorFor(registry.url, { name: 'renew', credentials: RW }), { now: () => Date.now() + skew });
    ts.resetCounts();
    const blob = randomBytes(600_000);
    const start = await http(`${px.url}/v2/team/renew/blobs/uploads/`, { method: 'POST' });
    expect(start.status).toBe(202);
    let location = start.headers['location'] as string;
    for (let i = 0; i < 3; i++) {
      const chunk = blob.subarray(i * 200_000, (i + 1) * 200_000);
      const res = await http(location, {
        method: 'PATCH',
        headers: { 'content-range': `${i * 200_000}-${(i + 1) * 200_000 - 1}`, 'content-length': String(chunk.length) },
        body: chunk,
      });
      expect(res.status, res.body.toString()).toBe(202);
      location = res.headers['location'] as string;
      skew += 10 * 60_000; // the proxy's clock moves past the token's expiry between chunks
    }
    const put = await http(`${location}&digest=${sha256(blob)}`, { method: 'PUT' });
    expect(put.status, put.body.toString()).toBe(201);
    // one exchange for the first request, then one per chunk after each expiry
    expect(scopeCount('repository:team/renew:pull,push')).toBe(4);
    const get = await http(`${px.url}/v2/team/renew/blobs/${sha256(blob)}`);
    expect(sha256(get.body)).toBe(sha256(blob));
  });

  it("a changed Secret drops the connector's tokens: the next request authenticates with the new credentials", async () => {
    const px = await proxyFor(connectorFor(registry.url, { name: 'rotate', credentials: RW }));
    expect((await http(`${px.url}/v2/team/app/tags/list`)).status).toBe(200);
    ts.resetCounts();
    expect((await http(`${px.url}/v2/team/app/tags/list`)).status).toBe(200);
    expect(ts.counts.total).toBe(0); // cached
    await px.server.setConnectors([connectorFor(registry.url, { name: 'rotate', credentials: RO })]);
    expect((await http(`${px.url}/v2/team/app/tags/list`)).status).toBe(200);
    expect(ts.requests.map((r) => r.user)).toEqual([RO.username]);
    // the new credentials are read-only: a push is now refused (valid credentials, action not allowed)
    expect((await http(`${px.url}/v2/team/app/blobs/uploads/`, { method: 'POST' })).status).toBe(403);
  });

  it('uses OAuth2 POST when the token server takes it, and GET after a 404', async () => {
    const viaPost = await proxyFor(connectorFor(registry.url, { name: 'post', credentials: RW }));
    ts.resetCounts();
    expect((await http(`${viaPost.url}/v2/team/app/tags/list`)).status).toBe(200);
    expect(ts.counts.post).toBeGreaterThan(0);
    expect(ts.counts.get).toBe(0);

    ts.settings.postEnabled = false;
    try {
      const viaGet = await proxyFor(connectorFor(registry.url, { name: 'get', credentials: RW }));
      ts.resetCounts();
      expect((await http(`${viaGet.url}/v2/team/app/tags/list`)).status).toBe(200);
      expect((await http(`${viaGet.url}/v2/team/other/tags/list`)).status).toBe(404);
      expect(ts.counts.post).toBe(1); // the 404 is remembered for the realm
      expect(ts.counts.get).toBe(2);
    } finally {
      ts.settings.postEnabled = true;
    }
  });
});

describe('refusals are clear', () => {
  it("a read-only connector's push fails with 403 DENIED naming the action it may not do", async () => {
    const px = await proxyFor(connectorFor(registry.url, { name: 'ro', credentials: RO }));
    const res = await http(`${px.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    expect(res.status).toBe(403);
    expect(ociCode(res)).toBe('DENIED');
    const message = (res.json() as { errors: { message: string }[] }).errors[0]!.message;
    // The credentials are fine (reads work); the token they get does not grant push.
    expect(message).toContain("refused push on team/app: the connector's credentials lack that right (insufficient_scope for repository:team/app:pull,push)");
    expect(message).toContain('connector default/ro');
    expect(res.headers['www-authenticate']).toBeUndefined();
    // reading still works for the same connector
    expect((await http(`${px.url}/v2/team/app/tags/list`)).status).toBe(200);

    const src = writeLayout([makeImage('amd64', [100])], 'x');
    cleanup.push(src.dir);
    const push = await sk(['copy', '--dest-tls-verify=false', src.ref, `docker://${px.host}/team/app:ro`]);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/unauthorized|refused/i);
  });

  it('wrong credentials fail with UNAUTHORIZED naming the token server, and nothing is cached', async () => {
    const px = await proxyFor(connectorFor(registry.url, { name: 'wrong', credentials: { username: RW.username, password: 'wrong-password-123' } }));
    for (let i = 0; i < 2; i++) {
      const res = await http(`${px.url}/v2/team/app/manifests/v1`);
      expect(res.status).toBe(401);
      expect(ociCode(res)).toBe('UNAUTHORIZED');
      const message = (res.json() as { errors: { message: string }[] }).errors[0]!.message;
      expect(message).toBe(`connector default/wrong: token server 127.0.0.1:${ts.port} refused the connector's credentials (401); check the connector's Secret`);
    }
    expect(px.server.tokens.stats.failures).toBe(2);
  });

  it('an anonymous connector to a registry that grants anonymous nothing gets UNAUTHORIZED saying it has no Secret', async () => {
    const px = await proxyFor(connectorFor(registry.url, { name: 'anon' }));
    const res = await http(`${px.url}/v2/team/app/manifests/v1`);
    expect(res.status).toBe(401);
    expect((res.json() as { errors: { message: string }[] }).errors[0]!.message).toContain('anonymous access (the connector has no Secret)');
  });
});

describe('token server failures', () => {
  it('down, garbage, empty token, slow: clear 502/504 naming the realm host; recovery; cached tokens still used', async () => {
    const px = await proxyFor(connectorFor(registry.url, { name: 'faults', credentials: RW }), { upstream: { tokenTimeout: 500 } });
    const cases: [Parameters<TokenServer['setMode']>[0], number, string][] = [
      ['down5xx', 502, `token server 127.0.0.1:${ts.port} answered 503`],
      ['garbage', 502, `token server 127.0.0.1:${ts.port} answered with a body that is not JSON`],
      ['emptyToken', 502, `token server 127.0.0.1:${ts.port} answered without a token`],
      ['slow', 504, `token server 127.0.0.1:${ts.port} did not answer in time`],
    ];
    ts.settings.slowMs = 2_000;
    try {
      for (const [mode, status, message] of cases) {
        ts.setMode(mode);
        const res = await http(`${px.url}/v2/team/faults${mode.toLowerCase()}/tags/list`);
        expect([mode, res.status]).toEqual([mode, status]);
        expect(ociCode(res)).toBe('UNAVAILABLE');
        expect((res.json() as { errors: { message: string }[] }).errors[0]!.message).toContain(message);
      }
      ts.setMode('ok');
      expect((await http(`${px.url}/v2/team/app/tags/list`)).status).toBe(200);
      // with the token cached, the token server's outage does not matter
      ts.setMode('down5xx');
      expect((await http(`${px.url}/v2/team/app/tags/list`)).status).toBe(200);
    } finally {
      ts.setMode('ok');
    }
  });

  it('refuses to send credentials to a token realm on a foreign host, unless the connector allows it', async () => {
    // The registry's realm is on 127.0.0.1; a connector that reaches the registry as "localhost"
    // sees a realm on another host.
    const foreign = connectorFor(registry.url, { name: 'foreign', credentials: RW, upstreamOrigin: `http://localhost:${registry.port}` });
    const px = await proxyFor(foreign);
    ts.resetCounts();
    const res = await http(`${px.url}/v2/team/app/tags/list`);
    expect(res.status).toBe(502);
    expect((res.json() as { errors: { message: string }[] }).errors[0]!.message).toContain('refusing to send credentials: token realm host 127.0.0.1 is not');
    expect(ts.counts.total).toBe(0);

    const allowed = await proxyFor({ ...foreign, name: 'foreign-ok', params: { allowedRealmHosts: '127.0.0.1' } });
    expect((await http(`${allowed.url}/v2/team/app/tags/list`)).status).toBe(200);
  });
});

describe('Basic-auth registry', () => {
  it('pushes and pulls through a registry that takes Basic credentials (htpasswd)', async () => {
    const basic = await startRegistry({ extraConfig: basicAuthRegistryConfig({ [RW.username]: RW.password }), readyStatus: 401 });
    try {
      const px = await proxyFor(connectorFor(basic.url, { name: 'basic', credentials: RW }));
      const image = makeImage('amd64', [30_000]);
      const src = writeLayout([image], 'b');
      cleanup.push(src.dir);
      const push = await sk(['copy', '--dest-tls-verify=false', src.ref, `docker://${px.host}/team/basic:b`]);
      expect(push.code, push.stderr).toBe(0);
      const inspect = await sk(['inspect', '--tls-verify=false', `docker://${px.host}/team/basic:b`]);
      expect(inspect.code, inspect.stderr).toBe(0);
      expect(JSON.parse(inspect.stdout).Digest).toBe(image.manifestDigest);
      const anon = await proxyFor(connectorFor(basic.url, { name: 'basic-anon' }));
      expect((await http(`${anon.url}/v2/team/basic/tags/list`)).status).toBe(401);
    } finally {
      await basic.stop();
    }
  });
});
