/**
 * One registry API request as the forwarder handles it: it owns the request's abort signal,
 * its log line and metrics (written once, when the client's response closes), the connector
 * client it holds, and the single error path (`fail`), where every error becomes an OCI error.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { type PresentedCredential, presentedCredential } from '../access/credential.ts';
import { RegistryError } from '../distribution/errors.ts';
import type { Route } from '../distribution/route.ts';
import type { Metrics } from '../observability/metrics.ts';
import { watchRequestBody } from './request-body.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import { upstreamFailure } from '../upstream/failures.ts';

/**
 * Bytes read from each client socket up to the end of its previous request: Node has read a
 * request's head (and often its body) before the handler runs, so a request's share is what
 * the socket read since the previous one ended (no pipelining on HTTP/1.1 in practice).
 */
const readUntilPrevious = new WeakMap<Socket, number>();

/**
 * `hit`: from the store; `fill`: from a fill another request started; `miss`: this request
 * started the fill; `stale`: a stored manifest served while the upstream failed; `bypass`:
 * through to the upstream, not stored (a range on a miss, no room, no length, a digest the
 * store cannot verify).
 */
export type CacheResult = 'hit' | 'fill' | 'miss' | 'stale' | 'bypass';

/** How long a connection whose request body is not read stays open after its answer. */
const LINGER_MS = 1_000;

export function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const len = req.headers['content-length'];
  return len !== undefined && len !== '0';
}

/** Writes an OCI error answer; after the head is out, all that is left is to cut the connection. */
export function writeError(res: ServerResponse, err: RegistryError, method: string | undefined): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = err.body();
  res.writeHead(err.status, {
    ...err.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'docker-distribution-api-version': 'registry/2.0',
  });
  res.end(method === 'HEAD' ? undefined : body);
}

export class RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  /** Aborted when the client's response closes before it is complete: the upstream exchange stops. */
  readonly signal: AbortSignal;
  route: Route | undefined;
  client: UpstreamClient | undefined;
  /** Why the request failed, for the log line. */
  failure: string | undefined;
  /** What the pull-through cache did for the request, for the log line and metrics. */
  cache: CacheResult | undefined;
  private readonly abort = new AbortController();
  private readonly started = performance.now();
  readonly socket: Socket;
  private readonly outAtStart: number;
  private presented: PresentedCredential | undefined;
  private metrics: Metrics | undefined;
  private counted = false;

  /** `idleMs`: how long a request body may stop arriving before the request is cut. */
  constructor(req: IncomingMessage, res: ServerResponse, log: Logger, metrics: Metrics | undefined, idleMs: number) {
    this.req = req;
    this.res = res;
    this.method = req.method ?? 'GET';
    this.signal = this.abort.signal;
    this.metrics = metrics;
    // Captured now: Node detaches the socket from the request once the response is done.
    this.socket = req.socket;
    this.outAtStart = this.socket.bytesWritten;
    res.once('close', () => this.closed(log));
    if (hasBody(req)) watchRequestBody(req, idleMs, () => this.bodyStalled(idleMs));
  }

  /** The client stopped sending its body: the upstream exchange stops, the client gets 408 if nothing was sent yet. */
  private bodyStalled(idleMs: number): void {
    this.failure = `request body stalled: no byte for ${idleMs} ms`;
    this.abort.abort();
    if (this.res.headersSent) {
      this.socket.destroy();
      return;
    }
    this.closeUnread();
    writeError(this.res, new RegistryError(408, 'UNSUPPORTED', this.failure), this.method);
  }

  /** The credential the caller presented to the proxy (read once, only when needed). */
  credential = (): PresentedCredential => (this.presented ??= presentedCredential(this.req.rawHeaders));

  /** True once the client is gone or has its answer: nothing more is written. */
  get over(): boolean {
    return this.signal.aborted || this.res.destroyed || this.res.writableEnded;
  }

  /** The request is served by `client` from now on: it holds the client until the response closes. */
  hold(client: UpstreamClient): void {
    this.client = client;
    client.acquire();
    this.metrics?.started(client.key);
    this.counted = this.metrics !== undefined;
  }

  /** The single error path: any error becomes an OCI error answer (or a cut connection once the head is out). */
  fail(err: unknown): void {
    if (this.over) {
      this.failure ??= 'client went away';
      return;
    }
    const e = err instanceof RegistryError ? err : this.client ? upstreamFailure(err, this.client) : new RegistryError(500, 'UNKNOWN', 'internal error');
    this.failure = e.message;
    if (hasBody(this.req) && !this.req.readableEnded) this.closeUnread();
    writeError(this.res, e, this.method);
  }

  /**
   * The rest of the request body is not wanted: the answer asks the client to close, and once
   * it is out the proxy stops reading (a refused 4 MiB manifest is not read to its end only to
   * be dropped) and closes, giving the client a moment to read the answer first.
   */
  closeUnread(): void {
    const socket = this.socket;
    this.res.setHeader('connection', 'close');
    this.res.once('finish', () => {
      socket.pause();
      socket.end();
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    });
  }

  private closed(log: Logger): void {
    const res = this.res;
    if (!res.writableFinished) this.abort.abort();
    const socket = this.socket;
    const readNow = socket.bytesRead;
    const bytesIn = readNow - (readUntilPrevious.get(socket) ?? 0);
    readUntilPrevious.set(socket, readNow);
    const line = {
      method: this.method,
      connector: this.client?.key,
      repository: this.route?.repository,
      endpoint: this.route?.endpoint,
      status: res.writableFinished || res.headersSent ? res.statusCode : 499,
      complete: res.writableFinished,
      bytesIn,
      bytesOut: socket.bytesWritten - this.outAtStart,
      ms: Math.round((performance.now() - this.started) * 10) / 10,
      err: this.failure,
      cache: this.cache,
    };
    if (this.failure !== undefined || !res.writableFinished) log.warn(line, 'request');
    else log.info(line, 'request');
    this.metrics?.finished(line, this.counted);
    this.client?.release();
  }
}
