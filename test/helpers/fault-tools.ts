/**
 * Tools for fault-injection and hostile-input tests: a raw HTTP/1.1 exchange that parses what
 * comes back (framing included), misbehaving upstreams (silent, trickling, a switchable TCP
 * relay), counts of a process's file descriptors and TCP sockets from /proc, and a collector of
 * everything clients and logs saw, scanned for secrets at the end.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';

// ---------------------------------------------------------------------------------------------
// Raw HTTP

export interface RawAnswer {
  status: number;
  statusLine: string;
  /** Header fields in order, names lower-cased. */
  headers: [string, string][];
  body: Buffer;
  /** The whole answer as received (every byte, including any interim 1xx heads). */
  raw: Buffer;
  /** True when the body ended as its framing says (Content-Length reached, last chunk seen, or HEAD/204/304). */
  complete: boolean;
}

export function header(a: RawAnswer, name: string): string | undefined {
  return a.headers.find(([n]) => n === name)?.[1];
}

/** Parses one HTTP/1.1 answer from `buf`; undefined while incomplete (unless `eof`, when what is there is returned). */
function parseAnswer(buf: Buffer, head: boolean, eof: boolean): RawAnswer | undefined {
  let start = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', start, 'latin1');
    if (end === -1) return undefined;
    const lines = buf.subarray(start, end).toString('latin1').split('\r\n');
    const statusLine = lines[0] ?? '';
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN);
    const headers: [string, string][] = [];
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      if (c > 0) headers.push([l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim()]);
    }
    const bodyStart = end + 4;
    if (status >= 100 && status < 200 && status !== 101) {
      start = bodyStart; // interim answer (100 Continue): the real one follows
      continue;
    }
    const raw = buf;
    const answer = (body: Buffer, complete: boolean): RawAnswer => ({ status, statusLine, headers, body, raw, complete });
    if (head || status === 204 || status === 304) return answer(Buffer.alloc(0), true);
    const te = headers.find(([n]) => n === 'transfer-encoding')?.[1];
    const cl = headers.find(([n]) => n === 'content-length')?.[1];
    if (te !== undefined && /chunked/i.test(te)) {
      const parts: Buffer[] = [];
      let p = bodyStart;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', p, 'latin1');
        if (lineEnd === -1) return eof ? answer(Buffer.concat(parts), false) : undefined;
        const size = parseInt(buf.subarray(p, lineEnd).toString('latin1'), 16);
        if (!Number.isFinite(size)) return eof ? answer(Buffer.concat(parts), false) : undefined;
        if (size === 0) {
          if (buf.indexOf('\r\n\r\n', lineEnd, 'latin1') === -1 && !eof) return undefined;
          return answer(Buffer.concat(parts), true);
        }
        if (buf.length < lineEnd + 2 + size + 2) return eof ? answer(Buffer.concat([...parts, buf.subarray(lineEnd + 2)]), false) : undefined;
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        p = lineEnd + 2 + size + 2;
      }
    }
    if (cl !== undefined) {
      const n = Number(cl);
      if (buf.length - bodyStart >= n) return answer(buf.subarray(bodyStart, bodyStart + n), true);
      return eof ? answer(buf.subarray(bodyStart), false) : undefined;
    }
    // No framing: the body runs until the connection closes.
    return eof ? answer(buf.subarray(bodyStart), true) : undefined;
  }
}

export interface ExchangeOptions {
  /** The request is a HEAD: the answer has no body whatever its headers say. */
  head?: boolean;
  timeoutMs?: number;
  host?: string;
}

/**
 * Sends `request` exactly as given on a new connection and returns the parsed answer, or null
 * when the connection closed (or the time ran out) with no answer at all. The socket is closed
 * once an answer is complete. Never rejects on connection errors (a reset is "no answer").
 */
export function rawExchange(port: number, request: Buffer | string, options: ExchangeOptions = {}): Promise<RawAnswer | null> {
  const { head = false, timeoutMs = 5_000, host = '127.0.0.1' } = options;
  return new Promise((resolve) => {
    const sock = connect(port, host);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (eof: boolean): void => {
      if (done) return;
      const buf = Buffer.concat(chunks);
      const a = parseAnswer(buf, head, eof);
      if (a === undefined && !eof) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(a ?? null);
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      finish(false);
    });
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
    sock.write(request);
  });
}

/** JSON body of an answer, or undefined when it is not JSON. */
export function jsonOf(a: RawAnswer | { body: Buffer }): unknown {
  try {
    return JSON.parse(a.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** True when `value` is an OCI error body: `{"errors":[{"code": string, "message": string, ...}, ...]}`. */
export function isOciErrorBody(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const errors = (value as { errors?: unknown }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return false;
  return errors.every(
    (e: unknown) => typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' && typeof (e as { message?: unknown }).message === 'string',
  );
}

export function ociCodeOf(a: RawAnswer | { body: Buffer }): string | undefined {
  const v = jsonOf(a) as { errors?: { code?: string }[] } | undefined;
  return v?.errors?.[0]?.code;
}

// ---------------------------------------------------------------------------------------------
// Misbehaving upstreams

export interface FaultServer {
  port: number;
  url: string;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections open now. */
  open(): number;
  stop(): Promise<void>;
}

function track(server: Server, host: string, onConn: (s: Socket) => void): Promise<FaultServer> {
  const sockets = new Set<Socket>();
  const state = { accepted: 0 };
  server.on('connection', (s: Socket) => {
    state.accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConn(s);
  });
  return new Promise((resolve) => {
    server.listen(0, host, () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        port,
        url: `http://${host}:${port}`,
        get accepted() {
          return state.accepted;
        },
        open: () => sockets.size,
        stop: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

const PING_ANSWER = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDocker-Distribution-Api-Version: registry/2.0\r\nContent-Length: 2\r\n\r\n{}';

/**
 * Reads request heads from a connection: `GET /v2/` (the proxy's challenge probe) is answered
 * 200 at once when `answerPing`; the first other request hands the connection to `misbehave`.
 */
function onRequests(s: Socket, answerPing: boolean, misbehave: (s: Socket) => void): void {
  let buf = '';
  let taken = false;
  s.on('data', (d: Buffer) => {
    if (taken) return;
    buf += d.toString('latin1');
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const line = buf.slice(0, buf.indexOf('\r\n'));
      buf = buf.slice(end + 4);
      if (answerPing && /^GET \/v2\/ HTTP/.test(line)) {
        s.write(PING_ANSWER);
        continue;
      }
      taken = true;
      misbehave(s);
      return;
    }
  });
}

/** Accepts connections and never answers a request (the challenge probe is answered when `answerPing`). */
export function startSilentServer(answerPing = true, host = '127.0.0.1'): Promise<FaultServer> {
  const server = createServer();
  return track(server, host, (s) => onRequests(s, answerPing, () => {}));
}

/**
 * Answers each request (but the probe, when `answerPing`) with a valid response head sent one
 * byte every `intervalMs`: headers that never complete within any reasonable timeout.
 */
export function startTrickleServer(intervalMs = 1_000, answerPing = true, host = '127.0.0.1'): Promise<FaultServer> {
  const head = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: ' + 'a'.repeat(4096) + '\r\nContent-Length: 2\r\n\r\n{}');
  const server = createServer();
  return track(server, host, (s) =>
    onRequests(s, answerPing, () => {
      let i = 0;
      const timer = setInterval(() => {
        if (i >= head.length || s.destroyed) return clearInterval(timer);
        s.write(head.subarray(i, i + 1));
        i++;
      }, intervalMs);
      s.on('close', () => clearInterval(timer));
    }),
  );
}

export type RelayMode = 'pass' | 'refuse' | 'blackhole' | 'reset';

export interface Relay {
  port: number;
  url: string;
  mode: RelayMode;
  /** Switches behaviour for new connections; 'refuse' closes the listening socket (ECONNREFUSED), others reopen it. */
  setMode(mode: RelayMode): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A TCP relay on a fixed loopback port in front of `target`: `pass` relays bytes, `refuse` is no
 * listener at all, `blackhole` accepts and never answers, `reset` accepts and resets at once.
 */
export async function startRelay(targetPort: number, targetHost = '127.0.0.1'): Promise<Relay> {
  const sockets = new Set<Socket>();
  let mode: RelayMode = 'pass';
  let server: Server | undefined;
  let port = 0;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = createServer((client) => {
        sockets.add(client);
        client.on('close', () => sockets.delete(client));
        client.on('error', () => {});
        if (mode === 'reset') return void client.resetAndDestroy();
        if (mode === 'blackhole') return void client.resume();
        const upstream = connect(targetPort, targetHost);
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      const s = server;
      server = undefined;
      if (!s) return resolve();
      s.close(() => resolve());
    });
  await listen();
  const relay: Relay = {
    port,
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    async setMode(next) {
      mode = next;
      for (const s of sockets) s.destroy();
      if (next === 'refuse') await close();
      else if (!server) await listen();
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await close();
    },
  };
  return relay;
}

// ---------------------------------------------------------------------------------------------
// /proc

/** Open file descriptors of a process. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export interface TcpSocket {
  localPort: number;
  remotePort: number;
  /** Kernel TCP state, e.g. '01' ESTABLISHED, '0A' LISTEN, '06' TIME_WAIT, '08' CLOSE_WAIT. */
  state: string;
}

/** The TCP sockets a process holds, from its fds' inodes matched against /proc/net/tcp{,6}. */
export function tcpSockets(pid: number): TcpSocket[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const out: TcpSocket[] = [];
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]!)) continue;
      out.push({ localPort: parseInt(f[1]!.split(':')[1]!, 16), remotePort: parseInt(f[2]!.split(':')[1]!, 16), state: f[3]! });
    }
  }
  return out;
}

/**
 * Bytes the kernel holds in the send and receive queues of every loopback TCP socket whose local
 * or remote port is one of `ports` (both ends of each connection are in this network namespace).
 */
export function kernelQueued(ports: readonly number[]): number {
  const wanted = new Set(ports);
  let total = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 5) continue;
      const local = parseInt(f[1]!.split(':')[1]!, 16);
      const remote = parseInt(f[2]!.split(':')[1]!, 16);
      if (!wanted.has(local) && !wanted.has(remote)) continue;
      const [tx, rx] = f[4]!.split(':').map((h) => parseInt(h, 16));
      total += (tx ?? 0) + (rx ?? 0);
    }
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Secrets

/** Everything a client or a log reader could see, scanned for secrets at the end of a file. */
export class Exposure {
  private readonly texts: string[] = [];
  private readonly sources: (() => string)[] = [];

  add(text: string | Buffer | undefined): void {
    if (text === undefined) return;
    this.texts.push(typeof text === 'string' ? text : text.toString('latin1'));
  }

  addAnswer(a: { status?: number; headers: Record<string, unknown> | [string, string][]; body?: Buffer | string } | null): void {
    if (!a) return;
    this.add(JSON.stringify(a.headers));
    if (a.body !== undefined) this.add(a.body);
  }

  /** A source read at scan time (a proxy's log lines, a process's output). */
  watch(source: () => string): void {
    this.sources.push(source);
  }

  /** Total characters collected, to show the scan was not empty. */
  size(): number {
    return this.texts.reduce((n, t) => n + t.length, 0) + this.sources.reduce((n, s) => n + s().length, 0);
  }

  /** The secrets (of at least 6 characters) found anywhere; [] is the expected answer. */
  find(secrets: readonly string[]): string[] {
    const all = [...this.texts, ...this.sources.map((s) => s())];
    return [...new Set(secrets.filter((secret) => secret.length >= 6 && all.some((t) => t.includes(secret))))];
  }
}

/** Waits `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
