/**
 * Where a routed request goes: the connector's client and the request as its upstream must see
 * it (repository under its upstream name, Docker Hub's `library/` applied; the mount source of a
 * path-mode cross-repository mount mapped to the same connector's name; the token scopes), and
 * the UpstreamRequest built from it.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { upstreamRepository } from '../connectors/model.ts';
import type { Route } from '../distribution/route.ts';
import { withMountFrom } from '../distribution/route.ts';
import { normalizeScopes, scopesFor } from '../distribution/scope.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import type { Traffic, UpstreamRequest } from '../upstream/types.ts';
import { upstreamRequestHeaders } from './headers.ts';

export interface Target {
  client: UpstreamClient;
  route: Route;
  /** The repository as the upstream knows it. */
  repository: string | undefined;
  /** Origin-relative path and query for the upstream. */
  path: string;
  /** Token scopes the request needs. */
  scopes: readonly string[];
  /** The connector's path prefix (`/namespaces/<ns>/connectors/<name>`) when the path chose it, else ''. */
  prefix: string;
}

const PREFIXED = /^namespaces\/([^/]+)\/connectors\/([^/]+)\/(.+)$/;

/**
 * A mount source as the upstream knows it. In path mode clients name it with the connector
 * prefix: the same connector's prefix is removed; another connector's repository is not on
 * this upstream, so the request becomes a plain upload, as registries treat an unknown source.
 */
function mountSource(route: Route, client: UpstreamClient): string | null | undefined {
  const from = route.mountFrom;
  if (from === undefined) return undefined;
  const m = route.selector ? PREFIXED.exec(from) : null;
  if (m && (m[1] !== client.connector.namespace || m[2] !== client.connector.name)) return null;
  return upstreamRepository(client.connector, m ? m[3]! : from);
}

export function targetOf(method: string, route: Route, client: UpstreamClient): Target {
  const repository = route.repository === undefined ? undefined : upstreamRepository(client.connector, route.repository);
  const from = mountSource(route, client);
  const query = from === undefined || from === route.mountFrom ? route.query : withMountFrom(route, from);
  const path = repository === undefined ? `/v2${route.tail}${query}` : `/v2/${repository}${route.tail}${query}`;
  const selector = route.selector;
  return {
    client,
    route,
    repository,
    path,
    scopes: normalizeScopes(scopesFor(method, route, repository, from ?? undefined)),
    prefix: selector ? `/namespaces/${selector.namespace}/connectors/${selector.name}` : '',
  };
}

/** Blob downloads and streamed uploads use the bulk pool; everything else the small one. */
function trafficOf(method: string, route: Route, body: Readable | Buffer | null): Traffic {
  if (body !== null && !Buffer.isBuffer(body)) return 'bulk';
  return route.endpoint === 'blob' && method === 'GET' ? 'bulk' : 'small';
}

/**
 * The request for the upstream. `as` sends it with another method (a HEAD in place of a GET)
 * and without some of the client's headers, e.g. `range` for a fill that wants the whole blob.
 */
export function upstreamRequest(
  req: IncomingMessage,
  t: Target,
  body: Readable | Buffer | null,
  signal: AbortSignal,
  as?: { method?: string; drop?: readonly string[]; add?: readonly string[] },
): UpstreamRequest {
  const method = as?.method ?? req.method ?? 'GET';
  let headers = upstreamRequestHeaders(req.rawHeaders);
  if (as?.drop?.length) headers = withoutHeaders(headers, as.drop);
  if (as?.add?.length) headers = [...headers, ...as.add];
  return { method, path: t.path, headers, body, signal, scopes: t.scopes, traffic: trafficOf(method, t.route, body) };
}

function withoutHeaders(headers: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!names.includes(headers[i]!.toLowerCase())) out.push(headers[i]!, headers[i + 1]!);
  return out;
}
