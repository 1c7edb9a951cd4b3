/**
 * `GET`/`HEAD /v2/<name>/blobs/<digest>` with the pull-through cache (without one: forwarded as
 * it is). A stored blob is answered from the store, and a blob being filled from the fill as it
 * grows, once the connector's upstream has confirmed that the repository holds it (confirm.ts);
 * a miss starts the one fill of the digest and reads it like everyone after. A `Range` on a
 * miss or during a fill goes upstream as it is, uncached: lazy pulls ask for the end of a blob
 * first and must not wait for the rest, and no part of an unverified fill is served.
 */
import { VERIFIABLE } from '../../cache/store.ts';
import type { Fill } from '../../cache/fill.ts';
import type { UpstreamResponse } from '../../upstream/types.ts';
import type { RequestContext } from '../context.ts';
import { respond, send } from '../respond.ts';
import type { Target } from '../target.ts';
import { confirmed, forwardConfirming } from './confirm.ts';
import type { Handler, HandlerDeps } from './handler.ts';
import { forwardPlain } from './plain.ts';
import { answerFill, answerStored } from './stored.ts';

export const blobGet: Handler = async (ctx, t, deps) => {
  const cache = deps.cache;
  const digest = t.route.reference!;
  if (!cache || !VERIFIABLE.has(digest.split(':')[0]!)) return forwardPlain(ctx, t, deps);
  const stored = await cache.store.lookup(digest);
  if (stored) {
    if (!(await confirmed(ctx, t, deps, digest))) return forwardPlain(ctx, t, deps);
    ctx.cache = 'hit';
    return answerStored(ctx, stored, deps);
  }
  if (ctx.method === 'HEAD') return forwardConfirming(ctx, t, deps, digest);
  const running = cache.fillOf(digest) ?? (await cache.startingFill(digest));
  if (running) return fromFill(ctx, t, deps, running);
  if (ctx.req.headers['range'] !== undefined) {
    ctx.cache = 'bypass';
    return forwardPlain(ctx, t, deps);
  }
  return miss(ctx, t, deps, digest);
};

async function fromFill(ctx: RequestContext, t: Target, deps: HandlerDeps, fill: Fill): Promise<void> {
  if (!(await confirmed(ctx, t, deps, fill.digest))) return forwardPlain(ctx, t, deps);
  ctx.cache = 'fill';
  if (answerFill(ctx, t, fill, deps)) return;
  ctx.cache = 'bypass';
  return forwardPlain(ctx, t, deps);
}

/** Starts the fill with this request's credentials, and reads it; an answer that cannot be stored goes to the client as it is. */
async function miss(ctx: RequestContext, t: Target, deps: HandlerDeps, digest: string): Promise<void> {
  const cache = deps.cache!;
  let passed: UpstreamResponse | undefined;
  const fill = await cache.startFill(digest, t.client.key, {
    request: (signal) => send(ctx, t, null, deps, { signal, drop: ['range'] }),
    resume: (signal) => async (offset) => resumed(ctx, t, deps, signal, offset),
    answer: (up) => (passed = up),
  });
  if (!fill) {
    ctx.cache = passed?.statusCode === 200 ? 'bypass' : undefined;
    return respond(ctx, t, passed!, deps);
  }
  cache.confirm(t.client.key, t.repository!, digest);
  ctx.cache = 'miss';
  answerFill(ctx, t, fill, deps);
}

/** The rest of the blob from `offset`, when the upstream answers the Range with exactly that. */
async function resumed(ctx: RequestContext, t: Target, deps: HandlerDeps, signal: AbortSignal, offset: number): Promise<UpstreamResponse | undefined> {
  const up = await send(ctx, t, null, deps, { signal, drop: ['range'], add: ['range', `bytes=${offset}-`] });
  if (up.statusCode === 206 && String(up.headers['content-range']).startsWith(`bytes ${offset}-`)) return up;
  up.body.destroy();
  return undefined;
}
