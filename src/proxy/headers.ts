/**
 * Header rules of the forwarding path. Pure functions:
 * - which client headers go upstream (end-to-end ones, minus the client's own credentials);
 * - which upstream headers go back, with Location and Link rewritten to the proxy's address.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1 hop-by-hop headers, plus ones that must not cross the proxy. */
const DROP_REQUEST = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect', // Node answers 100-continue itself; undici does not send Expect
  'authorization', // the client's credentials are for the proxy, never the upstream
  'cookie',
  'forwarded', // the upstream builds absolute URLs from these (and X-Forwarded-*); the proxy rewrites them instead
  'x-real-ip',
]);

const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'set-cookie']);

/** Filters Node's raw header list (name, value, name, value, ...) for the upstream request. */
export function upstreamRequestHeaders(raw: readonly string[]): string[] {
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') {
      listed ??= new Set();
      for (const t of raw[i + 1]!.split(',')) listed.add(t.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (DROP_REQUEST.has(lower) || lower.startsWith('x-forwarded-') || listed?.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

/** Where the client reached the proxy, for rewriting upstream URLs. */
export interface RewriteContext {
  /** The upstream's origin, e.g. `https://registry-1.docker.io`. */
  upstreamOrigin: string;
  /** The origin the client used, e.g. `http://proxy:5000`. */
  clientOrigin: string;
  /** Connector path prefix (`/namespaces/ns/connectors/name`) or ''. */
  prefix: string;
}

function withPrefix(path: string, prefix: string): string {
  if (prefix === '' || !(path.startsWith('/v2/') || path === '/v2')) return path;
  return '/v2' + prefix + path.slice(3);
}

/**
 * Rewrites one URL the upstream handed out. Absolute URLs on the upstream origin become absolute
 * URLs on the client's origin; absolute-path references stay relative; the path and query are
 * kept byte for byte. URLs on other hosts are returned unchanged.
 */
export function rewriteUrl(url: string, ctx: RewriteContext): string {
  if (url.startsWith('/') && !url.startsWith('//')) return withPrefix(url, ctx.prefix);
  // Absolute (scheme://host/...) or protocol-relative (//host/...): resolve against the upstream.
  const protocolRelative = url.startsWith('//');
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(url);
  if (!protocolRelative && !scheme) return url;
  const authorityStart = protocolRelative ? 2 : scheme![0].length;
  let origin: string;
  try {
    origin = new URL(url, ctx.upstreamOrigin).origin;
  } catch {
    return url;
  }
  if (origin !== ctx.upstreamOrigin) return url;
  const authorityEnd = url.slice(authorityStart).search(/[/?#]/);
  let rest = authorityEnd === -1 ? '/' : url.slice(authorityStart + authorityEnd);
  if (!rest.startsWith('/')) rest = '/' + rest;
  return ctx.clientOrigin + withPrefix(rest, ctx.prefix);
}

/** Rewrites each `<url>` of a Link header (RFC 8288), keeping its parameters. */
export function rewriteLink(value: string, ctx: RewriteContext): string {
  return value.replace(/<([^>]*)>/g, (_, url: string) => `<${rewriteUrl(url, ctx)}>`);
}

/** Upstream response headers as the client gets them. */
export function clientResponseHeaders(headers: IncomingHttpHeaders, ctx: RewriteContext): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const listed = headers['connection']?.split(',').map((t) => t.trim().toLowerCase());
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || DROP_RESPONSE.has(name) || listed?.includes(name)) continue;
    if (name === 'location' && typeof value === 'string') out[name] = rewriteUrl(value, ctx);
    else if (name === 'link') out[name] = Array.isArray(value) ? value.map((v) => rewriteLink(v, ctx)) : rewriteLink(value, ctx);
    else out[name] = value;
  }
  return out;
}

/**
 * The origin the client used to reach the proxy, for rewriting upstream URLs: `<scheme>://<Host>`
 * (the scheme the listener speaks), or what a fronting proxy says in X-Forwarded-Proto /
 * X-Forwarded-Host, only when it is trusted (--trust-proxy); otherwise a client could steer
 * Location and Link to any host.
 */
export function clientOrigin(req: IncomingMessage, trustProxy: boolean, scheme: 'http' | 'https' = 'http'): string {
  const first = (v: string | string[] | undefined): string | undefined => (typeof v === 'string' ? v.split(',')[0]!.trim() || undefined : undefined);
  const proto = (trustProxy ? first(req.headers['x-forwarded-proto']) : undefined) ?? scheme;
  const host = (trustProxy ? first(req.headers['x-forwarded-host']) : undefined) ?? req.headers.host ?? 'localhost';
  return `${proto}://${host}`;
}
