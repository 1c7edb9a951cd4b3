/**
 * Prometheus metrics (prom-client), served at GET /metrics. Labels are bounded: connector
 * (`<ns>/<name>` of a configured connector, or "none"), endpoint kind, method, status class,
 * condition type and status — never repository names, digests, tokens or credentials.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { PullThroughCache } from '../cache/cache.ts';
import type { HealthMonitor } from '../health/monitor.ts';
import type { TokenEvent, TokenService } from '../upstream/token.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface RequestObservation {
  connector: string | undefined;
  endpoint: string | undefined;
  method: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  /** What the pull-through cache did: hit, fill, miss, stale, bypass. */
  cache?: string | undefined;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'connector' | 'endpoint' | 'method' | 'status_class'>;
  private readonly bytes: Counter<'connector' | 'direction'>;
  private readonly upstreamLatency: Histogram<'connector' | 'endpoint'>;
  private readonly inflight: Gauge<'connector'>;
  private readonly tokens: Counter<'connector' | 'event'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'ocp_' });
    this.requests = new Counter({
      name: 'ocp_requests_total',
      help: 'Requests answered, by connector, endpoint kind, method and status class',
      labelNames: ['connector', 'endpoint', 'method', 'status_class'],
      registers,
    });
    this.bytes = new Counter({
      name: 'ocp_bytes_total',
      help: 'Bytes read from clients (in) and written to them (out), headers included',
      labelNames: ['connector', 'direction'],
      registers,
    });
    this.upstreamLatency = new Histogram({
      name: 'ocp_upstream_response_seconds',
      help: 'Time from sending a request upstream to its response headers, authentication included',
      labelNames: ['connector', 'endpoint'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.inflight = new Gauge({ name: 'ocp_inflight_requests', help: 'Requests being served (transfers in flight)', labelNames: ['connector'], registers });
    this.tokens = new Counter({
      name: 'ocp_token_events_total',
      help: 'Upstream token cache: exchanges with token servers, cache hits, failed exchanges',
      labelNames: ['connector', 'event'],
      registers,
    });
  }

  /** Counts the token service's exchanges, hits and failures per connector. */
  watchTokens(tokens: TokenService): void {
    const names: Record<TokenEvent, string> = { exchanges: 'exchange', hits: 'hit', failures: 'failure' };
    tokens.on('stat', (event, connector) => this.tokens.inc({ connector, event: names[event] }));
  }

  /** Exposes each connector's conditions as `ocp_connector_condition{type,status} 1`. */
  watchHealth(health: HealthMonitor, connectors: () => Iterable<string>): void {
    new Gauge({
      name: 'ocp_connector_condition',
      help: 'Health conditions per connector: 1 for the current status of each condition type',
      labelNames: ['connector', 'type', 'status'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const key of connectors()) {
          for (const c of health.status(key)?.conditions ?? []) {
            for (const status of ['True', 'False', 'Unknown']) this.set({ connector: key, type: c.type, status }, c.status === status ? 1 : 0);
          }
        }
      },
    });
  }

  /** Exposes each connector's admission slots: `ocp_upstream_slots{traffic, state="in_use"|"waiting"|"total"}`. */
  watchSlots(clients: () => Iterable<{ key: string; bulkheads: Readonly<Record<string, { inUse: number; waiting: number; slots: number }>> }>): void {
    new Gauge({
      name: 'ocp_upstream_slots',
      help: 'Admission slots per connector and traffic class (bulk: blob transfers; small: the rest): in use, waiting for one, total',
      labelNames: ['connector', 'traffic', 'state'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of clients()) {
          for (const [traffic, b] of Object.entries(c.bulkheads)) {
            this.set({ connector: c.key, traffic, state: 'in_use' }, b.inUse);
            this.set({ connector: c.key, traffic, state: 'waiting' }, b.waiting);
            this.set({ connector: c.key, traffic, state: 'total' }, b.slots);
          }
        }
      },
    });
  }

  /** The pull-through cache: requests by result, bytes by source, fills, waiters, store size, verification failures, evictions. */
  watchCache(cache: PullThroughCache): void {
    const registers = [this.registry];
    this.cacheRequests = new Counter({
      name: 'ocp_cache_requests_total',
      help: 'Blob and manifest requests the cache answered, by result: hit (store), fill (a fill in progress), miss (started a fill), stale, bypass (not stored)',
      labelNames: ['connector', 'endpoint', 'result'],
      registers,
    });
    this.cacheBytes = new Counter({
      name: 'ocp_cache_bytes_total',
      help: 'Bytes served from the store (hits, fills, stale) and fetched from upstreams by fills',
      labelNames: ['connector', 'source'],
      registers,
    });
    const fills = new Counter<'connector' | 'started'>({
      name: 'ocp_cache_fills_total',
      help: 'Fills started, and fills that could not start (no room, or another process fills the digest)',
      labelNames: ['connector', 'started'],
      registers,
    });
    const failures = new Counter<'connector'>({
      name: 'ocp_cache_verification_failures_total',
      help: 'Fills whose bytes did not match their digest or announced size: never committed',
      labelNames: ['connector'],
      registers,
    });
    const evictions = new Counter({ name: 'ocp_cache_evictions_total', help: 'Objects evicted to stay within --cache-max-bytes', registers });
    const evictedBytes = new Counter({ name: 'ocp_cache_evicted_bytes_total', help: 'Bytes evicted to stay within --cache-max-bytes', registers });
    const gauge = (name: string, help: string, read: () => number): void =>
      void new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('ocp_cache_store_bytes', 'Bytes of objects in the store', () => cache.store.size);
    gauge('ocp_cache_store_objects', 'Objects in the store', () => cache.store.objects);
    gauge('ocp_cache_store_max_bytes', 'The store bound (--cache-max-bytes)', () => cache.store.maxBytes);
    gauge('ocp_cache_fills_in_flight', 'Fills running now', () => cache.fillsInFlight);
    gauge('ocp_cache_waiters', 'Clients reading a fill in progress now', () => cache.waiters);
    const bytes = this.cacheBytes;
    this.cacheCounters.push(this.cacheRequests, this.cacheBytes, fills, failures);
    cache.on('fill', (connector, started) => fills.inc({ connector, started: String(started) }));
    cache.on('verifyFailed', (connector) => failures.inc({ connector }));
    cache.on('evicted', (size) => {
      evictions.inc();
      evictedBytes.inc(size);
    });
    cache.on('upstreamBytes', (connector, n) => {
      if (n > 0) bytes.inc({ connector, source: 'upstream' }, n);
    });
  }

  private cacheRequests: Counter<'connector' | 'endpoint' | 'result'> | undefined;
  /** Cache series labelled by connector: dropped with the connector (retain). */
  private readonly cacheCounters: Counter<string>[] = [];
  private cacheBytes: Counter<'connector' | 'source'> | undefined;

  started(connector: string | undefined): void {
    this.inflight.inc({ connector: connector ?? 'none' });
  }

  finished(o: RequestObservation, wasStarted: boolean): void {
    const connector = o.connector ?? 'none';
    if (wasStarted) this.inflight.dec({ connector });
    const statusClass = o.status === 499 ? 'aborted' : `${Math.floor(o.status / 100)}xx`;
    this.requests.inc({ connector, endpoint: o.endpoint ?? 'none', method: METHODS.has(o.method) ? o.method : 'OTHER', status_class: statusClass });
    if (o.bytesIn > 0) this.bytes.inc({ connector, direction: 'in' }, o.bytesIn);
    if (o.bytesOut > 0) this.bytes.inc({ connector, direction: 'out' }, o.bytesOut);
    if (o.cache) {
      this.cacheRequests?.inc({ connector, endpoint: o.endpoint ?? 'none', result: o.cache });
      if (o.cache !== 'bypass' && o.bytesOut > 0) this.cacheBytes?.inc({ connector, source: 'store' }, o.bytesOut);
    }
  }

  /**
   * Drops the series of connectors that are no longer served, so label cardinality follows
   * the configuration, not its history. An in-flight gauge above zero stays until it drains.
   */
  async retain(connectors: ReadonlySet<string>): Promise<void> {
    const gone = (labels: Record<string, unknown>): boolean => {
      const c = labels['connector'];
      return typeof c === 'string' && c !== 'none' && !connectors.has(c);
    };
    for (const metric of [this.requests, this.bytes, this.tokens, ...this.cacheCounters] as Counter<string>[]) {
      for (const v of (await metric.get()).values) if (gone(v.labels)) metric.remove(v.labels as Record<string, string>);
    }
    for (const v of (await this.inflight.get()).values) if (gone(v.labels) && v.value === 0) this.inflight.remove(v.labels as Record<'connector', string>);
    const seen = new Set<string>();
    for (const v of (await this.upstreamLatency.get()).values) {
      if (!gone(v.labels)) continue;
      const { connector, endpoint } = v.labels as Record<string, string>;
      const key = `${connector} ${endpoint}`;
      if (seen.has(key)) continue;
      seen.add(key);
      this.upstreamLatency.remove({ connector: connector!, endpoint: endpoint! });
    }
  }

  upstreamResponded(connector: string, endpoint: string, seconds: number): void {
    this.upstreamLatency.observe({ connector, endpoint }, seconds);
  }

  /**
   * Every connector's counters as they stand (cumulative), read from the series kept for
   * /metrics: what the status page's charts are made of. Nothing on the request path.
   */
  async countersByConnector(served: Iterable<string> = []): Promise<Map<string, ConnectorCounters>> {
    // Every served connector has counters, traffic or not (a quiet connector charts zeros).
    const out = new Map<string, ConnectorCounters>([...served].map((c) => [c, emptyCounters()]));
    const of = (labels: Record<string, unknown>): ConnectorCounters | undefined => {
      const c = labels['connector'];
      if (typeof c !== 'string' || c === 'none') return undefined;
      const e = out.get(c) ?? emptyCounters();
      out.set(c, e);
      return e;
    };
    for (const v of (await this.requests.get()).values) {
      const e = of(v.labels);
      const k = v.labels['status_class'] as keyof ConnectorCounters['requests'];
      if (e && k in e.requests) e.requests[k] += v.value;
    }
    for (const v of (await this.bytes.get()).values) {
      const e = of(v.labels);
      if (e) e[v.labels['direction'] === 'in' ? 'bytesIn' : 'bytesOut'] += v.value;
    }
    for (const v of (await this.upstreamLatency.get()).values) {
      if (v.metricName !== 'ocp_upstream_response_seconds_bucket') continue;
      const e = of(v.labels);
      const bound = (v.labels as Record<string, unknown>)['le'];
      const le = bound === '+Inf' ? Number.POSITIVE_INFINITY : Number(bound);
      if (e) e.latencyBuckets.set(le, (e.latencyBuckets.get(le) ?? 0) + v.value);
    }
    for (const v of (await this.tokens.get()).values) {
      const e = of(v.labels);
      if (e && v.labels['event'] === 'exchange') e.tokenExchanges += v.value;
      if (e && v.labels['event'] === 'failure') e.tokenFailures += v.value;
    }
    for (const v of (this.cacheRequests ? await this.cacheRequests.get() : { values: [] }).values) {
      const e = of(v.labels);
      if (e && v.labels['result'] === 'hit') e.cacheHits += v.value;
      if (e && (v.labels['result'] === 'miss' || v.labels['result'] === 'fill')) e.cacheMisses += v.value;
    }
    return out;
  }
}

/** One connector's cumulative counters (countersByConnector). */
export interface ConnectorCounters {
  requests: { '2xx': number; '3xx': number; '4xx': number; '5xx': number; aborted: number };
  bytesIn: number;
  bytesOut: number;
  /** Upstream response time histogram: cumulative count by upper bound (seconds), summed over endpoints. */
  latencyBuckets: Map<number, number>;
  tokenExchanges: number;
  tokenFailures: number;
  cacheHits: number;
  /** Misses and reads of a fill in progress: what the upstream served. */
  cacheMisses: number;
}

function emptyCounters(): ConnectorCounters {
  return {
    requests: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, aborted: 0 },
    bytesIn: 0,
    bytesOut: 0,
    latencyBuckets: new Map(),
    tokenExchanges: 0,
    tokenFailures: 0,
    cacheHits: 0,
    cacheMisses: 0,
  };
}
