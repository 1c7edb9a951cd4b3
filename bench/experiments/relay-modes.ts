/**
 * How much of a Node relay's cost is the way the body is relayed, and how much is Node's sockets:
 * one registry, five minimal relays in front of it, a blob GET (curl) and a manifest GET
 * (wrk -t1 -c32, CPU per request from /proc) through each, alternating, medians of the rounds.
 *
 *   pipe      undici Agent.request, the body piped into the ServerResponse (bench/node-relay.ts)
 *   dispatch  undici Agent.dispatch with a handler that writes each chunk into the response and
 *             pauses the controller on backpressure: no Readable in between
 *   stream    undici Agent.stream, the ServerResponse as the Writable undici writes into
 *   tcp       the bytes piped between two net sockets, no HTTP (bench/node-tcp.ts)
 *   tcp-1m    the same, the upstream socket reading into one 1 MiB buffer (net `onread`), each
 *             read copied out: what larger reads than libuv's 64 KiB would give
 *
 *   scripts/node bench/experiments/relay-modes.ts [rounds=3] [blob MiB=256]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Agent, type Dispatcher, request } from 'undici';
import { freePort, waitFor } from '../../test/helpers/ports.ts';
import { startRegistry } from '../../test/helpers/registry.ts';

const MODES = ['pipe', 'dispatch', 'stream', 'tcp', 'tcp-1m'] as const;
type Mode = (typeof MODES)[number];
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection']);
const MT = 'application/vnd.oci.image.manifest.v1+json';

function forwardable(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

function responseHeaders(h: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in h) if (h[k] !== undefined && !HOP.has(k)) out[k] = h[k]!;
  return out;
}

/** The HTTP relays: one request handler per mode. */
function httpHandler(mode: Mode, agent: Agent, origin: string): (req: IncomingMessage, res: ServerResponse) => void {
  const opts = (req: IncomingMessage): Dispatcher.DispatchOptions => ({ origin, path: req.url!, method: req.method as 'GET', headers: forwardable(req.rawHeaders), reset: false });
  const failed = (res: ServerResponse) => (): void => void (res.headersSent ? res.destroy() : res.writeHead(502).end());
  if (mode === 'pipe') {
    return (req, res) =>
      void agent.request(opts(req)).then((up) => {
        res.writeHead(up.statusCode, responseHeaders(up.headers));
        up.body.on('error', () => res.destroy()).pipe(res);
      }, failed(res));
  }
  if (mode === 'stream') {
    return (req, res) =>
      void agent
        .stream(opts(req), ({ statusCode, headers }) => {
          res.writeHead(statusCode, responseHeaders(headers as Record<string, string>));
          return res as unknown as Writable;
        })
        .catch(failed(res));
  }
  return (req, res) => {
    let ctl: Dispatcher.DispatchController | undefined;
    res.on('drain', () => ctl?.resume());
    res.on('close', () => res.writableFinished || ctl?.abort(new Error('client gone')));
    agent.dispatch(opts(req), {
      onRequestStart: (c) => {
        ctl = c;
      },
      onResponseStart: (_c, status, headers) => void res.writeHead(status, responseHeaders(headers as Record<string, string>)),
      onResponseData: (c, chunk) => void (res.write(chunk) || c.pause()),
      onResponseEnd: () => void res.end(),
      onResponseError: failed(res),
    });
  };
}

/** The TCP relays: each client connection spliced to its own upstream connection. */
function tcpServer(mode: Mode, upstreamPort: number): ReturnType<typeof createTcpServer> {
  return createTcpServer({ noDelay: true }, (c) => {
    const onread =
      mode === 'tcp-1m'
        ? {
            buffer: Buffer.allocUnsafe(1024 * 1024),
            callback: (n: number, buf: Buffer): boolean => {
              if (!c.write(Buffer.from(buf.subarray(0, n)))) {
                u.pause();
                c.once('drain', () => u.resume());
              }
              return true;
            },
          }
        : undefined;
    const u = connect({ port: upstreamPort, host: '127.0.0.1', ...(onread ? { onread } : {}) });
    c.pipe(u);
    if (onread) u.on('end', () => c.end());
    else u.pipe(c);
    c.on('error', () => u.destroy()).on('close', () => u.destroy());
    u.on('error', () => c.destroy()).on('close', () => c.destroy());
  });
}

function serve(mode: Mode, listen: number, upstreamPort: number): void {
  const server = mode.startsWith('tcp')
    ? tcpServer(mode, upstreamPort)
    : createServer(
        { keepAliveTimeout: 75_000, requestTimeout: 0 },
        httpHandler(mode, new Agent({ connections: 128, keepAliveTimeout: 60_000 }), `http://127.0.0.1:${upstreamPort}`),
      );
  server.listen(listen, '127.0.0.1');
}

async function upload(base: string, repo: string, body: Buffer, type = 'application/octet-stream'): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const started = await request(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await started.body.dump();
  const location = new URL(String(started.headers['location']), base);
  location.searchParams.set('digest', digest);
  const put = await request(location.href, { method: 'PUT', body, headers: { 'content-type': type } });
  await put.body.dump();
  if (put.statusCode !== 201) throw new Error(`upload: ${put.statusCode}`);
  return digest;
}

const cpuTicks = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(rounds: number, blobMiB: number): Promise<void> {
  const registry = await startRegistry();
  const children: ChildProcess[] = [];
  try {
    const tile = randomBytes(16 * 1024 * 1024);
    const blob = Buffer.concat(Array.from({ length: blobMiB / 16 }, () => tile));
    const digest = await upload(registry.url, 'x/blob', blob);
    const config = Buffer.from('{}');
    const configDigest = await upload(registry.url, 'x/blob', config);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MT,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: 2 },
      layers: [],
    });
    const put = await request(`${registry.url}/v2/x/blob/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'content-type': MT } });
    await put.body.dump();
    const targets: { name: string; port: number; pid: number }[] = [{ name: 'direct', port: registry.port, pid: registry.process.pid! }];
    for (const mode of MODES) {
      const port = await freePort();
      const child = spawn(process.execPath, ['--max-semi-space-size=1', fileURLToPath(import.meta.url), 'serve', mode, String(port), String(registry.port)], { stdio: 'inherit' });
      children.push(child);
      await waitFor(
        `${mode} on ${port}`,
        async () =>
          await request(`http://127.0.0.1:${port}/v2/`).then(
            (r) => r.body.dump().then(() => true),
            () => false,
          ),
      );
      targets.push({ name: mode, port, pid: child.pid! });
    }
    const rows = new Map<string, { mibs: number[]; rps: number[]; cpu: number[] }>(targets.map((t) => [t.name, { mibs: [], rps: [], cpu: [] }]));
    for (let r = 0; r < rounds; r++) {
      for (const t of targets) {
        const out = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{speed_download} %{size_download}', `http://127.0.0.1:${t.port}/v2/x/blob/blobs/${digest}`], {
          encoding: 'utf8',
        });
        const [speed, size] = out.split(' ').map(Number);
        if (size !== blob.length) throw new Error(`${t.name}: got ${size} bytes`);
        rows.get(t.name)!.mibs.push(speed! / 1048576);
      }
      for (const t of targets) {
        const before = cpuTicks(t.pid);
        const out = execFileSync('wrk', ['-t1', '-c32', '-d5s', '-H', `Accept: ${MT}`, `http://127.0.0.1:${t.port}/v2/x/blob/manifests/v1`], { encoding: 'utf8' });
        const ticks = cpuTicks(t.pid) - before;
        const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
        rows.get(t.name)!.rps.push(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]));
        rows.get(t.name)!.cpu.push((ticks * 10) / requests);
      }
    }
    console.log(`medians of ${rounds} alternating rounds; ${blobMiB} MiB blob GET (curl), manifest GET (wrk -t1 -c32 -d5s); CPU of the relay (or registry) process`);
    console.log('target     blob MiB/s  manifest req/s  CPU ms/request');
    for (const [name, v] of rows)
      console.log(`${name.padEnd(10)} ${median(v.mibs).toFixed(0).padStart(10)}  ${median(v.rps).toFixed(0).padStart(14)}  ${median(v.cpu).toFixed(3).padStart(14)}`);
  } finally {
    for (const c of children) c.kill();
    await registry.stop();
  }
}

if (process.argv[2] === 'serve') serve(process.argv[3] as Mode, Number(process.argv[4]), Number(process.argv[5]));
else await main(Number(process.argv[2] ?? 3), Number(process.argv[3] ?? 256));
