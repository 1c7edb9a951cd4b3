/**
 * The pull-through cache against the real registry (with its access log, to count what reaches
 * it) and real clients: one upstream fetch for 100 concurrent cold clients, streamed to all of
 * them as it arrives; fills that outlive a client and are not slowed by one; an upstream killed
 * mid-fill, a corrupted body; Range and HEAD; authorization per repository and per connector;
 * tags revalidated with HEAD and served stale while the registry is down; eviction under load;
 * a restart with a warm store.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { PullThroughCache } from '../../src/cache/cache.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { http } from '../helpers/http.ts';
import { MT, makeImage, pushBlob, pushImage, sha256, writeLayout } from '../helpers/oci.ts';
import { waitFor } from '../helpers/ports.ts';
import { type RunningProxy, spawnProxy, startProxy } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';
import { startScriptedUpstream } from '../helpers/scripted-upstream.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { skopeo } from '../helpers/tools.ts';

const MiB = 1024 * 1024;
const mib = (n: number): string => (n / MiB).toFixed(1);
const dirs: string[] = [];
const stops: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ocp-cache-'));
  dirs.push(d);
  return d;
}

async function cachedProxy(registryUrl: string, cacheOptions: Partial<Parameters<typeof PullThroughCache.open>[0]> = {}, connector = connectorFor(registryUrl)) {
  const cache = await PullThroughCache.open({ dir: tempDir(), maxBytes: 4 * 1024 * MiB, ...cacheOptions });
  const px = await startProxy([connector], { cache });
  stops.push(() => px.stop());
  return { px, cache };
}

/** What reached the registry for a path, as `METHOD status` lines. */
const reached = (r: Registry, fragment: string): string[] => r.requests.filter((l) => l.includes(fragment)).map((l) => `${l.split(' ')[0]} ${l.split(' ')[2]}`);
/** The cache results logged for requests whose log line matches. */
const results = (px: RunningProxy, endpoint: string): string[] =>
  px.logs
    .map((l) => JSON.parse(l) as { msg: string; endpoint?: string; cache?: string; method?: string })
    .filter((l) => l.msg === 'request' && l.endpoint === endpoint)
    .map((l) => `${l.method} ${l.cache ?? '-'}`);

let registry: Registry;
beforeAll(async () => {
  registry = await startRegistry({ accessLog: true });
  stops.push(() => registry.stop());
});

describe('one upstream fetch, many readers', () => {
  it('100 concurrent clients of one cold 256 MiB blob: the registry serves it once, every client gets the right bytes, the first byte arrives before the fill ends', async () => {
    const blob = randomBytes(256 * MiB);
    const digest = await pushBlob(registry.url, 'cold/one', blob);
    // The proxy as its own process, as it runs: the clients here must not share its event loop.
    const dir = tempDir();
    const px = await spawnProxy(['--upstream', registry.url, '--cache-dir', dir]);
    stops.push(() => px.stop());
    const committed = join(dir, 'objects', 'sha256', digest.slice(7, 9), digest.slice(7));
    const started = performance.now();
    let firstByte = Number.POSITIVE_INFINITY;
    let fillEnded = Number.POSITIVE_INFINITY;
    const watch = setInterval(() => {
      if (fillEnded === Number.POSITIVE_INFINITY && existsSync(committed)) fillEnded = performance.now();
    }, 5);
    const client = async (): Promise<{ bytes: number; same: boolean }> => {
      const res = await request(`${px.url}/v2/cold/one/blobs/${digest}`);
      expect(res.statusCode).toBe(200);
      let offset = 0;
      let same = true;
      for await (const chunk of res.body) {
        const b = chunk as Buffer;
        firstByte = Math.min(firstByte, performance.now());
        same &&= b.equals(blob.subarray(offset, offset + b.length));
        offset += b.length;
      }
      return { bytes: offset, same };
    };
    const got = await Promise.all(Array.from({ length: 100 }, client));
    clearInterval(watch);
    const secs = (performance.now() - started) / 1000;
    console.log(
      `100 cold clients of ${mib(blob.length)} MiB: all done in ${secs.toFixed(1)} s (${mib((100 * blob.length) / secs)} MiB/s to clients); ` +
        `first byte after ${Math.round(firstByte - started)} ms, fill committed after ${Math.round(fillEnded - started)} ms; registry GETs of the blob: ${reached(registry, digest).length}`,
    );
    expect(got.every((g) => g.bytes === blob.length && g.same)).toBe(true);
    expect(reached(registry, digest)).toEqual(['GET 200']);
    expect(firstByte).toBeLessThan(fillEnded);
    const lines = (): string[] =>
      px
        .output()
        .split('\n')
        .filter((l) => l.includes('"msg":"request"') && l.includes('"endpoint":"blob"'));
    await waitFor('every request logged (the log is written in batches)', async () => lines().length >= 100, 5_000);
    const caches = lines().map((l) => (JSON.parse(l) as { cache?: string }).cache);
    expect(caches.filter((c) => c === 'miss')).toHaveLength(1);
    expect(caches.filter((c) => c === 'fill' || c === 'hit')).toHaveLength(99);
  }, 240_000);

  it('a client that leaves mid-fill does not stop it; a slow client does not slow another', async () => {
    const blob = randomBytes(64 * MiB);
    const digest = await pushBlob(registry.url, 'cold/two', blob);
    const { px, cache } = await cachedProxy(registry.url);
    const leaver = await request(`${px.url}/v2/cold/two/blobs/${digest}`);
    for await (const _ of leaver.body) break; // one chunk, then gone
    const slow = await request(`${px.url}/v2/cold/two/blobs/${digest}`);
    slow.body.pause(); // reads nothing for now
    const t = performance.now();
    const fast = await http(`${px.url}/v2/cold/two/blobs/${digest}`);
    const fastMs = Math.round(performance.now() - t);
    expect(sha256(fast.body)).toBe(digest);
    await cache.fillOf(digest)?.done;
    expect((await cache.store.lookup(digest))?.size).toBe(blob.length);
    console.log(`fill went on after its first client left; a fast client got ${mib(blob.length)} MiB in ${fastMs} ms while a slow one read nothing`);
    const slowBody = Buffer.concat(await slow.body.toArray());
    expect(sha256(slowBody)).toBe(digest);
    expect(reached(registry, digest)).toEqual(['GET 200']);
  });

  it('skopeo pulls through the cache; the second pull is served from the store', async () => {
    const layout = writeLayout([makeImage('amd64', [300_000, 200_000])], 'v1');
    dirs.push(layout.dir);
    expect((await skopeo(['copy', '--dest-tls-verify=false', layout.ref, `docker://127.0.0.1:${registry.port}/pulled/app:v1`])).code).toBe(0);
    const { px } = await cachedProxy(registry.url);
    for (let i = 0; i < 2; i++) {
      const out = tempDir();
      const copy = await skopeo(['copy', '--src-tls-verify=false', `docker://${px.host}/pulled/app:v1`, `oci:${out}:v1`]);
      expect(copy.code, copy.stderr).toBe(0);
    }
    const blobs = results(px, 'blob').filter((r) => r.startsWith('GET'));
    expect(blobs.slice(0, 3).every((r) => r === 'GET miss')).toBe(true);
    expect(blobs.slice(3).every((r) => r === 'GET hit')).toBe(true);
    // /connectors shows what the connector keeps in the store: 3 blobs and the manifest.
    const listing = (await http(`${px.url}/connectors`)).json() as { items: { status: { cache?: { objects: number; bytes: number } } }[] };
    expect(listing.items[0]!.status.cache?.objects).toBe(4);
    expect(listing.items[0]!.status.cache?.bytes).toBeGreaterThan(500_000);
  });
});

describe('failures during a fill', () => {
  it('an upstream killed mid-fill fails the waiting clients visibly and commits nothing; the next request fills afresh', async () => {
    const dir = tempDir();
    let victim = await startRegistry({ dir, accessLog: true });
    const blob = randomBytes(128 * MiB);
    const digest = await pushBlob(victim.url, 'kill/me', blob);
    const { px, cache } = await cachedProxy(victim.url);
    const readers = [0, 1, 2].map(async () => {
      const res = await request(`${px.url}/v2/kill/me/blobs/${digest}`, { bodyTimeout: 10_000 });
      let n = 0;
      try {
        for await (const c of res.body) {
          n += (c as Buffer).length;
          if (n >= 8 * MiB && victim.process.exitCode === null && !victim.process.killed) victim.process.kill('SIGKILL');
        }
        return { n, failed: false };
      } catch (err) {
        return { n, failed: true, code: (err as { code?: string }).code };
      }
    });
    const got = await Promise.all(readers);
    console.log(`registry killed mid-fill: clients got ${got.map((g) => mib(g.n)).join(', ')} MiB of ${mib(blob.length)}, each failed: ${got.map((g) => g.failed).join(', ')}`);
    expect(got.every((g) => g.failed && g.n < blob.length && g.code !== 'UND_ERR_BODY_TIMEOUT')).toBe(true);
    expect(await cache.store.lookup(digest)).toBeUndefined();
    expect(readdirSync(join(cache.store.dir, 'tmp'))).toEqual([]);
    victim = await startRegistry({ dir, port: victim.port, accessLog: true });
    stops.push(() => victim.stop());
    const again = await http(`${px.url}/v2/kill/me/blobs/${digest}`);
    expect(sha256(again.body)).toBe(digest); // its last byte came only once the fill was committed
    expect((await cache.store.lookup(digest))?.size).toBe(blob.length);
  });

  it('a corrupted upstream body is never committed, and its clients fail', async () => {
    const good = randomBytes(4 * MiB);
    const digest = sha256(good);
    const bad = Buffer.from(good).fill(0, 1000, 2000);
    const up = await startScriptedUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bad.length) }).end(bad);
    });
    stops.push(() => up.stop());
    const { px, cache } = await cachedProxy(up.url);
    const res = await request(`${px.url}/v2/a/blobs/${digest}`);
    await expect(res.body.arrayBuffer()).rejects.toThrow();
    await waitFor('the fill to end', async () => cache.fillOf(digest) === undefined, 5_000);
    expect(await cache.store.lookup(digest)).toBeUndefined();
    const metrics = await (await fetch(`${px.url}/metrics`)).text();
    expect(metrics).toMatch(/ocp_cache_verification_failures_total\{connector="default\/upstream"\} 1/);
  });
});

describe('Range and HEAD', () => {
  it('a hit answers ranges from the file (206, 416); a miss forwards the range uncached; HEAD of a stored blob asks nothing upstream', async () => {
    const blob = randomBytes(2 * MiB);
    const digest = await pushBlob(registry.url, 'range/app', blob);
    const { px, cache } = await cachedProxy(registry.url);
    const url = `${px.url}/v2/range/app/blobs/${digest}`;
    const miss = await http(url, { headers: { range: 'bytes=100-199' } });
    expect([miss.status, miss.headers['content-range'], miss.body.equals(blob.subarray(100, 200))]).toEqual([206, `bytes 100-199/${blob.length}`, true]);
    expect(await cache.store.lookup(digest)).toBeUndefined(); // a range on a miss is not a fill
    expect(sha256((await http(url)).body)).toBe(digest);
    const before = registry.requests.length;
    for (const [range, status, part] of [
      ['bytes=0-9', 206, blob.subarray(0, 10)],
      ['bytes=-5', 206, blob.subarray(blob.length - 5)],
      [`bytes=${blob.length - 3}-`, 206, blob.subarray(blob.length - 3)],
    ] as const) {
      const r = await http(url, { headers: { range } });
      expect([range, r.status, r.body.equals(part)]).toEqual([range, status, true]);
    }
    const outside = await http(url, { headers: { range: `bytes=${blob.length}-` } });
    expect([outside.status, outside.headers['content-range']]).toEqual([416, `bytes */${blob.length}`]);
    const head = await http(url, { method: 'HEAD' });
    expect([head.status, head.headers['content-length'], head.headers['docker-content-digest']]).toEqual([200, String(blob.length), digest]);
    expect(registry.requests.slice(before)).toEqual([]);
  });
});

describe('authorization stays exact', () => {
  it('a blob cached through repository A is not served for repository B until the upstream says B holds it', async () => {
    const blob = randomBytes(1 * MiB);
    const digest = await pushBlob(registry.url, 'auth/a', blob);
    const { px } = await cachedProxy(registry.url);
    expect((await http(`${px.url}/v2/auth/a/blobs/${digest}`)).status).toBe(200);
    const before = registry.requests.length;
    const other = await http(`${px.url}/v2/auth/b/blobs/${digest}`);
    expect(other.status).toBe(404); // the registry's own answer: B does not hold it
    expect(registry.requests.slice(before).map((l) => l.split(' ')[0])).toEqual(['HEAD', 'GET']);
    await pushBlob(registry.url, 'auth/b', blob); // now it does
    const mounted = await http(`${px.url}/v2/auth/b/blobs/${digest}`);
    expect(sha256(mounted.body)).toBe(digest);
    expect(results(px, 'blob').at(-1)).toBe('GET hit'); // confirmed by a HEAD, then served from the store
  });

  it("a connector whose credentials may not read B gets the upstream's refusal, not the cached bytes", async () => {
    const ts: TokenServer = await startTokenServer({
      users: {
        all: { password: 'all-Pa55word', rights: () => ['pull', 'push'] },
        aonly: { password: 'aonly-Pa55word', rights: (name) => (name === 'priv/a' ? ['pull'] : []) },
      },
    });
    stops.push(() => ts.stop());
    const secured = await startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401 });
    stops.push(() => secured.stop());
    const cache = await PullThroughCache.open({ dir: tempDir(), maxBytes: 1024 * MiB });
    const px = await startProxy(
      [
        connectorFor(secured.url, { name: 'all', credentials: { username: 'all', password: 'all-Pa55word' } }),
        connectorFor(secured.url, { name: 'aonly', credentials: { username: 'aonly', password: 'aonly-Pa55word' } }),
      ],
      { cache },
    );
    stops.push(() => px.stop());
    const blob = randomBytes(256 * 1024);
    const P = (c: string): string => `${px.url}/v2/namespaces/default/connectors/${c}`;
    const start = await http(`${P('all')}/priv/b/blobs/uploads/`, { method: 'POST' });
    const put = await http(`${start.headers['location']}&digest=${sha256(blob)}`, { method: 'PUT', body: blob });
    expect(put.status).toBe(201);
    expect((await http(`${P('all')}/priv/b/blobs/${sha256(blob)}`)).status).toBe(200); // now in the store
    const refused = await http(`${P('aonly')}/priv/b/blobs/${sha256(blob)}`);
    expect([401, 403]).toContain(refused.status);
    expect(refused.body.toString()).not.toContain(blob.subarray(0, 16).toString('latin1'));
  });
});

describe('tags', () => {
  it('a tag is revalidated with HEAD (never a GET of the manifest again), served stale with a Warning while the registry is down, and fresh once it is back', async () => {
    const dir = tempDir();
    let r = await startRegistry({ dir, accessLog: true });
    const image = makeImage('amd64', [1000]);
    await pushImage(r.url, 'tag/app', 'v1', image);
    const cache = await PullThroughCache.open({ dir: tempDir(), maxBytes: 1024 * MiB });
    const px = await startProxy([connectorFor(r.url, { upstreamOrigin: r.url })], { cache, upstream: { connectTimeout: 1_000 } });
    stops.push(() => px.stop());
    const get = () => http(`${px.url}/v2/tag/app/manifests/v1`, { headers: { accept: MT.manifest } });
    const pushed = r.requests.length;
    for (let i = 0; i < 3; i++) expect((await get()).headers['docker-content-digest']).toBe(image.manifestDigest);
    expect(
      r.requests
        .slice(pushed)
        .filter((l) => l.includes('/manifests/'))
        .map((l) => `${l.split(' ')[0]} ${l.split(' ')[2]}`),
    ).toEqual(['HEAD 200', 'GET 200', 'HEAD 200', 'HEAD 200']);
    await r.stop();
    const stale = await get();
    expect([stale.status, stale.headers['warning'], sha256(stale.body)]).toEqual([200, '110 - "Response is stale"', image.manifestDigest]);
    expect(results(px, 'manifest').at(-1)).toBe('GET stale');
    const metrics = await (await fetch(`${px.url}/metrics`)).text();
    expect(metrics).toMatch(/ocp_cache_requests_total\{connector="default\/upstream",endpoint="manifest",result="stale"\} 1/);
    r = await startRegistry({ dir, port: r.port, accessLog: true });
    stops.push(() => r.stop());
    const fresh = await get();
    expect([fresh.status, fresh.headers['warning']]).toEqual([200, undefined]);
    expect(reached(r, '/manifests/')).toEqual(['HEAD 200']);
  });

  it("within the connector's cacheRevalidateSeconds a tag is served without asking the upstream", async () => {
    const image = makeImage('arm64', [500]);
    await pushImage(registry.url, 'tag/quiet', 'v1', image);
    const { px } = await cachedProxy(registry.url, {}, connectorFor(registry.url, { params: { cacheRevalidateSeconds: '60' } }));
    const get = () => http(`${px.url}/v2/tag/quiet/manifests/v1`, { headers: { accept: MT.manifest } });
    await get();
    const before = registry.requests.length;
    for (let i = 0; i < 3; i++) expect((await get()).headers['docker-content-digest']).toBe(image.manifestDigest);
    expect(registry.requests.slice(before)).toEqual([]);
  });
});

describe('eviction and restart', () => {
  it('under a small bound, objects being read are kept and the bound holds while readers are active', async () => {
    const blobs = [0, 1, 2, 3].map(() => randomBytes(16 * MiB));
    const digests = await Promise.all(blobs.map((b, i) => pushBlob(registry.url, `evict/r${i}`, b)));
    const { px, cache } = await cachedProxy(registry.url, { maxBytes: 40 * MiB });
    let worst = 0;
    const sample = setInterval(() => (worst = Math.max(worst, cache.store.size)), 5);
    const reading = await request(`${px.url}/v2/evict/r0/blobs/${digests[0]}`);
    reading.body.pause(); // holds blob 0 while the others come in
    for (let i = 1; i < 4; i++) expect(sha256((await http(`${px.url}/v2/evict/r${i}/blobs/${digests[i]}`)).body)).toBe(digests[i]);
    clearInterval(sample);
    expect(await cache.store.lookup(digests[0]!)).toBeDefined(); // being read: kept
    expect(sha256(Buffer.concat(await reading.body.toArray()))).toBe(digests[0]);
    console.log(`eviction: store ${mib(cache.store.size)} MiB (worst ${mib(worst)} MiB) under a ${40} MiB bound, ${cache.store.objects} objects kept`);
    expect(worst).toBeLessThanOrEqual(40 * MiB);
    const metrics = await (await fetch(`${px.url}/metrics`)).text();
    expect(Number(/^ocp_cache_evictions_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
  });

  it('a restart finds the warm store (index rebuilt, temporary files of the crashed process gone)', async () => {
    const dir = tempDir();
    const blob = randomBytes(1 * MiB);
    const digest = await pushBlob(registry.url, 'warm/app', blob);
    const first = await PullThroughCache.open({ dir, maxBytes: 1024 * MiB });
    const px = await startProxy([connectorFor(registry.url)], { cache: first });
    expect((await http(`${px.url}/v2/warm/app/blobs/${digest}`)).status).toBe(200);
    await px.stop();
    writeFileSync(join(dir, 'tmp', 'half-a-blob'), randomBytes(1000));
    const second = await PullThroughCache.open({ dir, maxBytes: 1024 * MiB });
    expect([second.store.objects, second.store.size]).toEqual([1, blob.length]);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    const px2 = await startProxy([connectorFor(registry.url)], { cache: second });
    stops.push(() => px2.stop());
    const before = registry.requests.filter((l) => l.includes(digest) && l.startsWith('GET')).length;
    expect(sha256((await http(`${px2.url}/v2/warm/app/blobs/${digest}`)).body)).toBe(digest);
    expect(registry.requests.filter((l) => l.includes(digest) && l.startsWith('GET')).length).toBe(before); // a HEAD confirmed it, no GET
  });
});
