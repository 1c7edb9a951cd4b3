/**
 * `GET`/`HEAD /v2/<name>/manifests/<reference>` with the pull-through cache (without one:
 * forwarded as it is). Manifests are stored as their exact bytes and media type, by digest.
 *
 * - By digest: from the store once confirmed (confirm.ts); a miss is fetched, verified against
 *   the digest, stored and answered.
 * - By tag: the upstream is asked with a HEAD (with the client's Accept; Docker Hub does not
 *   count HEADs against its rate limit), and the digest it names is answered from the store when
 *   there; within the connector's `cacheRevalidateSeconds` the last answer is used without asking.
 *   When the upstream answers 429 or 5xx or cannot be reached, the tag's last known manifest is
 *   served with `Warning: 110 - "Response is stale"` (--cache-stale-on-error); a refusal of the
 *   connector's credentials never is.
 */
import type { Readable } from 'node:stream';
import type { StoredObject } from '../../cache/store.ts';
import { VERIFIABLE } from '../../cache/store.ts';
import { revalidateMs } from '../../connectors/params.ts';
import { isDigest } from '../../distribution/names.ts';
import { TokenServerError, UpstreamError } from '../../upstream/errors.ts';
import { discard, type UpstreamResponse } from '../../upstream/types.ts';
import type { RequestContext } from '../context.ts';
import { respond, responseHeaders, send, stream } from '../respond.ts';
import type { Target } from '../target.ts';
import { confirmed, forwardConfirming } from './confirm.ts';
import type { Handler, HandlerDeps } from './handler.ts';
import { forwardPlain } from './plain.ts';
import { answerStored } from './stored.ts';

export const STALE_WARNING = '110 - "Response is stale"';

export const manifestGet: Handler = async (ctx, t, deps) => {
  if (!deps.cache) return forwardPlain(ctx, t, deps);
  const reference = t.route.reference!;
  if (isDigest(reference)) return byDigest(ctx, t, deps, reference);
  return byTag(ctx, t, deps, reference);
};

async function byDigest(ctx: RequestContext, t: Target, deps: HandlerDeps, digest: string): Promise<void> {
  if (!VERIFIABLE.has(digest.split(':')[0]!)) return forwardPlain(ctx, t, deps);
  const stored = await deps.cache!.store.lookup(digest);
  if (stored?.mediaType !== undefined) {
    if (!(await confirmed(ctx, t, deps, digest))) return forwardPlain(ctx, t, deps);
    return answerManifest(ctx, t, deps, stored, 'hit');
  }
  if (ctx.method === 'HEAD') return forwardConfirming(ctx, t, deps, digest);
  return fetchManifest(ctx, t, deps, digest);
}

async function byTag(ctx: RequestContext, t: Target, deps: HandlerDeps, tag: string): Promise<void> {
  const cache = deps.cache!;
  const [key, repository] = [t.client.key, t.repository!];
  const known = await cache.tag(key, repository, tag);
  const usable = known && acceptable(ctx.req.headers['accept'], known.mediaType) ? await cache.store.lookup(known.digest) : undefined;
  if (usable && Date.now() - known!.checkedAt < revalidateMs(t.client.connector)) return answerManifest(ctx, t, deps, usable, 'hit');
  let head: UpstreamResponse;
  try {
    head = await send(ctx, t, null, deps, { method: 'HEAD' });
  } catch (err) {
    if (usable && cache.staleOnError && upstreamDown(err)) return answerManifest(ctx, t, deps, usable, 'stale');
    throw err;
  }
  discard(head.body);
  if (usable && cache.staleOnError && (head.statusCode === 429 || head.statusCode >= 500)) return answerManifest(ctx, t, deps, usable, 'stale');
  const digest = head.headers['docker-content-digest'];
  const mediaType = head.headers['content-type'];
  if (head.statusCode !== 200 || typeof digest !== 'string' || typeof mediaType !== 'string' || !VERIFIABLE.has(digest.split(':')[0]!)) {
    return forwardPlain(ctx, t, deps);
  }
  await cache.setTag(key, repository, tag, { digest, mediaType, checkedAt: Date.now() });
  cache.confirm(key, repository, digest);
  const stored = await cache.store.lookup(digest);
  if (stored?.mediaType !== undefined) return answerManifest(ctx, t, deps, stored, 'hit');
  if (ctx.method === 'HEAD') return forwardPlain(ctx, t, deps);
  return fetchManifest(ctx, { ...t, path: t.path.replace(/\/manifests\/[^/?]+/, `/manifests/${digest}`) }, deps, digest);
}

/** Answers a stored manifest, confirming for the repository everything it names. */
async function answerManifest(ctx: RequestContext, t: Target, deps: HandlerDeps, o: StoredObject, result: 'hit' | 'miss' | 'stale'): Promise<void> {
  const cache = deps.cache!;
  cache.confirmManifest(t.client.key, t.repository!, await cache.manifestBytes(o));
  ctx.cache = result;
  answerStored(ctx, o, deps, result === 'stale' ? { warning: STALE_WARNING } : undefined);
}

/** GETs a manifest the store lacks; stores it when its bytes match `digest`, and answers with them. */
async function fetchManifest(ctx: RequestContext, t: Target, deps: HandlerDeps, digest: string): Promise<void> {
  const up = await send(ctx, t, null, deps);
  if (up.statusCode !== 200) return respond(ctx, t, up, deps);
  const { head, complete } = await readUpTo(up.body, deps.manifestMaxBytes);
  const mediaType = up.headers['content-type'];
  const stored = complete && typeof mediaType === 'string' ? await deps.cache!.store.put(digest, head, mediaType) : undefined;
  if (!stored) {
    // Too large, without a type, or not the bytes of the digest: passed on as it came, not kept.
    ctx.cache = 'bypass';
    if (ctx.over) return void up.body.destroy();
    ctx.res.writeHead(200, responseHeaders(ctx, t, up, deps));
    return complete ? void ctx.res.end(head) : stream(ctx, t, up.body, deps, head);
  }
  deps.cache!.confirm(t.client.key, t.repository!, digest);
  return answerManifest(ctx, t, deps, stored, 'miss');
}

/**
 * Reads a body up to `max` bytes: all of it (complete), or the part read when it is longer, the
 * body paused for the rest to follow (listeners, not for-await: leaving that early destroys it).
 */
function readUpTo(body: Readable, max: number): Promise<{ head: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (complete: boolean): void => {
      body.off('data', onData).off('end', onEnd).off('error', reject);
      resolve({ head: Buffer.concat(chunks), complete });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > max) {
        body.pause();
        done(false);
      }
    };
    const onEnd = (): void => done(true);
    body.on('data', onData).once('end', onEnd).once('error', reject);
  });
}

/** True when the client's Accept takes `mediaType` (no Accept takes anything). */
export function acceptable(accept: string | undefined, mediaType: string): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((a) => {
    const type = a.split(';')[0]!.trim().toLowerCase();
    return type === '*/*' || type === mediaType.toLowerCase() || type === 'application/*';
  });
}

/** The upstream is down or slow (serve stale), rather than refusing the connector (never stale). */
function upstreamDown(err: unknown): boolean {
  if (err instanceof TokenServerError) return err.kind !== 'refused';
  return !(err instanceof UpstreamError) || err.name === 'UpstreamUnhealthy' || err.name === 'Saturated';
}
