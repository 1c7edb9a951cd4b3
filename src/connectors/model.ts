/** The Connector model: one upstream OCI registry the proxy serves, with its credentials. */
import { createHash } from 'node:crypto';
import type { UpstreamTls } from './tls.ts';

export interface Credentials {
  username: string;
  password: string;
}

export interface Connector {
  namespace: string;
  name: string;
  /** `spec.address` as written. */
  address: string;
  /** Origin the proxy dials: scheme, host and port, no trailing slash (Docker Hub mapped to its API host). */
  upstreamOrigin: string;
  /** Docker Hub puts one-component names under `library/`. */
  dockerHub: boolean;
  /** Absent for anonymous connectors. Never logged. */
  credentials: Credentials | undefined;
  /** `spec.auth.params[name=repository]`: the repository the health check uses. */
  healthRepository: string | undefined;
  /** Every `spec.auth.params[]` and `spec.params[]` entry, by name. */
  params: Readonly<Record<string, string>>;
  /** TLS toward the upstream beyond the defaults (connectors/tls.ts); absent: Node's trust store, no client certificate. */
  tls?: UpstreamTls | undefined;
}

export function connectorKey(c: Pick<Connector, 'namespace' | 'name'>): string {
  return `${c.namespace}/${c.name}`;
}

/** Docker Hub addresses users write, and the API host that serves them. */
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);
export const DOCKER_HUB_API = 'https://registry-1.docker.io';

export function upstreamOriginFor(url: URL): { origin: string; dockerHub: boolean } {
  if (DOCKER_HUB_HOSTS.has(url.hostname)) return { origin: DOCKER_HUB_API, dockerHub: true };
  return { origin: url.origin, dockerHub: false };
}

/** The repository name as the upstream knows it. */
export function upstreamRepository(c: Connector, repository: string): string {
  return c.dockerHub && !repository.includes('/') ? `library/${repository}` : repository;
}

/**
 * An address as it may be quoted in a message: any userinfo (`user:password@`) replaced by
 * `***@`, whether or not the address parses as a URL.
 */
export function redactAddress(address: string): string {
  return address.replace(/^([^/?#]*\/\/)[^/?#]*@/, '$1***@');
}

/** A short hash that tells credentials apart without holding them (cache keys, change checks). */
export function credentialsFingerprint(c: Credentials | undefined): string {
  if (!c) return 'anonymous';
  return createHash('sha256').update(c.username).update('\0').update(c.password).digest('hex').slice(0, 16);
}
