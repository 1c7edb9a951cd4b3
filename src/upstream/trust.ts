/**
 * Where the proxy may send a connector's credentials: the upstream's own host, or a token realm
 * on the same host or the same registrable domain (public suffix list), or a host the connector
 * explicitly allows. Never from https down to http. Pure.
 */
import { getDomain } from 'tldts';

export function registrableDomain(host: string): string {
  return getDomain(host, { allowPrivateDomains: true }) ?? host;
}

export function realmProblem(realm: string, upstreamOrigin: string, allowedHosts: readonly string[]): string | null {
  let r: URL;
  try {
    r = new URL(realm);
  } catch {
    return `token realm ${JSON.stringify(realm.slice(0, 200))} is not a URL`;
  }
  if (r.protocol !== 'https:' && r.protocol !== 'http:') return `token realm ${r.origin} is not http(s)`;
  if (r.username || r.password) return `token realm must not carry credentials`;
  const up = new URL(upstreamOrigin);
  if (up.protocol === 'https:' && r.protocol !== 'https:') return `token realm ${r.host} is plain http while the registry is https`;
  if (allowedHosts.includes(r.hostname)) return null;
  if (r.hostname === up.hostname) return null;
  if (registrableDomain(r.hostname) === registrableDomain(up.hostname) && !/^[0-9.]+$|^\[/.test(up.hostname)) return null;
  return `token realm host ${r.hostname} is not the registry's host or domain (allow it with the connector parameter allowedRealmHosts)`;
}
