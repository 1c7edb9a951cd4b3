/**
 * The live connector set: an immutable snapshot of connectors with their upstream clients.
 * A source replaces the snapshot as a whole; requests in flight keep the one they started with.
 */
import { RegistryError } from '../distribution/errors.ts';
import type { PathSelector } from '../distribution/route.ts';
import { UpstreamClient, type UpstreamOptions } from '../upstream/client.ts';
import { credentialsFingerprint, type TokenService } from '../upstream/token.ts';
import { type Connector, connectorKey } from './model.ts';

/**
 * Host names that pick a connector: its proxy Service's names (`c-<name>.<namespace>`, with
 * `.svc` and `.svc.cluster.local`) and any listed in `spec.params hosts`. Lower case, no port.
 */
export function hostNamesOf(c: Connector): string[] {
  const service = `c-${c.name}.${c.namespace}`;
  const extra = (c.params['hosts'] ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  return [service, `${service}.svc`, `${service}.svc.cluster.local`, ...extra];
}

/** The host part of a Host header, lower case, without the port. */
export function hostOnly(host: string | undefined): string {
  if (!host) return '';
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

export class ConnectorSet {
  readonly clients: ReadonlyMap<string, UpstreamClient>;
  /** The connector that serves plain `/v2/<repo>` requests. */
  readonly defaultClient: UpstreamClient | undefined;
  private readonly byHost: ReadonlyMap<string, UpstreamClient>;

  constructor(connectors: readonly Connector[], options: UpstreamOptions, tokens: TokenService) {
    const clients = new Map<string, UpstreamClient>();
    const byHost = new Map<string, UpstreamClient>();
    for (const c of connectors) {
      const client = new UpstreamClient(c, options, tokens);
      clients.set(connectorKey(c), client);
      for (const h of hostNamesOf(c)) if (!byHost.has(h)) byHost.set(h, client);
    }
    this.clients = clients;
    this.byHost = byHost;
    this.defaultClient = connectors[0] ? clients.get(connectorKey(connectors[0])) : undefined;
  }

  /** The connector a request is for: the path prefix's, else the Host header's, else the default one. */
  resolve(selector: PathSelector | undefined, host?: string): UpstreamClient {
    if (!selector && host !== undefined) {
      const byHost = this.byHost.get(hostOnly(host));
      if (byHost) return byHost;
    }
    if (selector) {
      const client = this.clients.get(`${selector.namespace}/${selector.name}`);
      if (!client) {
        throw new RegistryError(404, 'NAME_UNKNOWN', `connector ${selector.namespace}/${selector.name} is not served by this proxy`, selector);
      }
      return client;
    }
    if (!this.defaultClient) throw new RegistryError(404, 'NAME_UNKNOWN', 'no default connector is configured; use a /namespaces/<ns>/connectors/<name>/ path prefix');
    return this.defaultClient;
  }

  /**
   * Connectors of this set whose credentials or upstream differ in `next`, or that `next` drops:
   * their cached tokens must go.
   */
  changedIn(next: ConnectorSet): string[] {
    const changed: string[] = [];
    for (const [key, old] of this.clients) {
      const now = next.clients.get(key)?.connector;
      if (!now || now.upstreamOrigin !== old.connector.upstreamOrigin || credentialsFingerprint(now.credentials) !== credentialsFingerprint(old.connector.credentials)) {
        changed.push(key);
      }
    }
    return changed;
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
  }
}
