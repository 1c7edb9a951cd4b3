/**
 * The forwarder: one registry API request, top to bottom.
 *
 *   1. check      the request line and head: route.ts (endpoint, repository, reference, digest)
 *   2. choose     the connector: path prefix, Host, or the default (Connectors.resolve)
 *   3. authorize  may this caller use it: AccessControl
 *   4. handle     the endpoint's handler (endpoints/index.ts), which sends upstream and answers
 *
 * Any error on the way, thrown or rejected, reaches RequestContext.fail, the one place where it
 * becomes an OCI error answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { type AccessControl, notAuthenticated } from '../access/control.ts';
import type { ResolvedBy } from '../connectors/set.ts';
import type { Connectors, UpstreamClient } from '../upstream/client.ts';
import { checkContentRange } from '../distribution/content-range.ts';
import { RegistryError } from '../distribution/errors.ts';
import { parseRoute, type Route } from '../distribution/route.ts';
import { requestLogger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { RequestContext } from './context.ts';
import { type HandlerDeps, handlerFor, writeBase } from './endpoints/index.ts';
import { targetOf } from './target.ts';

export interface ForwardDeps extends HandlerDeps {
  connectors: () => Connectors;
  access: AccessControl;
  log: Logger;
  metrics?: Metrics | undefined;
  /** True while the server shuts down: answers ask clients to close their connections. */
  closing?: () => boolean;
}

export function createForwarder(deps: ForwardDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const log = requestLogger(deps.log);
  return (req, res) => {
    const ctx = new RequestContext(req, res, log, deps.metrics, deps.clientIdleMs);
    if (deps.closing?.()) res.setHeader('connection', 'close');
    serve(ctx, deps).catch((err: unknown) => ctx.fail(err));
  };
}

async function serve(ctx: RequestContext, deps: ForwardDeps): Promise<void> {
  const route = checkRequest(ctx.req);
  ctx.route = route;
  const set = deps.connectors();
  const chosen = await choose(ctx, route, set, deps.access);
  if (!chosen) return unresolved(ctx, route, set, deps.access);
  ctx.hold(chosen.client);
  const decision = await Promise.resolve(deps.access.decide(ctx.credential, chosen.client.connector)).catch(() => {
    throw new RegistryError(503, 'UNAVAILABLE', 'access review failed');
  });
  if (!decision.allowed) {
    // A caller whose token is for other connectors pings GET /v2/ before its path-prefixed requests.
    if (route.endpoint === 'base' && (chosen.by === 'default' || chosen.by === 'ns') && decision.error.status === 403) return writeBase(ctx.res, ctx.method);
    throw decision.error;
  }
  await handlerFor(route.endpoint, ctx.method)(ctx, targetOf(ctx.method, route, chosen.client), deps);
}

/**
 * The connector: by path prefix, else by Host, else, for a mirror request (`?ns=`), the one that
 * serves that registry among those the caller may use, else the default.
 */
async function choose(ctx: RequestContext, route: Route, set: Connectors, access: AccessControl): Promise<{ client: UpstreamClient; by: ResolvedBy } | undefined> {
  const chosen = set.resolve(route.selector, ctx.req.headers.host);
  if (route.ns === undefined || chosen?.by === 'path' || chosen?.by === 'host') return chosen;
  const candidates = set.forRegistry(route.ns);
  if (candidates.length <= 1) return candidates[0] && { client: candidates[0], by: 'ns' };
  const usable: UpstreamClient[] = [];
  for (const c of candidates) if ((await access.decide(ctx.credential, c.connector)).allowed) usable.push(c);
  if (usable.length === 1) return { client: usable[0]!, by: 'ns' };
  const names = (usable.length ? usable : candidates).map((c) => c.key).join(', ');
  throw new RegistryError(404, 'NAME_UNKNOWN', `several connectors serve ${route.ns} (${names}): mark the mirror with spec.params mirrorFor=${route.ns}`, { ns: route.ns });
}

/** What the request line and head must satisfy before anything else is looked at. */
function checkRequest(req: IncomingMessage): Route {
  if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
    throw new RegistryError(400, 'UNSUPPORTED', 'a Host header is required');
  }
  const route = parseRoute(req.method ?? 'GET', req.url ?? '/');
  if (route.endpoint === 'upload' && req.method === 'PATCH') checkContentRange(req.headers['content-range'], req.headers['content-length']);
  return route;
}

/**
 * No connector applies. Which connectors exist is for callers the proxy knows: others get the
 * same 401 as for a connector that exists. A plain GET /v2/ (several connectors, no default) is
 * answered by the proxy itself: clients ping it before path-prefixed requests.
 */
async function unresolved(ctx: RequestContext, route: Route, set: Connectors, access: AccessControl): Promise<void> {
  if (access.required(set.connectors) && !(await access.authenticated(ctx.credential()))) throw notAuthenticated(ctx.credential());
  // A mirror request for a registry no connector serves: a fast 404, so the runtime falls back to the registry itself.
  if (route.ns !== undefined) throw new RegistryError(404, 'NAME_UNKNOWN', `no connector of this proxy serves ${route.ns}`, { ns: route.ns });
  if (route.endpoint === 'base') return writeBase(ctx.res, ctx.method);
  throw set.unresolved(route.selector, ctx.req.headers.host);
}
