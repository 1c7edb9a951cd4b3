import type { Readable } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import type { Route } from '../distribution/route.ts';

/** One request to a connector's upstream registry. */
export interface UpstreamRequest {
  method: string;
  /** Origin-relative path and query, exactly as sent upstream. */
  path: string;
  /** End-to-end request headers as flat name/value pairs (no Host, no client Authorization). */
  headers: string[];
  /** Streamed request body, a small replayable buffer, or null. */
  body: Readable | Buffer | null;
  signal?: AbortSignal | undefined;
  /** The parsed API route: layers derive scopes and policies from it. */
  route: Route;
  /** Repository name as the upstream knows it (Docker Hub's `library/` applied). */
  repository: string | undefined;
  /** Cross-repository mount source, as the upstream knows it. */
  mountFrom: string | undefined;
}

export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** A layer of the upstream client: each wraps the next, like round-trippers. */
export type Send = (req: UpstreamRequest) => Promise<UpstreamResponse>;

/**
 * Drops a response body nobody will read. undici reports a body destroyed before its end as an
 * 'error' event; without a listener that would be an uncaught exception.
 */
export function discard(body: Readable): void {
  if (body.destroyed) return;
  body.on('error', () => {});
  body.destroy();
}
