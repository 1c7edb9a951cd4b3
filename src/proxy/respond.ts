/**
 * Sending a request upstream and the answer back: status and headers kept (Location and Link
 * rewritten to the proxy's address), the body streamed by relay.ts, and how the transfer ended
 * recorded for the log line.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { discard, type UpstreamResponse } from '../upstream/types.ts';
import { hasBody, type RequestContext } from './context.ts';
import { clientResponseHeaders } from './headers.ts';
import { type RelayEnd, relay } from './relay.ts';
import { type Target, upstreamRequest } from './target.ts';

export interface SendAs {
  method?: string;
  drop?: readonly string[];
  add?: readonly string[];
  signal?: AbortSignal;
}

/** What answering needs beyond the request: where the client reached the proxy, and the client idle bound. */
export interface Responder {
  /** Origin the client used, e.g. `http://127.0.0.1:5000` (honours X-Forwarded-* only when trusted). */
  clientOrigin: (req: IncomingMessage) => string;
  /** ms a client may read nothing of its response before it is cut. */
  clientIdleMs: number;
  upstreamResponded?: (connector: string, endpoint: string, seconds: number) => void;
}

/**
 * Sends the request upstream through the connector's chain; the upstream latency is measured.
 * `as` changes it (another method, headers dropped or added, a signal other than the client's).
 */
export async function send(ctx: RequestContext, t: Target, body: Readable | Buffer | null, r: Responder, as?: SendAs): Promise<UpstreamResponse> {
  const sentAt = performance.now();
  const up = await t.client.send(upstreamRequest(ctx.req, t, body, as?.signal ?? ctx.signal, as));
  r.upstreamResponded?.(t.client.key, t.route.endpoint, (performance.now() - sentAt) / 1000);
  return up;
}

/** The client's response headers for an upstream answer. */
export function responseHeaders(ctx: RequestContext, t: Target, up: UpstreamResponse, r: Responder): OutgoingHttpHeaders {
  const headers = clientResponseHeaders(up.headers, { upstreamOrigin: t.client.connector.upstreamOrigin, clientOrigin: r.clientOrigin(ctx.req), prefix: t.prefix });
  const { req, res } = ctx;
  if (hasBody(req) && !req.complete) {
    // The upstream answered before reading the whole body (an early error, or a registry that
    // ignores it). Nothing will read the rest: close the connection once the answer is out,
    // instead of leaving the client blocked on a kept-alive socket.
    headers['connection'] = 'close';
    res.once('finish', () => {
      if (!req.complete) ctx.socket.destroy();
    });
  }
  return headers;
}

/** Streams an upstream answer to the client as it is. */
export function respond(ctx: RequestContext, t: Target, up: UpstreamResponse, r: Responder): void {
  if (ctx.over) {
    discard(up.body);
    return;
  }
  ctx.res.writeHead(up.statusCode, responseHeaders(ctx, t, up, r));
  stream(ctx, t, up.body, r);
}

/** Relays `body` (after `head`, if given) and records how it ended. */
export function stream(ctx: RequestContext, t: Target, body: Readable, r: Responder, head?: Buffer): void {
  relay(body, ctx.res, r.clientIdleMs, (end) => ended(ctx, end, r, () => `connector ${t.client.key}: upstream ${t.client.host}`), head);
}

/** Records how a body sent to the client ended, for the log line; `source` names where its bytes came from. */
export function ended(ctx: RequestContext, end: RelayEnd, r: Responder, source: () => string): void {
  // The source's own error comes before the client response closes and before our abort, so a
  // source that breaks off is told apart from a client that went away.
  if (end.kind === 'upstream' && !ctx.signal.aborted) {
    ctx.failure ??= `${source()} failed mid-body: ${end.err.code ?? end.err.message}`;
  } else if (end.kind === 'idle') {
    ctx.failure ??= `client read nothing for ${r.clientIdleMs} ms: connection cut`;
  }
}
