/**
 * A connector's `spec.params`: the proxy's own settings per connector (`{name, value}` entries),
 * their check at load time and the typed reads the rest of the proxy uses. Pure.
 *
 *   redirects          follow | pass
 *   allowedRealmHosts  token-realm hosts trusted besides the registry's own host and domain
 *   hosts              extra host names that pick the connector
 *   access             static | kubernetes: turns access control on for this connector
 *   cacheRevalidateSeconds  with the pull-through cache: how long a tag's digest is used
 *                      without asking the upstream again (default 0: every time)
 *   mirrorFor          registries this connector is the mirror of (`?ns=` lookups; it wins over
 *                      a connector that merely has that address)
 *   clientCertSecret   a Secret with tls.crt and tls.key: the client certificate (tls.ts)
 *   insecureSkipTLSVerify  true: no upstream certificate check (tls.ts)
 */
import { commaList } from '../util/list.ts';
import { ConfigError } from './documents.ts';
import type { Connector } from './model.ts';

/** Who may use a connector: the process mode (--access) or a connector's own `access`. */
export type AccessMode = 'none' | 'static' | 'kubernetes';
export const ACCESS_MODES: readonly AccessMode[] = ['none', 'static', 'kubernetes'];

export type RedirectPolicy = 'follow' | 'pass';

export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function redirectPolicy(c: Connector): RedirectPolicy {
  return c.params['redirects'] === 'pass' ? 'pass' : 'follow';
}

export function allowedRealmHosts(c: Connector): string[] {
  return commaList(c.params['allowedRealmHosts']).map((h) => h.toLowerCase());
}

/** Host names listed in `hosts`: lower case, no port. */
export function extraHostNames(c: Connector): string[] {
  return commaList(c.params['hosts']).map((h) => h.toLowerCase());
}

/** The access mode a connector asks for itself, if any (`none` is not one: a connector cannot turn access off). */
export function ownAccessMode(c: Connector): 'static' | 'kubernetes' | undefined {
  const own = c.params['access'];
  return own === 'static' || own === 'kubernetes' ? own : undefined;
}

/** Docker Hub's names, as image references and `?ns=` spell them. */
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** A registry host as lookups compare it: lower case, Docker Hub's aliases as `docker.io`. */
export function registryKey(host: string): string {
  const h = host.trim().toLowerCase();
  return DOCKER_HUB.has(h) ? 'docker.io' : h;
}

/** The registries a connector is named for in mirror lookups: its `mirrorFor` list, else its own. */
export function mirrorRegistries(c: Connector): string[] {
  const listed = commaList(c.params['mirrorFor']).map(registryKey);
  return listed.length ? listed : [c.dockerHub ? 'docker.io' : registryKey(new URL(c.upstreamOrigin).host)];
}

/** True when the connector names the registry in `mirrorFor` (the stated winner of a lookup). */
export function isMirrorFor(c: Connector, registry: string): boolean {
  return commaList(c.params['mirrorFor']).map(registryKey).includes(registry);
}

/** The minimum time between two upstream checks of a tag, in ms (0: every time). */
export function revalidateMs(c: Connector): number {
  const s = Number(c.params['cacheRevalidateSeconds'] ?? 0);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 0;
}

/** Checks the parameters; throws ConfigError naming `where[<param>]`. */
export function checkParams(params: Readonly<Record<string, string>>, where: string): void {
  const access = params['access'];
  if (access !== undefined && !(ACCESS_MODES as readonly string[]).includes(access)) {
    throw new ConfigError(`${where}[access]: must be one of ${ACCESS_MODES.join(', ')}, got ${JSON.stringify(access)}`);
  }
  const redirects = params['redirects'];
  if (redirects !== undefined && redirects !== 'follow' && redirects !== 'pass') {
    throw new ConfigError(`${where}[redirects]: must be "follow" or "pass", got ${JSON.stringify(redirects)}`);
  }
  const revalidate = params['cacheRevalidateSeconds'];
  if (revalidate !== undefined && !/^\d{1,9}$/.test(revalidate)) {
    throw new ConfigError(`${where}[cacheRevalidateSeconds]: must be a whole number of seconds, got ${JSON.stringify(revalidate)}`);
  }
  const insecure = params['insecureSkipTLSVerify'];
  if (insecure !== undefined && insecure !== 'true' && insecure !== 'false') {
    throw new ConfigError(`${where}[insecureSkipTLSVerify]: must be "true" or "false", got ${JSON.stringify(insecure)}`);
  }
  const certSecret = params['clientCertSecret'];
  if (certSecret !== undefined && (!DNS_SUBDOMAIN.test(certSecret) || certSecret.length > 253)) {
    throw new ConfigError(`${where}[clientCertSecret]: must be the name of a Secret in the connector's namespace, got ${JSON.stringify(certSecret)}`);
  }
  for (const param of ['allowedRealmHosts', 'hosts', 'mirrorFor'] as const) {
    for (const h of commaList(params[param])) {
      const name = param === 'mirrorFor' ? h.replace(/:\d{1,5}$/, '') : h;
      if (!DNS_SUBDOMAIN.test(name.toLowerCase()) && !/^[0-9.]+$/.test(name)) throw new ConfigError(`${where}[${param}]: ${JSON.stringify(h)} is not a host name`);
    }
  }
}
