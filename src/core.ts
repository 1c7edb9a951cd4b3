/**
 * The proxy's core, without any HTTP: the live connector set (swapped whole), the shared token
 * service, access control, health checks and metrics, and how a new configuration is taken in.
 * The HTTP surface (src/http/) serves requests against it.
 */
import type { Logger } from 'pino';
import { AccessControl } from './access/control.ts';
import type { PullThroughCache } from './cache/cache.ts';
import { type Connector, connectorKey } from './connectors/model.ts';
import { ConnectorSet } from './connectors/set.ts';
import { type HealthOptions, HealthMonitor } from './health/monitor.ts';
import { Metrics } from './observability/metrics.ts';
import { type Connectors, DEFAULT_UPSTREAM_OPTIONS, UpstreamClient, type UpstreamOptions } from './upstream/client.ts';

export type { Connectors } from './upstream/client.ts';
import { TokenService } from './upstream/token.ts';

export interface CoreOptions {
  connectors: readonly Connector[];
  logger: Logger;
  upstream?: Partial<UpstreamOptions>;
  /** Most tokens cached across connectors: default 10000. */
  tokenCacheSize?: number;
  /** Clock for token expiry (ms since epoch); tests move it forward. */
  now?: () => number;
  /** Who may use the connectors: default mode none. */
  access?: AccessControl;
  /** `<ns>/<name>` of the connector for plain /v2/<repo> requests; default: the only connector. */
  defaultConnector?: string;
  /** Health checks (AuthReady and friends); off unless given. */
  health?: HealthOptions;
  /** Prometheus metrics at /metrics: default on (false: none). */
  metrics?: boolean;
  /** The pull-through cache (PullThroughCache.open, from --cache-dir): none unless given. */
  cache?: PullThroughCache | undefined;
}

export interface ProxyCore {
  tokens: TokenService;
  access: AccessControl;
  health: HealthMonitor | undefined;
  metrics: Metrics | undefined;
  cache: PullThroughCache | undefined;
  upstreamOptions: UpstreamOptions;
  /** The live connector set. */
  connectors(): Connectors;
  /** Replaces the connector set; requests in flight finish on the old one. */
  setConnectors(connectors: readonly Connector[]): Promise<void>;
  /** Stops health checks and closes every upstream client. */
  close(): Promise<void>;
}

export function createCore(options: CoreOptions): ProxyCore {
  const upstreamOptions = { ...DEFAULT_UPSTREAM_OPTIONS, ...options.upstream };
  const tokens = new TokenService({ max: options.tokenCacheSize ?? 10_000, timeout: upstreamOptions.tokenTimeout, now: options.now });
  const log = options.logger;
  const client = (c: Connector): UpstreamClient => new UpstreamClient(c, upstreamOptions, tokens);
  const warnIgnoredHosts = (set: Connectors): void => {
    for (const entry of set.ignoredHosts) log.warn({ host: entry }, 'spec.params hosts: name already belongs to another connector; ignored');
    for (const c of set.connectors) {
      if (c.tls?.insecureSkipVerify)
        log.warn({ connector: connectorKey(c) }, 'spec.params insecureSkipTLSVerify: upstream certificates are NOT checked for this connector (for labs only)');
    }
  };
  let current: Connectors = new ConnectorSet(options.connectors, client, options.defaultConnector);
  warnIgnoredHosts(current);
  const health = options.health ? new HealthMonitor(options.health, log) : undefined;
  const metrics = options.metrics === false ? undefined : new Metrics();
  if (metrics) {
    metrics.watchTokens(tokens);
    metrics.watchSlots(() => current.clients.values());
    if (options.cache) metrics.watchCache(options.cache);
    if (health) metrics.watchHealth(health, () => current.clients.keys());
  }
  return {
    tokens,
    access: options.access ?? new AccessControl({ mode: 'none' }),
    health,
    metrics,
    cache: options.cache,
    upstreamOptions,
    connectors: () => current,
    async setConnectors(connectors) {
      const previous = current;
      current = new ConnectorSet(connectors, client, options.defaultConnector, previous);
      warnIgnoredHosts(current);
      for (const key of previous.changedIn(current)) tokens.forgetConnector(key);
      // Replaced clients close once the requests that chose them are done.
      void previous.retireReplaced(current);
      void health?.update(current);
      void metrics?.retain(new Set(current.clients.keys()));
    },
    async close() {
      health?.close();
      await current.close();
    },
  };
}
