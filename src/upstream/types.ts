/**
 * The upstream chain's vocabulary: one request to a connector's registry, its response, and the
 * layers that wrap one another around the exchange (as go-containerregistry's round-trippers).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

/**
 * Which of a connector's connection pools a request uses. `bulk`: blob downloads and streamed
 * uploads, which may last as long as their bytes keep moving; `small`: everything else
 * (manifests, tags, HEADs, upload sessions without a body), which must never wait behind them.
 */
export type Traffic = 'bulk' | 'small';

/** One request to a connector's upstream registry: only what the transport needs. */
export interface UpstreamRequest {
  method: string;
  /** Origin-relative path and query, exactly as sent upstream. */
  path: string;
  /** End-to-end request headers as flat name/value pairs (no Host, no client Authorization). */
  headers: string[];
  /** Streamed request body, a small replayable buffer, or null. */
  body: Readable | Buffer | null;
  signal?: AbortSignal | undefined;
  /** Token scopes the request needs, normalised (`repository:team/app:pull,push`); empty for none. */
  scopes: readonly string[];
  traffic: Traffic;
}

export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** One exchange with the upstream, as seen from above a layer. */
export type Send = (req: UpstreamRequest) => Promise<UpstreamResponse>;

/** A layer of the upstream chain: given the exchange below it, the exchange it offers above. */
export type Layer = (next: Send) => Send;

/** Wraps `innermost` in `layers`, the first outermost: compose([a, b], send) is a(b(send)). */
export function compose(layers: readonly Layer[], innermost: Send): Send {
  return layers.reduceRight<Send>((next, layer) => layer(next), innermost);
}

/** A request that may be sent again after a 401: no body, or a body held in memory. */
export function isReplayable(req: UpstreamRequest): boolean {
  return req.body === null || Buffer.isBuffer(req.body);
}

/**
 * Drops a response body nobody will read. undici reports a body destroyed before its end as an
 * 'error' event; without a listener that would be an uncaught exception.
 */
export function discard(body: Readable): void {
  if (body.destroyed) return;
  body.on('error', () => {});
  body.destroy();
}
