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
import type { Connectors } from '../upstream/client.ts';
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
  const chosen = set.resolve(route.selector, ctx.req.headers.host);
  if (!chosen) return unresolved(ctx, route, set, deps.access);
  ctx.hold(chosen.client);
  const decision = await Promise.resolve(deps.access.decide(ctx.credential, chosen.client.connector)).catch(() => {
    throw new RegistryError(503, 'UNAVAILABLE', 'access review failed');
  });
  if (!decision.allowed) {
    // A caller whose token is for other connectors pings GET /v2/ before its path-prefixed requests.
    if (route.endpoint === 'base' && chosen.by === 'default' && decision.error.status === 403) return writeBase(ctx.res, ctx.method);
    throw decision.error;
  }
  await handlerFor(route.endpoint, ctx.method)(ctx, targetOf(ctx.method, route, chosen.client), deps);
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
  if (route.endpoint === 'base') return writeBase(ctx.res, ctx.method);
  throw set.unresolved(route.selector, ctx.req.headers.host);
}
