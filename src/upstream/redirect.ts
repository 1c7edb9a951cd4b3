/**
 * Redirects from the upstream (a blob GET answered with 307 to object storage or a CDN).
 * `follow`: the proxy follows them itself, up to 5 hops, sending no Authorization to any other
 * host and only the headers a storage host needs; the client gets the final answer as if the
 * registry had sent it. `pass`: the redirect goes to the client unchanged.
 */
import type { Dispatcher } from 'undici';
import { discard, type Send, type UpstreamRequest, type UpstreamResponse } from './types.ts';

export type RedirectPolicy = 'follow' | 'pass';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_HOPS = 5;
/** What a request to a storage host carries; never Authorization. */
const STORAGE_HEADERS = new Set(['range', 'if-range', 'if-none-match', 'if-modified-since', 'accept', 'user-agent']);

export function redirectLayer(next: Send, policy: RedirectPolicy, upstreamOrigin: string, dispatcher: Dispatcher): Send {
  if (policy === 'pass') return next;
  return async (req) => {
    let res = await next(req);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !REDIRECTS.has(res.statusCode)) return res;
    let base = new URL(req.path, upstreamOrigin);
    for (let hop = 0; hop < MAX_HOPS && REDIRECTS.has(res.statusCode); hop++) {
      const location = res.headers['location'];
      if (typeof location !== 'string') return res;
      let target: URL;
      try {
        target = new URL(location, base);
      } catch {
        return res;
      }
      if (target.protocol !== 'https:' && target.protocol !== 'http:') return res;
      discard(res.body);
      if (target.origin === upstreamOrigin) {
        res = await next({ ...req, path: target.pathname + target.search });
      } else {
        res = await toStorage(req, target, dispatcher);
      }
      base = target;
    }
    return res;
  };
}

async function toStorage(req: UpstreamRequest, target: URL, dispatcher: Dispatcher): Promise<UpstreamResponse> {
  const headers: string[] = [];
  for (let i = 0; i < req.headers.length; i += 2) {
    if (STORAGE_HEADERS.has(req.headers[i]!.toLowerCase())) headers.push(req.headers[i]!, req.headers[i + 1]!);
  }
  const res = await dispatcher.request({ origin: target.origin, path: target.pathname + target.search, method: req.method as 'GET', headers, signal: req.signal });
  return { statusCode: res.statusCode, headers: res.headers, body: res.body };
}
