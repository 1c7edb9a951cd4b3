/**
 * One client cannot stall a connector for the others, against the real registry with the proxy
 * as its own process: a storm of stalled downloads and uploads (more than the connector has
 * upstream connections) while victims are served; request bodies that stop arriving are cut;
 * transfers that keep moving, however slowly, are not; memory stays bounded under concurrent
 * manifest PUTs and large tag lists.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { fdCount, rawExchange, sleep, tcpSockets } from '../helpers/fault-tools.ts';
import { http } from '../helpers/http.ts';
import { makeImage, pushBlob, pushImage, sha256 } from '../helpers/oci.ts';
import { waitFor } from '../helpers/ports.ts';
import { type ProxyProcess, spawnProxy } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';

const MiB = 1024 * 1024;
const IDLE_MS = 4_000;
const QUEUE_MS = 1_000;
const mib = (n: number): string => (n / MiB).toFixed(1);
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let registry: Registry;
let proxy: ProxyProcess;
let big: { digest: string; size: number };
let mid: { digest: string; size: number; bytes: Buffer };
const sockets: Socket[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  const blob = randomBytes(64 * MiB);
  big = { digest: await pushBlob(registry.url, 'storm/app', blob), size: blob.length };
  const bytes = randomBytes(16 * MiB);
  mid = { digest: await pushBlob(registry.url, 'storm/app', bytes), size: bytes.length, bytes };
  await pushImage(registry.url, 'storm/app', 'v1', makeImage('amd64', [1000]));
  proxy = await spawnProxy(['--upstream', registry.url, '--client-idle-timeout', String(IDLE_MS), '--queue-timeout', String(QUEUE_MS)]);
}, 120_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await proxy?.stop();
  await registry?.stop();
});

const port = (): number => Number(proxy.host.split(':')[1]);

interface Stalled {
  socket: Socket;
  /** What came back, when the client reads. */
  received: () => string;
}

/**
 * A raw client that sends `head` (and `body`) and then sends nothing more; it reads nothing
 * either, unless `reads` (then it collects what comes back).
 */
function stalledClient(head: string, body?: Buffer, reads = false, to = port()): Promise<Stalled> {
  return new Promise((resolve) => {
    let received = '';
    const socket = connect(to, '127.0.0.1', () => {
      socket.write(head);
      if (body) socket.write(body);
      if (reads) socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
      else socket.pause();
      resolve({ socket, received: () => received });
    });
    socket.on('error', () => {});
    sockets.push(socket);
  });
}

/**
 * True once the proxy closed the connection. A client that reads nothing never sees the FIN in
 * Node, so the kernel's view is asked: the connection is gone (reset) or waits for our close.
 */
function closed(s: Stalled): boolean {
  if (s.socket.destroyed) return true;
  const local = s.socket.localPort;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && parseInt(f[1]!.split(':')[1]!, 16) === local) return f[3] === '08'; // CLOSE_WAIT
    }
  }
  return true;
}

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t = performance.now();
  const value = await f();
  return { value, ms: Math.round(performance.now() - t) };
}

async function uploadLocation(): Promise<string> {
  const start = await http(`${proxy.url}/v2/storm/app/blobs/uploads/`, { method: 'POST' });
  expect(start.status).toBe(202);
  const loc = new URL(start.headers['location'] as string, proxy.url);
  return loc.pathname + loc.search;
}

describe('a storm of stalled clients', () => {
  it('160 stalled downloads and uploads (more than the 128 blob connections): a manifest GET is answered at once, a blob GET gets 503 with Retry-After, the stalled are cut, descriptors return to baseline', async () => {
    // Warm up: the challenge ping and one connection of each pool.
    expect((await http(`${proxy.url}/v2/storm/app/manifests/v1`, { headers: { accept: MANIFEST } })).status).toBe(200);
    // Upload sessions opened up front: their keep-alive connections are part of the baseline.
    const locations = await Promise.all(Array.from({ length: 60 }, () => uploadLocation()));
    await sleep(200);
    const pid = proxy.child.pid!;
    const baseline = { fds: fdCount(pid), tcp: tcpSockets(pid).length };

    const downloads = await Promise.all(Array.from({ length: 100 }, () => stalledClient(`GET /v2/storm/app/blobs/${big.digest} HTTP/1.1\r\nHost: ${proxy.host}\r\n\r\n`)));
    const uploads = await Promise.all(
      locations.map((l) =>
        stalledClient(`PATCH ${l} HTTP/1.1\r\nHost: ${proxy.host}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${8 * MiB}\r\n\r\n`, Buffer.alloc(64 * 1024, 7)),
      ),
    );
    // Every stalled request has reached the proxy and holds a blob slot or waits for one.
    const slots = async (): Promise<Record<string, number>> => {
      const text = await (await fetch(`${proxy.url}/metrics`)).text();
      const out: Record<string, number> = {};
      for (const m of text.matchAll(/^ocp_upstream_slots\{connector="default\/upstream",traffic="bulk",state="(\w+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
      return out;
    };
    await waitFor('the blob slots all taken', async () => (await slots())['in_use'] === 128, 10_000);
    console.log(`blob slots during the storm: ${JSON.stringify(await slots())}`);

    const manifest = await timed(() => http(`${proxy.url}/v2/storm/app/manifests/v1`, { headers: { accept: MANIFEST } }));
    const tags = await timed(() => http(`${proxy.url}/v2/storm/app/tags/list`));
    const blob = await timed(() => http(`${proxy.url}/v2/storm/app/blobs/${mid.digest}`));
    const direct = await timed(() => http(`${registry.url}/v2/storm/app/manifests/v1`, { headers: { accept: MANIFEST } }));
    console.log(
      `storm of ${downloads.length + uploads.length} stalled clients: manifest GET ${manifest.value.status} in ${manifest.ms} ms (direct ${direct.ms} ms), ` +
        `tag list ${tags.value.status} in ${tags.ms} ms, blob GET ${blob.value.status} in ${blob.ms} ms (Retry-After ${blob.value.headers['retry-after']})`,
    );
    expect(manifest.value.status).toBe(200);
    expect(tags.value.status).toBe(200);
    // Small requests have slots of their own: they never wait the way a blob request does.
    expect(Math.max(manifest.ms, tags.ms)).toBeLessThan(blob.ms);
    // A blob request finds every blob connection held: a clear answer within the wait bound, never silence.
    expect(blob.value.status).toBe(503);
    expect(blob.value.headers['retry-after']).toBe('2');
    expect((blob.value.json() as { errors: { code: string; message: string }[] }).errors[0]).toMatchObject({ code: 'UNAVAILABLE' });
    expect(blob.ms).toBeGreaterThanOrEqual(QUEUE_MS - 50);

    // The stalled clients holding slots are cut once idle for the bound, and their upstream
    // connections released (those that waited got their 503 and hold nothing).
    const cut = await timed(() => waitFor('every blob slot free again', async () => (await slots())['in_use'] === 0, 15_000));
    const cutClients = [...downloads, ...uploads].filter(closed).length;
    console.log(`every blob slot free ${cut.ms} ms after the victims were answered (client idle timeout ${IDLE_MS} ms); ${cutClients} stalled connections closed by the proxy`);
    expect(cutClients).toBeGreaterThanOrEqual(128);
    const after = await http(`${proxy.url}/v2/storm/app/blobs/${mid.digest}`);
    expect(after.status).toBe(200);
    expect(sha256(after.body)).toBe(mid.digest);
    for (const c of [...downloads, ...uploads]) c.socket.destroy();
    await waitFor('descriptors and sockets back to baseline', async () => fdCount(pid) <= baseline.fds + 4 && tcpSockets(pid).length <= baseline.tcp + 4, 15_000);
    console.log(`proxy descriptors ${baseline.fds} before, ${fdCount(pid)} after; TCP sockets ${baseline.tcp} before, ${tcpSockets(pid).length} after`);
    const log = proxy.output();
    expect(log).toContain(`client read nothing for ${IDLE_MS} ms: connection cut`);
    expect(log).toContain(`request body stalled: no byte for ${IDLE_MS} ms`);
  });
});

describe('request bodies that stop arriving', () => {
  it('a manifest PUT whose body stalls is answered 408 and closed; so is a body sent to a management endpoint', async () => {
    const a = await rawExchange(port(), `PUT /v2/storm/app/manifests/v9 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"schema`, {
      timeoutMs: IDLE_MS * 4,
    });
    expect(a?.status).toBe(408);
    expect(a?.body.toString()).toContain('request body stalled');
    const s = await stalledClient(`POST /connectors HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc`);
    await waitFor('the management request cut', async () => closed(s), IDLE_MS * 4);
  });
});

describe('transfers that keep moving are never cut', () => {
  it('a reader slower than the idle bound per blob, but steady, gets the whole blob', async () => {
    const res = await request(`${proxy.url}/v2/storm/app/blobs/${mid.digest}`);
    const hash = createHash('sha256');
    const started = performance.now();
    const rate = 3 * MiB; // bytes per second: 16 MiB take longer than the idle bound
    let got = 0;
    for await (const chunk of res.body) {
      hash.update(chunk as Buffer);
      got += (chunk as Buffer).length;
      const ahead = (got / rate) * 1000 - (performance.now() - started);
      if (ahead > 0) await sleep(ahead);
    }
    const secs = (performance.now() - started) / 1000;
    console.log(`slow reader: ${mib(mid.size)} MiB in ${secs.toFixed(1)} s (client idle timeout ${IDLE_MS / 1000} s)`);
    expect(secs).toBeGreaterThan(IDLE_MS / 1000);
    expect('sha256:' + hash.digest('hex')).toBe(mid.digest);
  });

  it('an upload that trickles (a chunk every 0.6 idle bound, longer than the bound in all) completes', async () => {
    const location = await uploadLocation();
    const chunks = 3;
    async function* trickle(): AsyncGenerator<Buffer> {
      for (let i = 0; i < chunks; i++) {
        yield Buffer.alloc(32 * 1024, i);
        await sleep(IDLE_MS * 0.6);
      }
    }
    const res = await request(`${proxy.url}${location}`, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: Readable.from(trickle()) });
    await res.body.dump();
    expect(res.statusCode).toBe(202);
    expect(res.headers['range']).toBe(`0-${chunks * 32 * 1024 - 1}`);
  });
});

describe('memory stays bounded', () => {
  it('60 concurrent manifest PUTs held just under the size bound: past the shared budget they are 503, and RSS grows by the budget at most', async () => {
    const fresh = await spawnProxy(['--upstream', registry.url]);
    try {
      const to = Number(fresh.host.split(':')[1]);
      await http(`${fresh.url}/v2/`);
      await fresh.resetPeak();
      const before = await fresh.peakRss();
      const size = 4 * MiB - 1024;
      const head = (i: number): string => `PUT /v2/storm/app/manifests/held-${i} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`;
      const held = await Promise.all(Array.from({ length: 60 }, (_, i) => stalledClient(head(i), Buffer.alloc(size - 1, 32), true, to)));
      await waitFor('every PUT read or refused', async () => held.filter((h) => h.received().startsWith('HTTP/1.1 503')).length >= 44, 10_000).catch(() => undefined);
      const peak = await fresh.peakRss();
      const refused = held.filter((h) => h.received().startsWith('HTTP/1.1 503'));
      console.log(
        `60 held manifest PUTs of ${mib(size)} MiB: ${refused.length} refused 503; proxy peak RSS ${mib(before)} -> ${mib(peak)} MiB (+${mib(peak - before)}; budget 64 MiB)`,
      );
      // 16 fit the 64 MiB budget; the others are refused at once, not held.
      expect(refused.length).toBe(60 - Math.floor((64 * MiB) / size));
      expect(refused[0]!.received()).toContain('retry-after: 1');
      expect(peak - before).toBeLessThan(100 * MiB);
      for (const h of held) h.socket.destroy();
    } finally {
      await fresh.stop();
    }
  });

  it('20 concurrent 7.5 MiB tag lists in path mode: streamed, RSS bounded, /healthz answers throughout', async () => {
    const tags = Array.from({ length: 560_000 }, (_, i) => `tag-${String(i).padStart(7, '0')}`);
    const list = Buffer.from(JSON.stringify({ name: 'big/list', tags }));
    const upstream: Server = createServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(list.length) }).end(list);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const listProxy = await spawnProxy(['--upstream', `http://127.0.0.1:${(upstream.address() as { port: number }).port}`]);
    try {
      await http(`${listProxy.url}/v2/`);
      // The proxy's own event-loop delay over the load (prom-client's histogram restarts at each scrape).
      const lagMax = async (): Promise<number> => Number(/^ocp_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await (await fetch(`${listProxy.url}/metrics`)).text())?.[1]);
      await lagMax();
      await listProxy.resetPeak();
      const before = await listProxy.peakRss();
      let worst = 0;
      let done = false;
      const probe = (async () => {
        while (!done) {
          const { ms } = await timed(() => http(`${listProxy.url}/healthz`));
          worst = Math.max(worst, ms);
          await sleep(20);
        }
      })();
      const lists = await Promise.all(Array.from({ length: 20 }, () => http(`${listProxy.url}/v2/namespaces/default/connectors/upstream/big/list/tags/list`)));
      done = true;
      await probe;
      const lag = Math.round((await lagMax()) * 1000);
      const peak = await listProxy.peakRss();
      console.log(
        `20 tag lists of ${mib(list.length)} MiB: proxy peak RSS ${mib(before)} -> ${mib(peak)} MiB (+${mib(peak - before)}); ` +
          `longest event-loop delay of the proxy ${lag} ms; slowest /healthz seen by this (busy) test process ${worst} ms`,
      );
      for (const l of lists) {
        expect(l.status).toBe(200);
        expect(l.body.length).toBe(list.length + 'namespaces/default/connectors/upstream/'.length);
      }
      expect((lists[0]!.json() as { name: string }).name).toBe('namespaces/default/connectors/upstream/big/list');
      expect(peak - before).toBeLessThan(100 * MiB);
      // Nothing parses a list on the event loop: it never stops for long (it did for 2-5 s).
      expect(lag).toBeLessThan(500);
    } finally {
      await listProxy.stop();
      upstream.closeAllConnections();
      upstream.close();
    }
  });
});
