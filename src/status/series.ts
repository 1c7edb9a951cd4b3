/**
 * The status page's charts: a few minutes of points per connector, made by sampling the
 * counters /metrics keeps anyway (Metrics.countersByConnector) every few seconds and taking
 * differences. Sampling runs only while the page is being read: it starts on the first read and
 * stops after `idleStopMs` without one, so a proxy nobody watches pays nothing.
 */
import type { ConnectorCounters } from '../observability/metrics.ts';

/** One interval of one connector, as rates (per second) and latency quantiles (ms). */
export interface SeriesPoint {
  /** End of the interval, ms since the epoch. */
  t: number;
  rps: { '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  inBps: number;
  outBps: number;
  /** Upstream response time quantiles over the interval; null when nothing was asked upstream. */
  p50Ms: number | null;
  p99Ms: number | null;
  tokenExchangesPerS: number;
  cacheHitsPerS: number;
  cacheMissesPerS: number;
}

export interface SeriesOptions {
  intervalMs?: number;
  /** Points kept per connector: default 120 (10 minutes at 5 s). */
  points?: number;
  idleStopMs?: number;
  now?: () => number;
}

export class StatusSeries {
  readonly intervalMs: number;
  private readonly max: number;
  private readonly idleStopMs: number;
  private readonly now: () => number;
  private readonly byConnector = new Map<string, SeriesPoint[]>();
  private previous: { t: number; counters: Map<string, ConnectorCounters> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastRead = 0;

  private readonly read: () => Promise<Map<string, ConnectorCounters>>;

  constructor(read: () => Promise<Map<string, ConnectorCounters>>, o: SeriesOptions = {}) {
    this.read = read;
    this.intervalMs = o.intervalMs ?? 5_000;
    this.max = o.points ?? 120;
    this.idleStopMs = o.idleStopMs ?? 300_000;
    this.now = o.now ?? Date.now;
  }

  /** The points of a connector, oldest first; starts sampling when it was not running. */
  points(connector: string): readonly SeriesPoint[] {
    this.lastRead = this.now();
    if (!this.timer) this.start();
    return this.byConnector.get(connector) ?? [];
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    void this.sample();
    this.timer = setInterval(() => {
      if (this.now() - this.lastRead > this.idleStopMs) {
        this.close();
        this.previous = undefined;
        this.byConnector.clear();
        return;
      }
      void this.sample();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** One sample: a point per connector against the previous sample. */
  async sample(): Promise<void> {
    const t = this.now();
    const counters = await this.read();
    const before = this.previous;
    this.previous = { t, counters };
    if (!before) return;
    const seconds = Math.max((t - before.t) / 1000, 0.001);
    // Connectors no longer served (their series are gone from the counters) lose their points.
    for (const key of this.byConnector.keys()) if (!counters.has(key)) this.byConnector.delete(key);
    for (const [connector, now] of counters) {
      const points = this.byConnector.get(connector) ?? [];
      points.push(pointBetween(before.counters.get(connector), now, t, seconds));
      if (points.length > this.max) points.splice(0, points.length - this.max);
      this.byConnector.set(connector, points);
    }
  }
}

function pointBetween(a: ConnectorCounters | undefined, b: ConnectorCounters, t: number, seconds: number): SeriesPoint {
  const rate = (x: number, y: number | undefined): number => Math.max(0, x - (y ?? 0)) / seconds;
  const latency = bucketDelta(a?.latencyBuckets, b.latencyBuckets);
  return {
    t,
    rps: {
      '2xx': rate(b.requests['2xx'], a?.requests['2xx']),
      '3xx': rate(b.requests['3xx'], a?.requests['3xx']),
      '4xx': rate(b.requests['4xx'], a?.requests['4xx']),
      '5xx': rate(b.requests['5xx'], a?.requests['5xx']),
    },
    inBps: rate(b.bytesIn, a?.bytesIn),
    outBps: rate(b.bytesOut, a?.bytesOut),
    p50Ms: quantileMs(latency, 0.5),
    p99Ms: quantileMs(latency, 0.99),
    tokenExchangesPerS: rate(b.tokenExchanges, a?.tokenExchanges),
    cacheHitsPerS: rate(b.cacheHits, a?.cacheHits),
    cacheMissesPerS: rate(b.cacheMisses, a?.cacheMisses),
  };
}

/** The histogram of one interval: cumulative counts by upper bound, ascending. */
function bucketDelta(a: ReadonlyMap<number, number> | undefined, b: ReadonlyMap<number, number>): [number, number][] {
  return [...b.entries()].map(([le, n]): [number, number] => [le, Math.max(0, n - (a?.get(le) ?? 0))]).sort((x, y) => x[0] - y[0]);
}

/** A quantile of a cumulative histogram, interpolated within its bucket (as Prometheus' histogram_quantile), in ms. */
export function quantileMs(buckets: readonly [number, number][], q: number): number | null {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Number.POSITIVE_INFINITY) return lower * 1000;
      const within = count - below;
      return (lower + (within > 0 ? ((rank - below) / within) * (le - lower) : 0)) * 1000;
    }
    lower = le;
    below = count;
  }
  return lower * 1000;
}
