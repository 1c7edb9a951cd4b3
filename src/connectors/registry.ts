/**
 * The live connector set: an immutable snapshot of connectors with their upstream clients.
 * A source replaces the snapshot as a whole; requests in flight keep the one they started with.
 */
import { RegistryError } from '../distribution/errors.ts';
import type { PathSelector } from '../distribution/route.ts';
import { UpstreamClient, type UpstreamOptions } from '../upstream/client.ts';
import { credentialsFingerprint, type TokenService } from '../upstream/token.ts';
import { type Connector, connectorKey } from './model.ts';

export class ConnectorSet {
  readonly clients: ReadonlyMap<string, UpstreamClient>;
  /** The connector that serves plain `/v2/<repo>` requests. */
  readonly defaultClient: UpstreamClient | undefined;

  constructor(connectors: readonly Connector[], options: UpstreamOptions, tokens: TokenService) {
    const clients = new Map<string, UpstreamClient>();
    for (const c of connectors) clients.set(connectorKey(c), new UpstreamClient(c, options, tokens));
    this.clients = clients;
    this.defaultClient = connectors[0] ? clients.get(connectorKey(connectors[0])) : undefined;
  }

  /** The connector a request is for: the path prefix's, else the default one. */
  resolve(selector: PathSelector | undefined): UpstreamClient {
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
