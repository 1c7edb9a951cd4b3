/**
 * Authorization kept exact for the shared store: an object is served to a request for connector
 * C and repository R only once C's upstream, with C's own credentials, has said that R holds its
 * digest: an earlier successful GET or HEAD, or a manifest of R naming it, within the cache's
 * confirmation time. Otherwise the upstream is asked with a HEAD first; its refusal is the
 * client's answer (a 401/403 comes back as the connector's refusal; a 404 sends the client's
 * own request upstream, for the registry's own answer).
 */
import { discard } from '../../upstream/types.ts';
import type { RequestContext } from '../context.ts';
import { respond, send } from '../respond.ts';
import type { Target } from '../target.ts';
import type { HandlerDeps } from './handler.ts';

export async function confirmed(ctx: RequestContext, t: Target, deps: HandlerDeps, digest: string): Promise<boolean> {
  const cache = deps.cache!;
  if (cache.confirmed(t.client.key, t.repository!, digest)) return true;
  const head = await send(ctx, t, null, deps, { method: 'HEAD', drop: ['range'] });
  discard(head.body);
  if (head.statusCode !== 200) return false;
  cache.confirm(t.client.key, t.repository!, digest);
  return true;
}

/** Forwards the request as it is and, when the upstream answers 200, takes that as its word. */
export async function forwardConfirming(ctx: RequestContext, t: Target, deps: HandlerDeps, digest: string): Promise<void> {
  const up = await send(ctx, t, null, deps);
  if (up.statusCode === 200) deps.cache!.confirm(t.client.key, t.repository!, digest);
  respond(ctx, t, up, deps);
}
