/**
 * Redirects from the upstream (a blob GET answered with 307 to object storage or a CDN).
 * `follow`: the proxy follows them itself, up to 5 hops; a hop back to the registry goes through
 * the layers below again (authentication included), a hop to any other host gets only the
 * headers a storage host needs and never a credential. The client gets the final answer as if
 * the registry had sent it. `pass`: the redirect goes to the client unchanged.
 *
 * This layer sits above authentication, so what a storage host answers never reaches it: a
 * storage host cannot teach the connector a challenge or receive its credentials. A storage
 * host's 401 or 403 is StorageRefused (the client never sees a foreign challenge).
 * undici's own redirect interceptor keeps every header but Authorization and Cookie on another
 * origin and passes storage challenges through; this one allows only STORAGE_HEADERS.
 */
import type { Dispatcher } from 'undici';
import type { RedirectPolicy } from '../connectors/params.ts';
import { StorageRefused, StorageUnreachable } from './errors.ts';
import { discard, type Layer, type UpstreamRequest, type UpstreamResponse } from './types.ts';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_HOPS = 5;
/** What a request to a storage host carries; never Authorization. */
const STORAGE_HEADERS = new Set(['range', 'if-range', 'if-none-match', 'if-modified-since', 'accept', 'user-agent']);

export function redirectLayer(policy: RedirectPolicy, upstreamOrigin: string, dispatcher: Dispatcher): Layer {
  return (next) => {
    if (policy === 'pass') return next;
    return async (req) => {
      let res = await next(req);
      if ((req.method !== 'GET' && req.method !== 'HEAD') || !REDIRECTS.has(res.statusCode)) return res;
      let base = new URL(req.path, upstreamOrigin);
      for (let hop = 0; hop < MAX_HOPS && REDIRECTS.has(res.statusCode); hop++) {
        const target = redirectTarget(res, base);
        if (!target) return res;
        discard(res.body);
        res = target.origin === upstreamOrigin ? await next({ ...req, path: target.pathname + target.search }) : await toStorage(req, target, dispatcher);
        base = target;
      }
      return res;
    };
  };
}

function redirectTarget(res: UpstreamResponse, base: URL): URL | undefined {
  const location = res.headers['location'];
  if (typeof location !== 'string') return undefined;
  try {
    const target = new URL(location, base);
    return target.protocol === 'https:' || target.protocol === 'http:' ? target : undefined;
  } catch {
    return undefined;
  }
}

async function toStorage(req: UpstreamRequest, target: URL, dispatcher: Dispatcher): Promise<UpstreamResponse> {
  const headers: string[] = [];
  for (let i = 0; i < req.headers.length; i += 2) {
    if (STORAGE_HEADERS.has(req.headers[i]!.toLowerCase())) headers.push(req.headers[i]!, req.headers[i + 1]!);
  }
  let res: Awaited<ReturnType<Dispatcher['request']>>;
  try {
    res = await dispatcher.request({ origin: target.origin, path: target.pathname + target.search, method: req.method as 'GET', headers, signal: req.signal });
  } catch (err) {
    if (req.signal?.aborted) throw err;
    throw new StorageUnreachable(target.host, err);
  }
  if (res.statusCode === 401 || res.statusCode === 403) {
    discard(res.body);
    throw new StorageRefused(target.host, res.statusCode);
  }
  delete res.headers['www-authenticate'];
  return { statusCode: res.statusCode, headers: res.headers, body: res.body };
}
