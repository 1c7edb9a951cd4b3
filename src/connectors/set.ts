/**
 * The connector set: an immutable snapshot of connectors with a client each, and the routing
 * table that picks one for a request (path prefix, Host, default). A source replaces the
 * snapshot as a whole; requests in flight keep the one they started with. Which client a
 * connector gets is the caller's (a factory); this file knows nothing of upstreams.
 */
import { RegistryError } from '../distribution/errors.ts';
import type { PathSelector } from '../distribution/route.ts';
import { type Connector, connectorKey, credentialsFingerprint } from './model.ts';
import { extraHostNames, isMirrorFor, mirrorRegistries, registryKey } from './params.ts';

/** The names of a connector's proxy Service: `c-<name>.<namespace>`, with `.svc` and `.svc.cluster.local`. */
function serviceHostNames(c: Connector): string[] {
  const service = `c-${c.name}.${c.namespace}`;
  return [service, `${service}.svc`, `${service}.svc.cluster.local`];
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
export type ResolvedBy = 'path' | 'host' | 'ns' | 'default';

/** Same upstream, credentials and parameters: the same client serves both. */
export function sameConnector(a: Connector, b: Connector): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** What the set needs of a connector's client: which connector it serves, and how it ends. */
export interface ConnectorClient {
  readonly connector: Connector;
  /** Closes once no request holds the client any more. */
  retire(): Promise<void>;
  close(): Promise<void>;
}

export class ConnectorSet<C extends ConnectorClient = ConnectorClient> {
  readonly clients: ReadonlyMap<string, C>;
  /**
   * The connector that serves plain `/v2/<repo>` requests whose Host names no connector: the
   * configured default, else the only connector, else none.
   */
  readonly defaultClient: C | undefined;
  private readonly byHost: ReadonlyMap<string, C>;
  /** Connectors by the registry they serve (`?ns=` lookups), those naming it in `mirrorFor` first. */
  private readonly byRegistry: ReadonlyMap<string, C[]>;
  /** `<connector>: <host>` entries of spec.params hosts that another connector already has. */
  readonly ignoredHosts: readonly string[];

  /** `defaultKey`: `<ns>/<name>` of the default connector; ignored (see defaultMissing) when absent from the set. */
  readonly defaultKey: string | undefined;

  /**
   * `client` makes a connector's client. `previous`: the set this one replaces. Its clients are
   * kept for connectors that did not change (their connection pools, learned challenges and
   * health stay); see retireReplaced.
   */
  constructor(connectors: readonly Connector[], client: (c: Connector) => C, defaultKey?: string, previous?: ConnectorSet<C>) {
    this.defaultKey = defaultKey;
    const clients = new Map<string, C>();
    const byHost = new Map<string, C>();
    const ignored: string[] = [];
    for (const c of connectors) {
      const old = previous?.clients.get(connectorKey(c));
      const made = old && sameConnector(old.connector, c) ? old : client(c);
      clients.set(connectorKey(c), made);
      for (const h of serviceHostNames(c)) byHost.set(h, made);
    }
    // Extra host names never take a name another connector's Service has, nor one an earlier
    // connector listed: a connector cannot capture another's traffic.
    for (const c of connectors) {
      for (const h of extraHostNames(c)) {
        if (byHost.has(h)) {
          if (byHost.get(h)!.connector !== c) ignored.push(`${connectorKey(c)}: ${h}`);
          continue;
        }
        byHost.set(h, clients.get(connectorKey(c))!);
      }
    }
    this.ignoredHosts = ignored;
    this.clients = clients;
    this.byHost = byHost;
    this.byRegistry = registryIndex(clients);
    this.defaultClient = defaultKey !== undefined ? clients.get(defaultKey) : clients.size === 1 ? clients.values().next().value : undefined;
  }

  /** True when a default connector was configured but is not in this set. */
  get defaultMissing(): boolean {
    return this.defaultKey !== undefined && !this.clients.has(this.defaultKey);
  }

  /** Every connector of the set. */
  get connectors(): Connector[] {
    return [...this.clients.values()].map((c) => c.connector);
  }

  /**
   * The connector a request is for (the path prefix's, else the Host header's, else the default
   * one) and how it was chosen; undefined when none applies (see unresolved for why).
   */
  resolve(selector: PathSelector | undefined, host?: string): { client: C; by: ResolvedBy } | undefined {
    if (selector) {
      const client = this.clients.get(`${selector.namespace}/${selector.name}`);
      return client && { client, by: 'path' };
    }
    if (host !== undefined) {
      const byHost = this.byHost.get(hostOnly(host));
      if (byHost) return { client: byHost, by: 'host' };
    }
    return this.defaultClient && { client: this.defaultClient, by: 'default' };
  }

  /**
   * The connectors that serve a registry (containerd's `?ns=<registry host>` on mirror requests):
   * those that name it in `spec.params mirrorFor` when any do, else those whose address it is.
   * `ns` is only a key here: nothing is ever dialled by it.
   */
  forRegistry(ns: string): C[] {
    const all = this.byRegistry.get(registryKey(ns)) ?? [];
    const marked = all.filter((c) => isMirrorFor(c.connector, registryKey(ns)));
    return marked.length ? marked : all;
  }

  /** Why resolve found no connector: the 404 NAME_UNKNOWN the caller gets. */
  unresolved(selector: PathSelector | undefined, host?: string): RegistryError {
    if (selector) return new RegistryError(404, 'NAME_UNKNOWN', `connector ${selector.namespace}/${selector.name} is not served by this proxy`, selector);
    return new RegistryError(
      404,
      'NAME_UNKNOWN',
      this.defaultMissing
        ? `the default connector ${this.defaultKey} is not served by this proxy; use /v2/namespaces/<ns>/connectors/<name>/<repository> or a connector's host name`
        : `no default connector: this proxy serves ${this.clients.size} connectors; use /v2/namespaces/<ns>/connectors/<name>/<repository> or a connector's host name`,
      host === undefined ? undefined : { host: hostOnly(host) },
    );
  }

  /**
   * Connectors of this set whose credentials or upstream differ in `next`, or that `next` drops:
   * their cached tokens must go.
   */
  changedIn(next: ConnectorSet<C>): string[] {
    const changed: string[] = [];
    for (const [key, old] of this.clients) {
      const now = next.clients.get(key)?.connector;
      if (!now || now.upstreamOrigin !== old.connector.upstreamOrigin || credentialsFingerprint(now.credentials) !== credentialsFingerprint(old.connector.credentials)) {
        changed.push(key);
      }
    }
    return changed;
  }

  /** Retires this set's clients that `next` does not reuse (each closes once its requests are done). */
  retireReplaced(next: ConnectorSet<C>): Promise<void> {
    const kept = new Set(next.clients.values());
    return Promise.all([...this.clients.values()].filter((c) => !kept.has(c)).map((c) => c.retire())).then(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
  }
}

function registryIndex<C extends ConnectorClient>(clients: ReadonlyMap<string, C>): Map<string, C[]> {
  const index = new Map<string, C[]>();
  for (const c of clients.values()) {
    const own = c.connector.dockerHub ? 'docker.io' : registryKey(new URL(c.connector.upstreamOrigin).host);
    for (const registry of new Set([own, ...mirrorRegistries(c.connector)])) index.set(registry, [...(index.get(registry) ?? []), c]);
  }
  return index;
}
