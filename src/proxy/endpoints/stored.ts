/**
 * Answers from the pull-through cache: a stored object, or a fill as it grows, with `Range`
 * (206 and its Content-Range; 416 outside the blob) and HEAD from the stored size alone. Each
 * keeps the object from eviction while it is read.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Fill } from '../../cache/fill.ts';
import { type ByteRange, contentRange, parseRange } from '../../cache/range.ts';
import { readFill } from '../../cache/reader.ts';
import type { StoredObject } from '../../cache/store.ts';
import { RegistryError } from '../../distribution/errors.ts';
import { writeError, type RequestContext } from '../context.ts';
import { ended, stream } from '../respond.ts';
import { sendFile } from '../send-file.ts';
import type { Target } from '../target.ts';
import type { HandlerDeps } from './handler.ts';

/** What the answer is about: the digest, its size, and its media type (manifests). */
interface Shown {
  digest: string;
  size: number;
  mediaType: string | undefined;
}

function headersFor(o: Shown, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  return {
    'content-type': o.mediaType ?? 'application/octet-stream',
    'docker-content-digest': o.digest,
    etag: `"${o.digest}"`,
    'accept-ranges': 'bytes',
    'docker-distribution-api-version': 'registry/2.0',
    ...extra,
  };
}

/** The range to send (or undefined once a 416 was answered). */
function rangeFor(ctx: RequestContext, size: number): { range: ByteRange; partial: boolean } | undefined {
  const asked = parseRange(ctx.req.headers['range'], size);
  if (asked.kind === 'unsatisfiable') {
    writeError(ctx.res, new RegistryError(416, 'BLOB_UNKNOWN', `range outside the blob of ${size} bytes`, undefined, { 'content-range': `bytes */${size}` }), ctx.method);
    return undefined;
  }
  return asked.kind === 'part' ? { range: asked.range, partial: true } : { range: { start: 0, end: size - 1 }, partial: false };
}

/** Answers with `o`'s headers for the request's range, then its bytes from `send` (not for HEAD). */
function answer(ctx: RequestContext, o: Shown, send: (range: ByteRange) => void, extra?: OutgoingHttpHeaders): void {
  if (ctx.over) return;
  if (o.size === 0) {
    ctx.res.writeHead(200, headersFor(o, { 'content-length': 0, ...extra }));
    ctx.res.end();
    return;
  }
  const r = rangeFor(ctx, o.size);
  if (!r) return;
  const length = r.range.end - r.range.start + 1;
  const headers = headersFor(o, { 'content-length': length, ...(r.partial ? { 'content-range': contentRange(r.range, o.size) } : {}), ...extra });
  ctx.res.writeHead(r.partial ? 206 : 200, headers);
  if (ctx.method === 'HEAD') {
    ctx.res.end();
    return;
  }
  send(r.range);
}

/** Answers with a committed object (HEAD: its headers only). */
export function answerStored(ctx: RequestContext, o: StoredObject, deps: HandlerDeps, extra?: OutgoingHttpHeaders): void {
  const release = deps.cache!.store.hold(o.digest);
  ctx.res.once('close', () => release?.());
  const idleMs = deps.clientIdleMs;
  answer(ctx, o, (range) => sendFile(o.path, range, ctx.res, idleMs, (end) => ended(ctx, end, deps, () => `cache: the stored ${o.digest}`)), extra);
}

/**
 * Answers a whole-blob GET from a fill in progress; false for a Range (fetch that upstream
 * instead: a part of a blob that is not verified yet is not served from the cache).
 */
export function answerFill(ctx: RequestContext, t: Target, fill: Fill, deps: HandlerDeps): boolean {
  if (ctx.req.headers['range'] !== undefined && parseRange(ctx.req.headers['range'], fill.size).kind !== 'whole') return false;
  answer(ctx, { digest: fill.digest, size: fill.size, mediaType: undefined }, (range) => stream(ctx, t, readFill(fill, range), deps));
  return true;
}
