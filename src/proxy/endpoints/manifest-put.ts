/**
 * `PUT /v2/<name>/manifests/<reference>`: the body is read into memory first (at most
 * `manifestMaxBytes`), so that an authentication retry can send it again. All PUTs in flight
 * share one budget of held bytes (`--manifest-buffer-bytes`): a PUT that would go past it is
 * 503 with Retry-After, so concurrent pushes, or clients that trickle, cannot grow memory
 * without bound. A body that stops arriving is cut by the request-body watchdog.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../../distribution/errors.ts';
import { isDigest } from '../../distribution/names.ts';
import type { UpstreamResponse } from '../../upstream/types.ts';
import { respond, send } from '../respond.ts';
import type { Target } from '../target.ts';
import type { Handler, HandlerDeps } from './handler.ts';

/** Bytes that many holders take from and give back to a common bound. */
export class ByteBudget {
  private used = 0;
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get inUse(): number {
    return this.used;
  }

  get available(): number {
    return this.max - this.used;
  }

  take(n: number): boolean {
    if (this.used + n > this.max) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used -= n;
  }
}

/** Seconds a client is asked to wait when the manifest budget is spent. */
const BUSY_RETRY_AFTER_S = 1;

/**
 * Reads a manifest body within the per-request bound and the shared budget; `release` gives its
 * bytes back. A declared length is reserved whole before any byte is read (so a PUT that cannot
 * fit is refused unread); a chunked body takes from the budget as it arrives.
 */
export async function readManifest(req: IncomingMessage, max: number, budget: ByteBudget): Promise<{ body: Buffer; release: () => void }> {
  const tooLarge = (): RegistryError => new RegistryError(413, 'MANIFEST_INVALID', `manifest is larger than the proxy's limit of ${max} bytes`, { limit: max });
  const busy = (): RegistryError =>
    new RegistryError(
      503,
      'UNAVAILABLE',
      `the proxy holds its limit of ${budget.max} bytes of manifests being pushed; retry later`,
      { limit: budget.max },
      { 'retry-after': String(BUSY_RETRY_AFTER_S) },
    );
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (declared !== undefined && declared > max) throw tooLarge();
  if (declared !== undefined && !budget.take(declared)) throw busy();
  let held = declared ?? 0;
  const release = (): void => budget.give(held);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      const b = chunk as Buffer;
      if (size + b.length > max) throw tooLarge();
      if (declared === undefined) {
        if (!budget.take(b.length)) throw busy();
        held += b.length;
      }
      size += b.length;
      chunks.push(b);
    }
  } catch (err) {
    release();
    throw err;
  }
  return { body: Buffer.concat(chunks, size), release };
}

export const manifestPut: Handler = async (ctx, t, deps) => {
  const manifest = await readManifest(ctx.req, deps.manifestMaxBytes, deps.manifestBudget);
  ctx.res.once('close', manifest.release);
  const up = await send(ctx, t, manifest.body, deps);
  if (up.statusCode === 201 && deps.cache) await keep(t, up, manifest.body, ctx.req.headers['content-type'], deps);
  respond(ctx, t, up, deps);
};

/** A manifest the upstream accepted goes into the store too, with its tag. */
async function keep(t: Target, up: UpstreamResponse, body: Buffer, mediaType: string | undefined, deps: HandlerDeps): Promise<void> {
  const cache = deps.cache!;
  const named = up.headers['docker-content-digest'];
  const digest = typeof named === 'string' ? named : `sha256:${createHash('sha256').update(body).digest('hex')}`;
  if (!mediaType || !(await cache.store.put(digest, body, mediaType))) return;
  const [key, repository, reference] = [t.client.key, t.repository!, t.route.reference!];
  cache.confirm(key, repository, digest);
  cache.confirmManifest(key, repository, body);
  if (!isDigest(reference)) await cache.setTag(key, repository, reference, { digest, mediaType, checkedAt: Date.now() });
}
