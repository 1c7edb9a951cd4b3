/**
 * Fault injection: upstreams that die, hang or trickle; a client that reads slowly; a storm of
 * clients that abort; uploads interrupted and resumed, also across a proxy restart; a token
 * server that is down, slow or answers garbage; SIGTERM while transfers run. After each fault
 * the proxy still serves a second, healthy connector. Every answer and log line is finally
 * scanned for the connector's password and the tokens the token server issued.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { configYaml } from '../helpers/config-files.ts';
import {
  Exposure,
  fdCount,
  kernelQueued,
  ociCodeOf,
  rawExchange,
  type Relay,
  sleep,
  startRelay,
  startSilentServer,
  startTrickleServer,
  tcpSockets,
} from '../helpers/fault-tools.ts';
import { http, type Answer } from '../helpers/http.ts';
import { waitFor } from '../helpers/ports.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { inFlight, type ProxyProcess, type RunningProxy, spawnProxy, startProxy } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';
import { startScriptedUpstream, type ScriptedUpstream } from '../helpers/scripted-upstream.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

const MiB = 1024 * 1024;
const USER = { username: 'faults-robot', password: 'faults-upstream-Pa55word' };
const HEALTHY_BODY = Buffer.from('healthy-bytes');
const HEALTHY_DIGEST = 'sha256:' + createHash('sha256').update(HEALTHY_BODY).digest('hex');
const ANY_DIGEST = 'sha256:' + 'a'.repeat(64);
const mib = (n: number): string => (n / MiB).toFixed(1);
const sha256 = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

const exposure = new Exposure();
const tmp = mkdtempSync(join(tmpdir(), 'ocp-faults-'));
const spawned: ProxyProcess[] = [];
const stops: (() => Promise<unknown>)[] = [];
let faultsSurvived = 0;

/** A healthy upstream every proxy here also serves: it answers blob GETs with HEALTHY_BODY. */
let healthy: ScriptedUpstream;

async function recorded(url: string, init: Parameters<typeof http>[1] = {}): Promise<Answer> {
  const a = await http(url, init);
  exposure.addAnswer(a);
  return a;
}

/** The healthy connector still answers through `proxyUrl`: the fault did not take the proxy down. */
async function expectHealthy(proxyUrl: string): Promise<void> {
  const a = await recorded(`${proxyUrl}/v2/namespaces/default/connectors/healthy/ok/blobs/${HEALTHY_DIGEST}`);
  expect(a.status).toBe(200);
  expect(a.body.equals(HEALTHY_BODY)).toBe(true);
  faultsSurvived++;
}

/** Starts the CLI with a config file holding `healthy` and the given connectors (path mode only). */
async function spawnWith(connectors: { name: string; address: string }[], flags: string[] = []): Promise<ProxyProcess> {
  const file = join(tmp, `connectors-${spawned.length}.yaml`);
  writeFileSync(file, configYaml([{ namespace: 'default', name: 'healthy', address: healthy.url }, ...connectors.map((c) => ({ namespace: 'default', ...c }))]));
  const px = await spawnProxy(['--config', file, '--log-level', 'info', '--health-interval', '0', ...flags]);
  spawned.push(px);
  exposure.watch(px.output);
  return px;
}

const portOf = (url: string): number => Number(new URL(url).port);

/** The request lines a proxy process has logged so far. */
const requestLines = (px: ProxyProcess): string[] =>
  px
    .output()
    .split('\n')
    .filter((l) => l.includes('"msg":"request"'));

/** Resolves once the proxy process has logged `n` request lines: the requests before are over inside the proxy. */
async function requestsLogged(px: ProxyProcess, n: number): Promise<void> {
  await waitFor(`${n} request line(s) in the proxy output`, async () => requestLines(px).length >= n, 5_000);
}

/** A body of `size` bytes made of one repeated random MiB, and its digest. */
function bigBlob(size: number): { chunk: Buffer; size: number; digest: string; stream: () => Readable } {
  const chunk = randomBytes(MiB);
  const h = createHash('sha256');
  for (let n = 0; n < size; n += MiB) h.update(chunk);
  return {
    chunk,
    size,
    digest: 'sha256:' + h.digest('hex'),
    stream: () =>
      Readable.from(
        (function* () {
          for (let n = 0; n < size; n += MiB) yield chunk;
        })(),
      ),
  };
}

/** Pushes a blob straight into a registry: POST, then one PUT with the body (distribution 2.8 ignores POST ?digest=). */
async function pushDirect(registryUrl: string, repo: string, blob: { digest: string; size: number; stream: () => Readable }): Promise<void> {
  const start = await request(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await start.body.dump();
  expect(start.statusCode).toBe(202);
  const location = new URL(start.headers['location'] as string, registryUrl);
  location.searchParams.set('digest', blob.digest);
  const put = await request(location, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body: blob.stream(),
  });
  await put.body.dump();
  expect(put.statusCode).toBe(201);
}

/** Stops a registry unless it is already dead (Registry.stop waits for an exit that a killed process has had already). */
async function stopRegistry(r: Registry): Promise<void> {
  if (r.process.exitCode === null && r.process.signalCode === null) await r.stop();
}

/** Reads a whole body and its digest; rejects when the transfer fails. */
async function digestOf(body: AsyncIterable<unknown>): Promise<{ bytes: number; digest: string }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const piece of body) {
    h.update(piece as Buffer);
    bytes += (piece as Buffer).length;
  }
  return { bytes, digest: 'sha256:' + h.digest('hex') };
}

beforeAll(async () => {
  healthy = await startScriptedUpstream((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(HEALTHY_BODY.length), 'docker-content-digest': HEALTHY_DIGEST });
    res.end(req.method === 'HEAD' ? undefined : HEALTHY_BODY);
  });
});

afterAll(async () => {
  for (const px of spawned) if (px.child.exitCode === null && px.child.signalCode === null) await px.stop();
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await healthy?.stop();
  rmSync(tmp, { recursive: true, force: true });
  console.log(`faults: ${faultsSurvived} healthy-connector checks passed after injected faults`);
});

// ---------------------------------------------------------------------------------------------

describe('an upstream registry killed in the middle of a blob GET', () => {
  it('fails the client transfer visibly, keeps serving, and recovers once the registry is back on the same port and storage', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ocp-victim-'));
    stops.push(async () => rmSync(dir, { recursive: true, force: true }));
    let victim: Registry = await startRegistry({ dir });
    stops.push(() => stopRegistry(victim));
    const px = await startProxy([connectorFor(victim.url, { name: 'victim' }), connectorFor(healthy.url, { name: 'healthy' })]);
    stops.push(() => px.stop());
    exposure.watch(() => px.logs.join('\n'));
    const blob = bigBlob(64 * MiB);
    await pushDirect(victim.url, 'big/blob', blob);
    const url = `${px.url}/v2/namespaces/default/connectors/victim/big/blob/blobs/${blob.digest}`;

    // A proxy that left the client waiting would show as a body timeout, not as a broken transfer.
    const res = await request(url, { bodyTimeout: 5_000 });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(blob.size));
    let received = 0;
    let killed = false;
    let failure: unknown;
    try {
      for await (const piece of res.body) {
        received += (piece as Buffer).length;
        if (!killed && received >= 4 * MiB) {
          killed = true;
          const exited = new Promise((r) => victim.process.once('exit', r));
          victim.process.kill('SIGKILL');
          await exited;
        }
      }
    } catch (err) {
      failure = err;
    }
    console.log(`registry SIGKILLed after the client had read ${mib(received)} of ${mib(blob.size)} MiB; client error: ${(failure as Error | undefined)?.message}`);
    expect(killed).toBe(true);
    // Never a short body that looks complete: the read fails at once, and fewer bytes than announced arrived.
    expect(failure).toBeDefined();
    expect((failure as { code?: string }).code).not.toBe('UND_ERR_BODY_TIMEOUT');
    expect(received).toBeLessThan(blob.size);
    await expectHealthy(px.url);

    // While the registry is down: a clear 502, not a hang.
    const down = await recorded(url);
    expect(down.status).toBe(502);
    expect(ociCodeOf(down)).toBe('UNAVAILABLE');
    await expectHealthy(px.url);

    // Back on the same port with the same storage: the next request succeeds, byte for byte.
    victim = await startRegistry({ port: victim.port, dir });
    const again = await request(url);
    expect(again.statusCode).toBe(200);
    const got = await digestOf(again.body);
    expect(got).toEqual({ bytes: blob.size, digest: blob.digest });
    await expectHealthy(px.url);
  });
});

describe('the log line of a transfer the upstream broke', () => {
  // The upstream body's error is recorded before the client response closes (and before the
  // abort that closing triggers), so the line says who broke the transfer.
  it('names the upstream failure, so it is not mistaken for a client that went away', async () => {
    const up = await startScriptedUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': String(MiB) });
      res.write(Buffer.alloc(100_000));
      setTimeout(() => res.destroy(), 50);
    });
    stops.push(() => up.stop());
    const px = await startProxy([connectorFor(up.url)]);
    stops.push(() => px.stop());
    exposure.watch(() => px.logs.join('\n'));
    const res = await request(`${px.url}/v2/a/blobs/${ANY_DIGEST}`, { bodyTimeout: 5_000 });
    const broken = await res.body.arrayBuffer().then(
      () => undefined,
      (err: unknown) => err as { code?: string },
    );
    expect(broken).toBeDefined();
    expect(broken!.code).not.toBe('UND_ERR_BODY_TIMEOUT'); // cut at once, not left waiting
    await waitFor('the request line', async () => px.logs.some((l) => l.includes('"msg":"request"')), 3_000);
    const line = JSON.parse(px.logs.find((l) => l.includes('"msg":"request"'))!) as { complete: boolean; err?: string };
    expect(line.complete).toBe(false);
    expect(line.err ?? '(no err field)').toContain('failed mid-body');
  });
});

describe('upstreams that never answer, or trickle their headers', () => {
  it('are 504 after the header timeout, and the proxy process returns to its baseline of sockets and descriptors', async () => {
    const silent = await startSilentServer();
    const trickle = await startTrickleServer(1_000);
    stops.push(
      () => silent.stop(),
      () => trickle.stop(),
    );
    const px = await spawnWith(
      [
        { name: 'silent', address: silent.url },
        { name: 'trickle', address: trickle.url },
      ],
      ['--headers-timeout', '1000'],
    );
    const pid = px.child.pid!;
    await expectHealthy(px.url);
    // The baseline is taken once the proxy is done with that request (its line is logged).
    await requestsLogged(px, 1);
    const upstreamSockets = (): number => tcpSockets(pid).filter((s) => s.remotePort === silent.port || s.remotePort === trickle.port).length;
    const before = { fds: fdCount(pid), upstream: upstreamSockets() };

    const port = portOf(px.url);
    const t0 = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        rawExchange(port, `GET /v2/namespaces/default/connectors/${i % 2 ? 'silent' : 'trickle'}/app/manifests/v${i} HTTP/1.1\r\nHost: x\r\n\r\n`, { timeoutMs: 10_000 }),
      ),
    );
    const elapsed = Date.now() - t0;
    for (const a of answers) {
      exposure.addAnswer(a);
      expect(a?.status).toBe(504);
      expect(ociCodeOf(a!)).toBe('UNAVAILABLE');
      expect(a!.body.toString()).toContain('did not answer in time');
    }
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(5_000);
    await expectHealthy(px.url);

    let after = { fds: 0, upstream: 0 };
    await waitFor(
      'the proxy to close every socket of the timed-out requests',
      async () => {
        after = { fds: fdCount(pid), upstream: upstreamSockets() };
        return after.fds <= before.fds && after.upstream <= before.upstream && silent.open() + trickle.open() <= before.upstream;
      },
      5_000,
    ).catch(() => undefined);
    console.log(
      `header timeouts: 16 requests → 504 in ${elapsed} ms; proxy fds ${before.fds} → ${after.fds}, upstream sockets ${before.upstream} → ${after.upstream}, open at the silent/trickling servers ${silent.open() + trickle.open()}`,
    );
    expect(after.fds).toBeLessThanOrEqual(before.fds);
    expect(after.upstream).toBeLessThanOrEqual(before.upstream);
    expect(silent.open() + trickle.open()).toBeLessThanOrEqual(before.upstream);
  });
});

describe('a client that reads slowly', () => {
  it('gets the blob with the proxy reading no further ahead than the socket buffers, and bounded memory', async () => {
    const SIZE = 80 * MiB;
    const RATE = 16 * MiB; // bytes per second the client reads: about 5 s for the blob
    const CHUNK = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    let pending = (): number => 0;
    const slow = await startScriptedUpstream((req, res) => {
      req.resume();
      pending = () => res.writableLength;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) });
      const pump = (): void => {
        while (sent < SIZE) {
          sent += CHUNK.length;
          if (!res.write(CHUNK)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    stops.push(() => slow.stop());
    const px = await spawnWith([{ name: 'slow', address: slow.url }], ['--log-level', 'warn']);
    const rssStart = await px.peakRss();
    const port = portOf(px.url);

    let bodyRead = 0;
    let maxLag = 0;
    let maxHeld = 0;
    let sentAt2s = -1;
    const t0 = Date.now();
    await new Promise<void>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let head: Buffer | undefined = Buffer.alloc(0);
      let read = 0;
      const deadline = setTimeout(() => {
        s.destroy();
        reject(new Error(`slow read did not finish: ${bodyRead} bytes`));
      }, 30_000);
      const tick = setInterval(() => {
        const now = Date.now() - t0;
        if (read < (now / 1000) * RATE) s.resume();
        // Bytes the upstream handed to its socket that the client has not read, and the part of
        // them that is not in any kernel socket queue (so in the proxy's own memory).
        const lag = sent - pending() - bodyRead;
        const held = lag - kernelQueued([port, slow.port]);
        maxLag = Math.max(maxLag, lag);
        maxHeld = Math.max(maxHeld, held);
        if (sentAt2s < 0 && now >= 2_000) sentAt2s = sent;
      }, 50);
      s.on('error', reject);
      s.on('data', (d: Buffer) => {
        read += d.length;
        if (head) {
          head = Buffer.concat([head, d]);
          const end = head.indexOf('\r\n\r\n');
          if (end >= 0) {
            expect(head.subarray(0, 12).toString()).toBe('HTTP/1.1 200');
            bodyRead = head.length - end - 4;
            head = undefined;
          }
        } else bodyRead += d.length;
        if (read >= ((Date.now() - t0) / 1000) * RATE) s.pause();
        if (bodyRead >= SIZE) {
          clearInterval(tick);
          clearTimeout(deadline);
          s.destroy();
          resolve();
        }
      });
      s.write(`GET /v2/namespaces/default/connectors/slow/big/blobs/${ANY_DIGEST} HTTP/1.1\r\nHost: x\r\n\r\n`);
    });
    const elapsed = Date.now() - t0;
    const rssPeak = await px.peakRss();
    console.log(
      `slow reader: ${mib(SIZE)} MiB at ${mib(RATE)} MiB/s in ${elapsed} ms; upstream had sent ${mib(sentAt2s)} MiB at 2 s; ` +
        `upstream ahead of the client by at most ${mib(maxLag)} MiB, of which at most ${mib(maxHeld)} MiB outside kernel socket queues; ` +
        `proxy VmHWM ${mib(rssStart)} MiB at start, ${mib(rssPeak)} MiB at the end`,
    );
    expect(bodyRead).toBe(SIZE);
    expect(elapsed).toBeGreaterThan(4_000);
    // Backpressure reaches the upstream: unthrottled it would have sent everything in well under a
    // second; at 2 s it had sent what the client read (32 MiB) plus what the sockets hold.
    expect(sentAt2s).toBeLessThan(SIZE * 0.75);
    expect(maxLag).toBeLessThan(SIZE / 2);
    // What the proxy itself holds (undici and Node stream buffers) stays small; the rest is kernel socket buffers.
    expect(maxHeld).toBeLessThan(4 * MiB);
    // The proxy never holds the blob: its peak RSS grows by less than the blob, and stays under the bound
    // streaming.test.ts uses (its start-up alone measured 140-165 MiB here).
    expect(rssPeak - rssStart).toBeLessThan(SIZE);
    expect(rssPeak).toBeLessThan(256 * MiB);
    await expectHealthy(px.url);
  }, 40_000);
});

describe('a storm of clients that abort', () => {
  it('200 clients aborting downloads and uploads leave no descriptors or upstream sockets behind', async () => {
    const BLOB = 32 * MiB;
    const CHUNK = Buffer.alloc(64 * 1024, 1);
    const storm = await startScriptedUpstream((req, res) => {
      if (req.method === 'PATCH') {
        req.resume();
        req.on('end', () => res.writeHead(202, { range: '0-0', 'content-length': '0' }).end());
        return;
      }
      const answer = (): void => {
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BLOB) });
        let sent = 0;
        const pump = (): void => {
          while (sent < BLOB && !res.destroyed) {
            sent += CHUNK.length;
            if (!res.write(CHUNK)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      };
      if (req.url!.includes('/slowhead/')) setTimeout(answer, 300);
      else answer();
    });
    stops.push(() => storm.stop());
    const px = await spawnWith([{ name: 'storm', address: storm.url }], ['--log-level', 'info']);
    const pid = px.child.pid!;
    const port = portOf(px.url);
    const prefix = '/v2/namespaces/default/connectors/storm';
    await expectHealthy(px.url);
    // The baseline is taken once the proxy is done with that request (its line is logged).
    await requestsLogged(px, 1);
    const upstreamSockets = (): number => tcpSockets(pid).filter((s) => s.remotePort === storm.port).length;
    const before = { fds: fdCount(pid), upstream: upstreamSockets() };
    const openAtUpstream = (): Promise<number> => new Promise((r) => storm.server.getConnections((_e, n) => r(n)));
    const upstreamOpenBefore = await openAtUpstream();

    /** One client that goes away in the middle of something; resolves once its socket is gone. */
    const client = (i: number): Promise<void> =>
      new Promise((resolve) => {
        const s: Socket = connect(port, '127.0.0.1');
        const done = (): void => {
          clearTimeout(bound);
          s.destroy();
          resolve();
        };
        const bound = setTimeout(done, 5_000);
        s.on('error', done);
        s.on('close', done);
        let got = 0;
        switch (i % 4) {
          case 0: // download: abort after the first 256 KiB
            s.write(`GET ${prefix}/app/blobs/${ANY_DIGEST} HTTP/1.1\r\nHost: x\r\n\r\n`);
            s.on('data', (d: Buffer) => {
              got += d.length;
              if (got >= 256 * 1024) done();
            });
            break;
          case 1: // download: abort before the upstream has answered
            s.write(`GET ${prefix}/slowhead/blobs/${ANY_DIGEST} HTTP/1.1\r\nHost: x\r\n\r\n`);
            setTimeout(done, 50);
            break;
          case 2: // upload with Content-Length: abort after 512 KiB of 8 MiB
            s.write(`PATCH ${prefix}/app/blobs/uploads/u-${i} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${8 * MiB}\r\n\r\n`);
            s.write(Buffer.alloc(512 * 1024, 2), () => setTimeout(done, 20));
            break;
          default: // chunked upload: abort in the middle of a chunk
            s.write(`PATCH ${prefix}/app/blobs/uploads/u-${i} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n`);
            s.write(`100000\r\n`);
            s.write(Buffer.alloc(300 * 1024, 3), () => setTimeout(done, 20));
        }
      });

    const t0 = Date.now();
    for (let batch = 0; batch < 8; batch++) await Promise.all(Array.from({ length: 25 }, (_, j) => client(batch * 25 + j)));
    const stormMs = Date.now() - t0;
    await expectHealthy(px.url);

    // Idle keep-alive sockets in the proxy's upstream pool may remain (the health check's, one per
    // connector): allowed up to 2 beyond the baseline, like the fds that hold them.
    const TOLERANCE = 2;
    let after = { fds: 0, upstream: 0, atUpstream: 0 };
    await waitFor(
      'the proxy to release the aborted requests',
      async () => {
        after = { fds: fdCount(pid), upstream: upstreamSockets(), atUpstream: await openAtUpstream() };
        return after.fds <= before.fds && after.upstream <= before.upstream && after.atUpstream <= upstreamOpenBefore;
      },
      10_000, // returns as soon as they are released; a loaded machine (the whole suite on 2 cores) takes longer
    ).catch(() => undefined);
    const incomplete = (): number => requestLines(px).filter((l) => l.includes('"complete":false')).length;
    await waitFor('a log line for every aborted request', async () => incomplete() >= 200, 5_000).catch(() => undefined);
    const aborted = incomplete();
    console.log(
      `abort storm: 200 clients in ${stormMs} ms (${storm.seen.length} requests reached the upstream, ${aborted} logged incomplete); ` +
        `proxy fds ${before.fds} → ${after.fds}; proxy upstream sockets ${before.upstream} → ${after.upstream}; connections open at the upstream ${upstreamOpenBefore} → ${after.atUpstream} (tolerance ${TOLERANCE})`,
    );
    expect(after.fds).toBeLessThanOrEqual(before.fds + TOLERANCE);
    expect(after.upstream).toBeLessThanOrEqual(before.upstream + TOLERANCE);
    expect(after.atUpstream).toBeLessThanOrEqual(upstreamOpenBefore + TOLERANCE);
    // Every upstream request of an aborted client was itself aborted, not left running.
    await waitFor('every upstream request to end', async () => storm.seen.every((s) => s.aborted || s.method === 'GET'), 5_000).catch(() => undefined);
    expect(storm.seen.filter((s) => s.method === 'PATCH' && !s.aborted)).toEqual([]);
    expect(aborted).toBe(200);
  }, 60_000);
});

describe('interrupted uploads', () => {
  let reg: Registry;
  let px: RunningProxy;
  let base: string;
  beforeAll(async () => {
    reg = await startRegistry();
    px = await startProxy([connectorFor(reg.url, { name: 'uploads' }), connectorFor(healthy.url, { name: 'healthy' })]);
    base = `${px.url}/v2/namespaces/default/connectors/uploads`;
    exposure.watch(() => px.logs.join('\n'));
  });
  afterAll(async () => {
    await px?.stop();
    await reg?.stop();
  });

  /** PATCHes `chunk` at `offset`; returns the next Location. */
  async function patch(location: string, chunk: Buffer, offset: number, dispatcher?: Agent): Promise<string> {
    const res = await request(location, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}`, 'content-length': String(chunk.length) },
      body: chunk,
      dispatcher,
    });
    exposure.add(JSON.stringify(res.headers));
    await res.body.dump();
    expect(res.statusCode).toBe(202);
    expect(res.headers['range']).toBe(`0-${offset + chunk.length - 1}`);
    return new URL(res.headers['location'] as string, location).toString();
  }

  async function complete(location: string, blob: Buffer, dispatcher?: Agent): Promise<void> {
    const u = new URL(location);
    u.searchParams.set('digest', sha256(blob));
    const put = await request(u, { method: 'PUT', dispatcher });
    await put.body.dump();
    expect(put.statusCode).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(sha256(blob));
  }

  async function expectBlob(url: string, blob: Buffer, dispatcher?: Agent): Promise<void> {
    const res = await request(url, { dispatcher });
    expect(res.statusCode).toBe(200);
    expect(await digestOf(res.body)).toEqual({ bytes: blob.length, digest: sha256(blob) });
  }

  /** Bytes the registry's upload session at `location` holds (distribution's filesystem layout). */
  function sessionBytes(location: string): number {
    const [, repository, id] = /\/connectors\/uploads\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(new URL(location).pathname) ?? [];
    if (!repository || !id) throw new Error(`not an upload location: ${location}`);
    const data = join(reg.dir, 'data', 'docker', 'registry', 'v2', 'repositories', repository, '_uploads', id, 'data');
    return existsSync(data) ? statSync(data).size : 0;
  }

  /**
   * Sends a PATCH's head and `sent` bytes of its body on a raw connection, then drops the
   * connection: once the proxy is forwarding the PATCH (and, when `sent` > 0, bytes of it have
   * reached the registry's session); returns once the proxy has let go of the broken request.
   */
  async function brokenPatch(location: string, declared: number, offset: number, sent: number): Promise<void> {
    const u = new URL(location);
    const s = connect(Number(u.port), u.hostname);
    await new Promise((r) => s.once('connect', r));
    s.write(
      `PATCH ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Range: ${offset}-${offset + declared - 1}\r\nContent-Length: ${declared}\r\n\r\n`,
    );
    if (sent > 0) s.write(randomBytes(sent));
    await waitFor('the proxy to be serving the PATCH', async () => (await inFlight(px, 'default/uploads')) === 1, 5_000);
    if (sent > 0) await waitFor('bytes of the PATCH to reach the registry', async () => sessionBytes(location) > offset, 5_000);
    s.destroy();
    await waitFor('the proxy to let go of the broken PATCH', async () => (await inFlight(px, 'default/uploads')) === 0, 5_000);
  }

  it('an upload whose connection breaks after a chunk resumes from the status endpoint: continue at Range, byte-identical', async () => {
    const blob = randomBytes(3 * MiB);
    const start = await request(`${base}/team/resume/blobs/uploads/`, { method: 'POST' });
    await start.body.dump();
    expect(start.statusCode).toBe(202);
    let location = new URL(start.headers['location'] as string, px.url).toString();
    expect(location.startsWith(`${base}/team/resume/blobs/uploads/`)).toBe(true);
    location = await patch(location, blob.subarray(0, MiB), 0);

    // The next chunk's connection breaks after its head: nothing of its body arrives.
    await brokenPatch(location, 2 * MiB, MiB, 0);
    await expectHealthy(px.url);

    // The client asks where the upload stands, and continues from there.
    const status = await request(location);
    await status.body.dump();
    expect(status.statusCode).toBe(204);
    const range = status.headers['range'] as string;
    expect(range).toBe(`0-${MiB - 1}`);
    const next = Number(range.split('-')[1]) + 1;
    location = new URL(status.headers['location'] as string, location).toString();
    expect(location.startsWith(`${base}/team/resume/blobs/uploads/`)).toBe(true);
    location = await patch(location, blob.subarray(next), next);
    await complete(location, blob);
    await expectBlob(`${base}/team/resume/blobs/${sha256(blob)}`, blob);
  });

  it("a chunk broken off in the middle of its body: the registry's refusal of the session comes back as its OCI error, and a new upload succeeds", async () => {
    // distribution 2.8 appends what arrived of the broken chunk to the session's file, then
    // refuses the session for good ("upload resumed at wrong offset": 404 BLOB_UPLOAD_INVALID,
    // the same without the proxy); the client has to start over. The proxy passes that answer on.
    const blob = randomBytes(2 * MiB);
    const start = await request(`${base}/team/broken/blobs/uploads/`, { method: 'POST' });
    await start.body.dump();
    let location = new URL(start.headers['location'] as string, px.url).toString();
    location = await patch(location, blob.subarray(0, MiB), 0);
    await brokenPatch(location, MiB, MiB, 256 * 1024);
    await expectHealthy(px.url);

    const status = await recorded(location);
    expect(status.status).toBe(404);
    expect(status.json()).toEqual({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'blob upload invalid' }] });

    const again = await request(`${base}/team/broken/blobs/uploads/`, { method: 'POST' });
    await again.body.dump();
    location = new URL(again.headers['location'] as string, px.url).toString();
    location = await patch(location, blob, 0);
    await complete(location, blob);
    await expectBlob(`${base}/team/broken/blobs/${sha256(blob)}`, blob);
  });

  it('a proxy killed in the middle of a chunked upload: the client continues the same upload through a new proxy process', async () => {
    const blob = randomBytes(3 * MiB);
    const first = await spawnWith([{ name: 'uploads', address: reg.url }]);
    const agent = new Agent(); // keep-alive, as real clients
    stops.push(() => agent.close());
    const prefix = '/v2/namespaces/default/connectors/uploads/team/restart';
    const start = await request(`${first.url}${prefix}/blobs/uploads/`, { method: 'POST', dispatcher: agent });
    await start.body.dump();
    let location = new URL(start.headers['location'] as string, first.url).toString();
    location = await patch(location, blob.subarray(0, MiB), 0, agent);

    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await exited;
    // The old address is gone: the client's next chunk fails visibly.
    await expect(request(location, { method: 'PATCH', body: blob.subarray(MiB), dispatcher: agent })).rejects.toThrow();

    const second = await spawnWith([{ name: 'uploads', address: reg.url }]);
    const moved = new URL(location);
    location = `${second.url}${moved.pathname}${moved.search}`; // same path, new proxy
    const status = await request(location, { dispatcher: agent });
    await status.body.dump();
    expect(status.statusCode).toBe(204);
    expect(status.headers['range']).toBe(`0-${MiB - 1}`);
    location = new URL(status.headers['location'] as string, location).toString();
    location = await patch(location, blob.subarray(MiB), MiB, agent);
    await complete(location, blob, agent);
    await expectBlob(`${second.url}${prefix}/blobs/${sha256(blob)}`, blob, agent);
    await expectHealthy(second.url);
  });
});

let tokenServer: TokenServer | undefined;

describe('a token server that is down, slow or answers garbage', () => {
  it('gives clear 502/504 UNAVAILABLE errors naming the realm, keeps using cached tokens, and recovers when it returns', async () => {
    const ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } }, slowMs: 2_000 });
    tokenServer = ts;
    stops.push(() => ts.stop());
    const relay: Relay = await startRelay(ts.port);
    stops.push(() => relay.stop());
    const realmHost = `127.0.0.1:${relay.port}`;
    const reg = await startRegistry({ extraConfig: ts.registryConfig({ realm: `${relay.url}/token` }), readyStatus: 401 });
    stops.push(() => reg.stop());
    const px = await startProxy([connectorFor(reg.url, { name: 'secure', credentials: USER }), connectorFor(healthy.url, { name: 'healthy' })], {
      upstream: { tokenTimeout: 500 },
    });
    stops.push(() => px.stop());
    exposure.watch(() => px.logs.join('\n'));
    const base = `${px.url}/v2/namespaces/default/connectors/secure`;

    // While all is well: a blob pushed and read back through the proxy; its pull token is now cached.
    const blob = randomBytes(10_000);
    const start = await recorded(`${base}/team/cached/blobs/uploads/`, { method: 'POST' });
    expect(start.status).toBe(202);
    const put = new URL(start.headers['location'] as string, px.url);
    put.searchParams.set('digest', sha256(blob));
    expect((await recorded(put.toString(), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: blob })).status).toBe(201);
    const cached = (): Promise<Answer> => recorded(`${base}/team/cached/blobs/${sha256(blob)}`);
    expect((await cached()).status).toBe(200);

    const faults: [string, () => Promise<void> | void, number, string][] = [
      ['answers 503', () => ts.setMode('down5xx'), 502, 'answered 503'],
      ['answers garbage', () => ts.setMode('garbage'), 502, 'answered with a body that is not JSON'],
      ['answers an empty token', () => ts.setMode('emptyToken'), 502, 'answered without a token'],
      ['answers after 2 s', () => ts.setMode('slow'), 504, 'did not answer in time'],
      ['is not listening', () => relay.setMode('refuse'), 502, 'refused the connection'],
      ['accepts and never answers', () => relay.setMode('blackhole'), 504, 'did not answer in time'],
      ['resets connections', () => relay.setMode('reset'), 502, 'closed the connection'],
    ];
    for (const [i, [what, inject, status, message]] of faults.entries()) {
      await inject();
      // A repository whose token is not cached: the proxy must ask the token server.
      const res = await recorded(`${base}/team/fresh-${i}/blobs/${sha256(blob)}`);
      expect([what, res.status, ociCodeOf(res)]).toEqual([what, status, 'UNAVAILABLE']);
      const msg = (res.json() as { errors: { message: string }[] }).errors[0]!.message;
      expect(msg).toContain(`connector default/secure: token server ${realmHost} ${message}`);
      // A repository whose token is cached: served without the token server.
      const asked = ts.counts.total;
      const again = await cached();
      expect([what, again.status]).toEqual([what, 200]);
      expect(ts.counts.total).toBe(asked);
      await expectHealthy(px.url);
      ts.setMode('ok');
      await relay.setMode('pass');
    }

    // Back: nothing was cached from the failures, so the first try authenticates (the registry's
    // own 404 BLOB_UNKNOWN for a repository without the blob, where a refusal would be 401).
    for (const i of faults.keys()) {
      const res = await recorded(`${base}/team/fresh-${i}/blobs/${sha256(blob)}`);
      expect([i, res.status, ociCodeOf(res)]).toEqual([i, 404, 'BLOB_UNKNOWN']);
    }
    console.log(`token server: ${faults.length} faults injected, each a clear error; cached token used throughout; recovered; ${ts.tokens.length} tokens issued`);
  });
});

describe('SIGTERM while transfers run', () => {
  let term: ScriptedUpstream;
  const prefix = '/v2/namespaces/default/connectors/term';
  beforeAll(async () => {
    term = await startScriptedUpstream((req: IncomingMessage, res: ServerResponse) => {
      if (req.method === 'PATCH') {
        req.resume();
        req.on('end', () => res.writeHead(202, { range: '0-0', 'content-length': '0' }).end());
        return;
      }
      req.resume();
      const endless = req.url!.includes('/endless/');
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...(endless ? {} : { 'content-length': String(2 * MiB) }) });
      let n = 0;
      const timer = setInterval(() => {
        res.write(Buffer.alloc(256 * 1024, 5));
        if (!endless && ++n === 8) {
          clearInterval(timer);
          res.end();
        }
      }, 150);
      res.on('close', () => clearInterval(timer));
    });
  });
  afterAll(async () => term?.stop());

  async function* slowBody(): AsyncGenerator<Buffer> {
    for (let i = 0; i < 10; i++) {
      yield Buffer.alloc(128 * 1024, 6);
      await sleep(100);
    }
  }

  /** Starts a download and an upload (about 1.2 s each), sends SIGTERM once both are under way. */
  async function transfersThenTerm(px: ProxyProcess, agent: Agent, headers: Record<string, string>) {
    const seenBefore = term.seen.length;
    const settled = { download: false, upload: false };
    const download = request(`${px.url}${prefix}/app/blobs/${ANY_DIGEST}`, { dispatcher: agent, headers })
      .then(async (r) => ({
        status: r.statusCode,
        bytes: (await r.body.arrayBuffer()).byteLength,
        at: Date.now(),
      }))
      .finally(() => (settled.download = true));
    const upload = request(`${px.url}${prefix}/app/blobs/uploads/u-1`, {
      method: 'PATCH',
      dispatcher: agent,
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: Readable.from(slowBody()),
    })
      .then(async (r) => {
        await r.body.dump();
        return { status: r.statusCode, at: Date.now() };
      })
      .finally(() => (settled.upload = true));
    await waitFor('both transfers to reach the upstream', async () => term.seen.length >= seenBefore + 2, 5_000);
    const exit = new Promise<{ code: number | null; at: number }>((r) => px.child.once('exit', (code) => r({ code, at: Date.now() })));
    const termAt = Date.now();
    px.child.kill('SIGTERM');
    return { download, upload, exit, termAt, settled };
  }

  /** Time the proxy has after SIGTERM to stop accepting connections. */
  const LISTENER_CLOSE_MS = 150;

  /** Tries to connect until refused, the last try `LISTENER_CLOSE_MS` after `from`; the last result. */
  async function refusedAfter(port: number, from: number): Promise<string> {
    for (;;) {
      const result = await tryConnect(port);
      const left = from + LISTENER_CLOSE_MS - Date.now();
      if (result === 'ECONNREFUSED' || left <= 0) return result;
      await sleep(Math.min(25, left));
    }
  }

  /** Resolves with the connection error code (ECONNREFUSED) or 'connected'. */
  function tryConnect(port: number): Promise<string> {
    return new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
  }

  it('refuses new connections, lets in-flight downloads and uploads finish, then exits 0 (clients closing their connections)', async () => {
    const px = await spawnWith([{ name: 'term', address: term.url }], ['--shutdown-grace', '5000']);
    const agent = new Agent();
    stops.push(() => agent.close());
    const run = await transfersThenTerm(px, agent, { connection: 'close' });
    expect(await refusedAfter(portOf(px.url), run.termAt)).toBe('ECONNREFUSED');
    expect(run.settled, 'new connections are refused while the transfers are still running').toEqual({ download: false, upload: false });
    const [download, upload, exit] = await Promise.all([run.download, run.upload, run.exit]);
    expect(download).toMatchObject({ status: 200, bytes: 2 * MiB });
    expect(upload.status).toBe(202);
    expect(exit.code).toBe(0);
    expect(exit.at).toBeGreaterThanOrEqual(Math.max(download.at, upload.at) - 50);
    console.log(
      `SIGTERM (Connection: close clients): transfers done ${Math.max(download.at, upload.at) - run.termAt} ms after the signal, exit 0 after ${exit.at - run.termAt} ms (grace 5000 ms)`,
    );
    expect(exit.at - run.termAt).toBeLessThan(5_000);
  });

  // Node closes idle keep-alive connections once, when close() starts; a kept-alive client
  // connection busy at that moment must still be closed once its response is done (the close in
  // src/server.ts keeps closing connections as they go idle). Otherwise close() waits out the
  // keep-alive timeout, and the process the whole grace period, exiting 1 ("shutdown grace
  // period over") with nothing in flight.
  it('with keep-alive clients (docker, containerd, skopeo): transfers finish and the process exits', async () => {
    const px = await spawnWith([{ name: 'term', address: term.url }], ['--shutdown-grace', '2500']);
    const agent = new Agent();
    stops.push(() => agent.close());
    const run = await transfersThenTerm(px, agent, {});
    expect(await refusedAfter(portOf(px.url), run.termAt)).toBe('ECONNREFUSED');
    expect(run.settled, 'new connections are refused while the transfers are still running').toEqual({ download: false, upload: false });
    const [download, upload, exit] = await Promise.all([run.download, run.upload, run.exit]);
    expect(download).toMatchObject({ status: 200, bytes: 2 * MiB });
    expect(upload.status).toBe(202);
    const done = Math.max(download.at, upload.at);
    console.log(`SIGTERM (keep-alive clients): transfers done ${done - run.termAt} ms after the signal; exit ${exit.code} after ${exit.at - run.termAt} ms (grace 2500 ms)`);
    expect(exit.at - run.termAt).toBeLessThan(3_500);
    expect(exit.code, 'with keep-alive clients, exits 0 as soon as the in-flight transfers are done, not at the end of the grace period').toBe(0);
    expect(exit.at - done, 'with keep-alive clients, exits as soon as the in-flight transfers are done, not at the end of the grace period').toBeLessThan(1_000);
  });

  /** How long after the first signal the process must still be running, finishing a download that never ends. */
  const STILL_DRAINING_MS = 400;
  /** How long the test waits for an exit after the second signal (code -1 when there is none). */
  const SECOND_SIGNAL_EXIT_MS = 3_000;

  it('a second signal exits at once, with a non-zero code', async () => {
    const px = await spawnWith([{ name: 'term', address: term.url }], ['--shutdown-grace', '20000']);
    const res = await request(`${px.url}${prefix}/endless/blobs/${ANY_DIGEST}`);
    expect(res.statusCode).toBe(200);
    res.body.on('error', () => {}).resume();
    const exit = new Promise<{ code: number | null; at: number }>((r) => px.child.once('exit', (code) => r({ code, at: Date.now() })));
    const first = Date.now();
    px.child.kill('SIGTERM');
    // The first signal was taken (the proxy says it is shutting down), and STILL_DRAINING_MS
    // after it the process is still finishing the endless download.
    await waitFor('the proxy to take the first signal', async () => px.output().includes('"msg":"shutting down'), 5_000);
    await sleep(Math.max(0, first + STILL_DRAINING_MS - Date.now()));
    expect(px.child.exitCode, `still running ${STILL_DRAINING_MS} ms after the first signal`).toBeNull();
    const second = Date.now();
    px.child.kill('SIGTERM');
    const { code, at } = await Promise.race([exit, sleep(SECOND_SIGNAL_EXIT_MS).then(() => ({ code: -1, at: Date.now() }))]);
    console.log(`second SIGTERM: exit ${code} after ${at - second} ms`);
    expect(code).not.toBe(0);
    expect(code).not.toBe(-1);
    expect(at - second).toBeLessThan(1_000);
    expect(px.output()).toContain('second signal: exiting now');
  });
});

describe('secrets', () => {
  it('no answer, log line or process output holds the connector password or a token the token server issued', () => {
    const secrets = [USER.password, Buffer.from(`${USER.username}:${USER.password}`).toString('base64'), ...(tokenServer?.secrets() ?? [])];
    expect(tokenServer?.tokens.length ?? 0).toBeGreaterThan(0);
    console.log(`leak scan: ${secrets.length} secrets over ${exposure.size()} characters of answers, logs and output`);
    expect(exposure.find(secrets)).toEqual([]);
  });
});
