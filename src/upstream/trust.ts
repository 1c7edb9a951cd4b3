/**
 * Where the proxy may send a connector's credentials: the upstream's own host, or a token realm
 * on the same host or the same registrable domain (public suffix list), or a host the connector
 * explicitly allows. Never from https down to http.
 */

/**
 * The public suffix list (tldts: about 3 MiB in memory), loaded the first time a realm is on
 * another host than its registry: most registries keep theirs on the same host.
 */
let suffixes: Promise<typeof import('tldts')> | undefined;

export async function registrableDomain(host: string): Promise<string> {
  suffixes ??= import('tldts');
  return (await suffixes).getDomain(host, { allowPrivateDomains: true }) ?? host;
}

export async function realmProblem(realm: string, upstreamOrigin: string, allowedHosts: readonly string[]): Promise<string | null> {
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
  if (!/^[0-9.]+$|^\[/.test(up.hostname) && (await registrableDomain(r.hostname)) === (await registrableDomain(up.hostname))) return null;
  return `token realm host ${r.hostname} is not the registry's host or domain (allow it with the connector parameter allowedRealmHosts)`;
}
