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

/** How a request's connector was chosen. */
export type ResolvedBy = 'path' | 'host' | 'default';

export class ConnectorSet {
  readonly clients: ReadonlyMap<string, UpstreamClient>;
  /**
   * The connector that serves plain `/v2/<repo>` requests whose Host names no connector: the
   * configured default, else the only connector, else none.
   */
  readonly defaultClient: UpstreamClient | undefined;
  private readonly byHost: ReadonlyMap<string, UpstreamClient>;

  /** `defaultKey`: `<ns>/<name>` of the default connector; ignored (see defaultMissing) when absent from the set. */
  readonly defaultKey: string | undefined;

  constructor(connectors: readonly Connector[], options: UpstreamOptions, tokens: TokenService, defaultKey?: string) {
    this.defaultKey = defaultKey;
    const clients = new Map<string, UpstreamClient>();
    const byHost = new Map<string, UpstreamClient>();
    for (const c of connectors) {
      const client = new UpstreamClient(c, options, tokens);
      clients.set(connectorKey(c), client);
      for (const h of hostNamesOf(c)) if (!byHost.has(h)) byHost.set(h, client);
    }
    this.clients = clients;
    this.byHost = byHost;
    this.defaultClient = defaultKey !== undefined ? clients.get(defaultKey) : clients.size === 1 ? clients.values().next().value : undefined;
  }

  /** True when a default connector was configured but is not in this set. */
  get defaultMissing(): boolean {
    return this.defaultKey !== undefined && !this.clients.has(this.defaultKey);
  }

  /** The connector a request is for: the path prefix's, else the Host header's, else the default one. */
  resolve(selector: PathSelector | undefined, host?: string): UpstreamClient {
    return this.resolveWithReason(selector, host).client;
  }

  /** As resolve, and how the connector was chosen. */
  resolveWithReason(selector: PathSelector | undefined, host?: string): { client: UpstreamClient; by: ResolvedBy } {
    if (selector) {
      const client = this.clients.get(`${selector.namespace}/${selector.name}`);
      if (!client) {
        throw new RegistryError(404, 'NAME_UNKNOWN', `connector ${selector.namespace}/${selector.name} is not served by this proxy`, selector);
      }
      return { client, by: 'path' };
    }
    if (host !== undefined) {
      const byHost = this.byHost.get(hostOnly(host));
      if (byHost) return { client: byHost, by: 'host' };
    }
    if (!this.defaultClient) {
      throw new RegistryError(
        404,
        'NAME_UNKNOWN',
        this.defaultMissing
          ? `the default connector ${this.defaultKey} is not served by this proxy; use /v2/namespaces/<ns>/connectors/<name>/<repository> or a connector's host name`
          : `no default connector: this proxy serves ${this.clients.size} connectors; use /v2/namespaces/<ns>/connectors/<name>/<repository> or a connector's host name`,
        host === undefined ? undefined : { host: hostOnly(host) },
      );
    }
    return { client: this.defaultClient, by: 'default' };
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
